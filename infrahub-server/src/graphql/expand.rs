//! The `@expand(exclude: [String])` directive: on `edges { node @expand }` of a kind's query
//! field it adds `__typename`, `id` and, for every attribute of the kind not excluded,
//! `{ value is_default is_from_profile }`; elsewhere it adds `__typename`. The document is
//! rewritten before execution and the directive removed.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, Selection, SelectionSet,
};
use async_graphql::{Name, Pos, Positioned, Value};
use infrahub_core::schema::SchemaBranch;

const DIRECTIVE: &str = "expand";

/// Rewrites `document` (whose text is `query`) if it uses `@expand`.
pub(crate) fn apply(query: &str, document: &mut ExecutableDocument, schema: &SchemaBranch) {
    if !query.contains("@expand") {
        return;
    }
    let operations: Vec<&mut Positioned<async_graphql::parser::types::OperationDefinition>> =
        match &mut document.operations {
            DocumentOperations::Single(op) => vec![op],
            DocumentOperations::Multiple(ops) => ops.values_mut().collect(),
        };
    for operation in operations {
        for item in &mut operation.node.selection_set.node.items {
            if let Selection::Field(field) = &mut item.node {
                let kind = field.node.name.node.to_string();
                expand_field(&mut field.node, schema, Some(&kind), &[]);
            }
        }
    }
    for fragment in document.fragments.values_mut() {
        expand_set(&mut fragment.node.selection_set.node, schema, None, &[]);
    }
}

fn named(name: &str, children: Vec<Positioned<Selection>>) -> Positioned<Selection> {
    Positioned::new(
        Selection::Field(Positioned::new(
            Field {
                alias: None,
                name: Positioned::new(Name::new(name), Pos::default()),
                arguments: Vec::new(),
                directives: Vec::new(),
                selection_set: Positioned::new(SelectionSet { items: children }, Pos::default()),
            },
            Pos::default(),
        )),
        Pos::default(),
    )
}

/// Takes `@expand` off a directive list; returns its `exclude` list when it was there.
fn take_directive(
    directives: &mut Vec<Positioned<async_graphql::parser::types::Directive>>,
) -> Option<Vec<String>> {
    let index = directives
        .iter()
        .position(|d| d.node.name.node == DIRECTIVE)?;
    let directive = directives.remove(index);
    let mut exclude = Vec::new();
    for (name, value) in &directive.node.arguments {
        if name.node == "exclude"
            && let Some(Value::List(items)) = value.node.clone().into_const()
        {
            exclude.extend(items.iter().filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            }));
        }
    }
    Some(exclude)
}

/// Walks `field`, whose root kind is `kind` when it is a kind's query field; `path` is the
/// names from that root field.
fn expand_field(field: &mut Field, schema: &SchemaBranch, kind: Option<&str>, path: &[&str]) {
    let name = field.name.node.to_string();
    let mut here: Vec<&str> = path.to_vec();
    here.push(&name);
    if let Some(exclude) = take_directive(&mut field.directives) {
        let items = &mut field.selection_set.node.items;
        items.push(named("__typename", Vec::new()));
        let at_node = here.len() == 3 && here[1] == "edges" && here[2] == "node";
        if at_node && let Some(model) = kind.and_then(|k| schema.get(k)) {
            items.push(named("id", Vec::new()));
            for attribute in model
                .attributes
                .iter()
                .filter(|a| !exclude.contains(&a.name))
            {
                let parts = ["value", "is_default", "is_from_profile"]
                    .iter()
                    .map(|p| named(p, Vec::new()))
                    .collect();
                items.push(named(&attribute.name, parts));
            }
        }
    }
    let here_owned: Vec<String> = here.iter().map(|s| (*s).to_string()).collect();
    let here_refs: Vec<&str> = here_owned.iter().map(String::as_str).collect();
    for item in &mut field.selection_set.node.items {
        expand_selection(item, schema, kind, &here_refs);
    }
}

fn expand_set(set: &mut SelectionSet, schema: &SchemaBranch, kind: Option<&str>, path: &[&str]) {
    for item in &mut set.items {
        expand_selection(item, schema, kind, path);
    }
}

fn expand_selection(
    item: &mut Positioned<Selection>,
    schema: &SchemaBranch,
    kind: Option<&str>,
    path: &[&str],
) {
    match &mut item.node {
        Selection::Field(field) => expand_field(&mut field.node, schema, kind, path),
        Selection::InlineFragment(fragment) => {
            if take_directive(&mut fragment.node.directives).is_some() {
                fragment
                    .node
                    .selection_set
                    .node
                    .items
                    .push(named("__typename", Vec::new()));
            }
            expand_set(&mut fragment.node.selection_set.node, schema, kind, path);
        }
        Selection::FragmentSpread(spread) => {
            take_directive(&mut spread.node.directives);
        }
    }
}
