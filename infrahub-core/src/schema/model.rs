//! Models: nodes, generics, profiles and templates, with their attributes and relationships.

use serde::{Deserialize, Serialize};

use super::attribute::AttributeSchema;
use super::kinds::{BranchSupport, RelationshipKind, State};
use super::relationship::RelationshipSchema;

/// What a model is: a concrete node, a generic (interface), or one of the two kinds of
/// schema generated from nodes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelCategory {
    /// A concrete kind whose objects can be created.
    #[default]
    Node,
    /// An interface that nodes inherit from.
    Generic,
    /// A generated `Profile<Kind>` holding default values.
    Profile,
    /// A generated `Template<Kind>` holding object templates.
    Template,
}

/// A node, generic, profile or template schema. One struct serves all four categories; the
/// fields that do not apply to a category keep their defaults and are not rendered for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSchema {
    /// Category of the model; set by the parser from the list the model came from.
    #[serde(skip)]
    pub category: ModelCategory,
    /// Identifier of the stored definition; `None` until the schema is persisted.
    #[serde(default)]
    pub id: Option<String>,
    /// Model name: starts with an uppercase letter, letters and digits, 2 to 32 characters.
    pub name: String,
    /// Namespace: an uppercase letter then lowercase letters and digits, 3 to 64 characters.
    pub namespace: String,
    /// Short description (at most 128 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// Human-friendly name; generated from `name` when absent.
    #[serde(default)]
    pub label: Option<String>,
    /// Branch support of the model.
    #[serde(default)]
    pub branch: BranchSupport,
    /// Attribute path used to find a node from a plain string (deprecated in favour of HFIDs).
    #[serde(default)]
    pub default_filter: Option<String>,
    /// Paths whose values form the human-friendly id.
    #[serde(default)]
    pub human_friendly_id: Option<Vec<String>>,
    /// Attribute path or Jinja2 template for the display label.
    #[serde(default)]
    pub display_label: Option<String>,
    /// Attribute paths joined with spaces for the display label (deprecated).
    #[serde(default)]
    pub display_labels: Option<Vec<String>>,
    /// Whether the model gets a menu entry.
    #[serde(default)]
    pub include_in_menu: Option<bool>,
    /// Kind of the menu entry under which this model is placed.
    #[serde(default)]
    pub menu_placement: Option<String>,
    /// Icon name (Material Design Icons).
    #[serde(default)]
    pub icon: Option<String>,
    /// Default ordering paths.
    #[serde(default)]
    pub order_by: Option<Vec<String>>,
    /// Groups of paths whose combined values must be unique.
    #[serde(default)]
    pub uniqueness_constraints: Option<Vec<Vec<String>>>,
    /// Link to documentation.
    #[serde(default)]
    pub documentation: Option<String>,
    /// `absent` removes the model when the schema is loaded.
    #[serde(default)]
    pub state: State,
    /// Attributes, in declaration order.
    #[serde(default)]
    pub attributes: Vec<AttributeSchema>,
    /// Relationships, in declaration order.
    #[serde(default)]
    pub relationships: Vec<RelationshipSchema>,
    /// Generics this model inherits from (nodes, profiles, templates).
    #[serde(default)]
    pub inherit_from: Vec<String>,
    /// Whether a `Profile<Kind>` is generated (nodes and generics).
    #[serde(default = "super::attribute::default_true")]
    pub generate_profile: bool,
    /// Whether a `Template<Kind>` is generated (nodes and generics).
    #[serde(default)]
    pub generate_template: bool,
    /// Hierarchy generic this node belongs to.
    #[serde(default)]
    pub hierarchy: Option<String>,
    /// Kind expected as parent in the hierarchy.
    #[serde(default)]
    pub parent: Option<String>,
    /// Kind expected as children in the hierarchy.
    #[serde(default)]
    pub children: Option<String>,
    /// Whether the generic is the root of a hierarchy.
    #[serde(default)]
    pub hierarchical: bool,
    /// Kinds implementing the generic; computed by processing.
    #[serde(default)]
    pub used_by: Vec<String>,
    /// Namespaces that nodes inheriting this generic must belong to.
    #[serde(default)]
    pub restricted_namespaces: Option<Vec<String>>,
}

