//! What a document reads, as authorization sees it: the kinds whose attributes or relationships
//! it selects (on root fields, relationship peers, hierarchy walks, the `source` and `owner` of
//! values and links, through fragments; of a generic, every kind using it too), each of which
//! needs the `view` object permission (ids, display labels and counts alone need none, as
//! upstream decides), and whether it reads the links
//! between roles and permissions, which need `manage_permissions`. Computed from the parsed
//! document once per shape (a compiled plan keeps the answer) or per request otherwise.

use std::collections::BTreeSet;

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use infrahub_core::schema::{
    LINEAGE_OWNER, LINEAGE_SOURCE, ModelSchema, RelationshipKind, SchemaBranch,
};

use super::build::is_exposed;
use super::load::{HIERARCHY_FIELDS, candidates, hierarchy_kind};

/// Deepest nesting of selection sets walked (documents deeper than the depth limit were
/// refused before).
const MAX_DEPTH: usize = 64;

/// What an operation reads, as authorization sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    /// The kinds it reads attributes or relationships of, each once, in the order met.
    pub kinds: Vec<String>,
    /// Whether it reads which permissions a role holds (`permissions` of a role) or which
    /// roles hold a permission (`roles` of a permission), which upstream reserves to
    /// `manage_permissions`.
    pub permission_links: bool,
}

/// What `operation_name`'s operation in `document` reads (see [`Reads`]).
pub(crate) fn reads(
    schema: &SchemaBranch,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Reads {
    let mut walk = Walk {
        schema,
        document,
        reads: Reads::default(),
        seen: BTreeSet::new(),
    };
    if let Some(operation) = super::selected_operation(document, operation_name) {
        walk.roots(&operation.node.selection_set.node, 0);
    }
    walk.reads
}

/// The fields of `set`, through inline fragments and fragment spreads, each with the type
/// condition it is under (if any).
fn fields_of<'d>(
    document: &'d ExecutableDocument,
    set: &'d SelectionSet,
    depth: usize,
) -> Vec<(&'d Field, Option<&'d str>)> {
    fn visit<'d>(
        document: &'d ExecutableDocument,
        set: &'d SelectionSet,
        condition: Option<&'d str>,
        depth: usize,
        out: &mut Vec<(&'d Field, Option<&'d str>)>,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        for item in &set.items {
            let (set, condition) = match &item.node {
                Selection::Field(field) => {
                    out.push((&field.node, condition));
                    continue;
                }
                Selection::InlineFragment(fragment) => (
                    &fragment.node.selection_set.node,
                    fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.as_str())
                        .or(condition),
                ),
                Selection::FragmentSpread(spread) => {
                    let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                    else {
                        continue;
                    };
                    (
                        &fragment.node.selection_set.node,
                        Some(fragment.node.type_condition.node.on.node.as_str()),
                    )
                }
            };
            visit(document, set, condition, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    visit(document, set, None, depth, &mut out);
    out
}

struct Walk<'a> {
    schema: &'a SchemaBranch,
    document: &'a ExecutableDocument,
    reads: Reads,
    seen: BTreeSet<String>,
}

impl Walk<'_> {
    /// Notes a read of attributes or relationships of `kind`; of a generic, that is a read of
    /// every kind using it too (as upstream counts it).
    fn mark(&mut self, kind: &str) {
        if self.seen.insert(kind.to_string()) {
            self.reads.kinds.push(kind.to_string());
            if let Some(model) = self.schema.get(kind) {
                for user in &model.used_by {
                    if self.seen.insert(user.clone()) {
                        self.reads.kinds.push(user.clone());
                    }
                }
            }
        }
    }

    /// Notes a read of relationship `name` of nodes of `models` that links roles and
    /// permissions.
    fn note_permission_link(&mut self, models: &[&ModelSchema], name: &str) {
        let is = |target: &str| {
            models
                .iter()
                .any(|m| m.kind() == target || m.inherit_from.iter().any(|g| g == target))
        };
        if (name == "permissions" && is("CoreAccountRole"))
            || (name == "roles" && is("CoreBasePermission"))
        {
            self.reads.permission_links = true;
        }
    }

    /// The root fields: queries of node kinds, and what node mutations answer of their node
    /// (`<Kind>Create { object { ... } }`).
    fn roots(&mut self, set: &SelectionSet, depth: usize) {
        for (field, _) in fields_of(self.document, set, depth) {
            let name = field.name.node.as_str();
            if self.schema.get(name).is_some_and(is_exposed) {
                self.page(&field.selection_set.node, name, depth + 1);
            } else if let Some((kind, _)) = super::mutation::Operation::of_field(name)
                && self.schema.get(kind).is_some_and(is_exposed)
            {
                for (item, _) in fields_of(self.document, &field.selection_set.node, depth + 1) {
                    if item.name.node == "object" {
                        self.node(&item.selection_set.node, kind, depth + 2);
                    }
                }
            }
        }
    }

    /// The `source` and `owner` of an attribute or of a relationship's properties: nodes of the
    /// lineage generics, read as such.
    fn lineage(&mut self, set: &SelectionSet, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for (field, _) in fields_of(self.document, set, depth) {
            let generic = match field.name.node.as_str() {
                "source" => LINEAGE_SOURCE,
                "owner" => LINEAGE_OWNER,
                _ => continue,
            };
            if self.schema.get(generic).is_some() {
                self.node(&field.selection_set.node, generic, depth + 1);
            }
        }
    }

    /// A page or an edge of nodes of `kind`: its `edges` and `node`.
    fn page(&mut self, set: &SelectionSet, kind: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for (field, _) in fields_of(self.document, set, depth) {
            match field.name.node.as_str() {
                "edges" => self.page(&field.selection_set.node, kind, depth + 1),
                "node" => self.node(&field.selection_set.node, kind, depth + 1),
                "properties" => self.lineage(&field.selection_set.node, depth + 1),
                _ => {}
            }
        }
    }

    /// What a selection reads of nodes of `kind` (a fragment's type condition narrows it).
    fn node(&mut self, set: &SelectionSet, kind: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for (field, condition) in fields_of(self.document, set, depth) {
            let kind = condition
                .filter(|c| self.schema.get(c).is_some())
                .unwrap_or(kind)
                .to_string();
            let models: Vec<&ModelSchema> = candidates(self.schema, &kind);
            let name = field.name.node.as_str();
            if models.iter().any(|m| m.attribute(name).is_some()) {
                self.mark(&kind);
                self.lineage(&field.selection_set.node, depth + 1);
                continue;
            }
            let peer = if HIERARCHY_FIELDS.contains(&name) {
                models.iter().find_map(|m| hierarchy_kind(m))
            } else {
                models.iter().find_map(|m| m.relationship(name)).map(|r| {
                    match (&r.hierarchical, r.kind) {
                        (Some(hierarchy), RelationshipKind::Hierarchy) => hierarchy.clone(),
                        _ => r.peer.clone(),
                    }
                })
            };
            if let Some(peer) = peer {
                self.mark(&kind);
                self.note_permission_link(&models, name);
                self.page(&field.selection_set.node, &peer, depth + 1);
            }
        }
    }
}