/// Fields a node accepts in a schema file.
pub(crate) const NODE_FIELDS: &[&str] = &[
    "id",
    "name",
    "namespace",
    "description",
    "label",
    "branch",
    "default_filter",
    "human_friendly_id",
    "display_label",
    "display_labels",
    "include_in_menu",
    "menu_placement",
    "icon",
    "order_by",
    "uniqueness_constraints",
    "documentation",
    "state",
    "attributes",
    "relationships",
    "inherit_from",
    "generate_profile",
    "generate_template",
    "hierarchy",
    "parent",
    "children",
];

/// Fields a generic accepts in a schema file.
pub(crate) const GENERIC_FIELDS: &[&str] = &[
    "id",
    "name",
    "namespace",
    "description",
    "label",
    "branch",
    "default_filter",
    "human_friendly_id",
    "display_label",
    "display_labels",
    "include_in_menu",
    "menu_placement",
    "icon",
    "order_by",
    "uniqueness_constraints",
    "documentation",
    "state",
    "attributes",
    "relationships",
    "hierarchical",
    "generate_profile",
    "generate_template",
    "used_by",
    "restricted_namespaces",
];

impl ModelSchema {
    /// A new model of `category` with every optional field unset.
    pub fn new(
        category: ModelCategory,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ModelSchema {
            category,
            id: None,
            name: name.into(),
            namespace: namespace.into(),
            description: None,
            label: None,
            branch: BranchSupport::Aware,
            default_filter: None,
            human_friendly_id: None,
            display_label: None,
            display_labels: None,
            include_in_menu: None,
            menu_placement: None,
            icon: None,
            order_by: None,
            uniqueness_constraints: None,
            documentation: None,
            state: State::Present,
            attributes: Vec::new(),
            relationships: Vec::new(),
            inherit_from: Vec::new(),
            generate_profile: true,
            generate_template: false,
            hierarchy: None,
            parent: None,
            children: None,
            hierarchical: false,
            used_by: Vec::new(),
            restricted_namespaces: None,
        }
    }

    /// The kind: namespace followed by name (`InfraDevice`).
    pub fn kind(&self) -> String {
        format!("{}{}", self.namespace, self.name)
    }

    /// Whether this is a concrete node.
    pub fn is_node(&self) -> bool {
        self.category == ModelCategory::Node
    }

    /// Whether this is a generic.
    pub fn is_generic(&self) -> bool {
        self.category == ModelCategory::Generic
    }

    /// The attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&AttributeSchema> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The attribute called `name`, mutable.
    pub fn attribute_mut(&mut self, name: &str) -> Option<&mut AttributeSchema> {
        self.attributes.iter_mut().find(|a| a.name == name)
    }

    /// The relationship called `name`.
    pub fn relationship(&self, name: &str) -> Option<&RelationshipSchema> {
        self.relationships.iter().find(|r| r.name == name)
    }

    /// The relationship called `name`, mutable.
    pub fn relationship_mut(&mut self, name: &str) -> Option<&mut RelationshipSchema> {
        self.relationships.iter_mut().find(|r| r.name == name)
    }

    /// Names of every attribute.
    pub fn attribute_names(&self) -> impl Iterator<Item = &str> {
        self.attributes.iter().map(|a| a.name.as_str())
    }

    /// Names of every relationship.
    pub fn relationship_names(&self) -> impl Iterator<Item = &str> {
        self.relationships.iter().map(|r| r.name.as_str())
    }

    /// Whether an attribute or relationship called `name` exists.
    pub fn has_field(&self, name: &str) -> bool {
        self.attribute(name).is_some() || self.relationship(name).is_some()
    }

    /// Attributes declared `unique: true`.
    pub fn unique_attributes(&self) -> impl Iterator<Item = &AttributeSchema> {
        self.attributes.iter().filter(|a| a.unique)
    }

    /// Relationships of the given kinds.
    pub fn relationships_of_kind<'a>(
        &'a self,
        kinds: &'a [RelationshipKind],
    ) -> impl Iterator<Item = &'a RelationshipSchema> + 'a {
        self.relationships
            .iter()
            .filter(move |r| kinds.contains(&r.kind))
    }

    /// Whether the model has a relationship of kind `Parent`.
    pub fn has_parent_relationship(&self) -> bool {
        self.relationships
            .iter()
            .any(|r| r.kind == RelationshipKind::Parent)
    }

    /// The labels a stored node of this kind carries: its kind, its generics, and `CoreNode`
    /// except for groups and internal kinds.
    pub fn storage_labels(&self) -> Vec<String> {
        let mut labels = vec![self.kind()];
        labels.extend(self.inherit_from.iter().cloned());
        let is_group = self
            .inherit_from
            .iter()
            .any(|g| g == super::constants::GENERIC_GROUP);
        if !matches!(self.namespace.as_str(), "Schema" | "Internal") && !is_group {
            let base = if self.category == ModelCategory::Profile {
                super::constants::CORE_PROFILE
            } else {
                super::constants::CORE_NODE
            };
            if !labels.iter().any(|l| l == base) {
                labels.push(base.to_string());
            }
        }
        labels
    }

    /// Merges a newer definition of the same model into this one, as loading a schema file
    /// over an existing schema does: scalar fields the newer definition carries replace ours,
    /// unset optional fields keep ours, and attributes and relationships are merged by name
    /// (ours that the newer one does not mention are kept; `state: absent` removes).
    pub(crate) fn update_from(&mut self, other: &ModelSchema) {
        self.rename_paths_for_deleted_fields(other);
        macro_rules! take_opt {
            ($($field:ident),*) => { $( if other.$field.is_some() { self.$field = other.$field.clone(); } )* };
        }
        take_opt!(
            id,
            description,
            label,
            default_filter,
            human_friendly_id,
            display_label,
            display_labels,
            include_in_menu,
            menu_placement,
            icon,
            order_by,
            uniqueness_constraints,
            documentation,
            hierarchy,
            parent,
            children,
            restricted_namespaces
        );
        self.name = other.name.clone();
        self.namespace = other.namespace.clone();
        self.branch = other.branch;
        self.state = other.state;
        self.generate_profile = other.generate_profile;
        self.generate_template = other.generate_template;
        self.hierarchical = other.hierarchical;
        if !other.inherit_from.is_empty() {
            self.inherit_from = other.inherit_from.clone();
        }
        merge_by_name(
            &mut self.attributes,
            &other.attributes,
            |a| &a.name,
            |a| a.state,
            AttributeSchema::update_from,
        );
        merge_by_name(
            &mut self.relationships,
            &other.relationships,
            |r| &r.name,
            |r| r.state,
            RelationshipSchema::update_from,
        );
        self.clear_empty_text();
    }

    /// An empty string in an optional text field means "unset".
    pub(crate) fn clear_empty_text(&mut self) {
        for field in [
            &mut self.description,
            &mut self.label,
            &mut self.icon,
            &mut self.menu_placement,
            &mut self.documentation,
            &mut self.default_filter,
        ] {
            if field.as_deref() == Some("") {
                *field = None;
            }
        }
    }

    /// Drops paths to fields that the newer definition removes (`state: absent`) from the
    /// path lists (HFID, display labels, ordering, uniqueness).
    fn rename_paths_for_deleted_fields(&mut self, other: &ModelSchema) {
        let deleted: Vec<&str> = other
            .attributes
            .iter()
            .filter(|a| a.state == State::Absent)
            .map(|a| a.name.as_str())
            .chain(
                other
                    .relationships
                    .iter()
                    .filter(|r| r.state == State::Absent)
                    .map(|r| r.name.as_str()),
            )
            .collect();
        if deleted.is_empty() {
            return;
        }
        let keep = |path: &String| !deleted.contains(&path.split("__").next().unwrap_or_default());
        if let Some(constraints) = &mut self.uniqueness_constraints {
            for group in constraints.iter_mut() {
                group.retain(keep);
            }
            constraints.retain(|g| !g.is_empty());
        }
        for paths in [
            &mut self.human_friendly_id,
            &mut self.display_labels,
            &mut self.order_by,
        ]
        .into_iter()
        .flatten()
        {
            paths.retain(keep);
        }
    }
}

/// Merges `theirs` into `ours` by element name: shared names are updated, new names are
/// appended unless absent, and elements whose newer state is absent are removed.
fn merge_by_name<T: Clone>(
    ours: &mut Vec<T>,
    theirs: &[T],
    name: impl Fn(&T) -> &String,
    state: impl Fn(&T) -> State,
    update: impl Fn(&mut T, &T),
) {
    for element in theirs {
        match ours.iter().position(|o| name(o) == name(element)) {
            Some(index) if state(element) == State::Absent => {
                ours.remove(index);
            }
            Some(index) => update(&mut ours[index], element),
            None if state(element) == State::Absent => {}
            None => ours.push(element.clone()),
        }
    }
}
