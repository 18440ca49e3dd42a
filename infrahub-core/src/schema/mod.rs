//! The schema engine: parsing schema files, validating them, processing them into a complete
//! per-branch schema (inheritance, hierarchy, generated relationships, profiles and
//! templates), hashing, diffing, and rendering them as the API serves them.
//!
//! # Examples
//!
//! ```
//! use infrahub_core::schema::{ProcessOptions, SchemaFile, core_schema};
//!
//! let file = SchemaFile::from_yaml(
//!     r#"
//! version: "1.0"
//! nodes:
//!   - name: Device
//!     namespace: Infra
//!     human_friendly_id: [name__value]
//!     attributes:
//!       - name: name
//!         kind: Text
//!         unique: true
//! "#,
//!     Some("infra.yml"),
//! )
//! .expect("valid file");
//! let core = core_schema(&ProcessOptions::default()).expect("core schema");
//! let schema = core.with_file(&file, &ProcessOptions::default()).expect("valid schema");
//! let device = schema.get("InfraDevice").expect("loaded");
//! assert!(device.relationship("member_of_groups").is_some());
//! assert!(schema.has("ProfileInfraDevice"));
//! ```

mod api;
mod attribute;
mod branch;
mod constants;
mod core;
mod diff;
mod error;
mod file;
mod hash;
mod kinds;
mod model;
mod path;
mod process;
mod relationship;
mod validate;

pub use api::{attribute_json, model_json, relationship_json};
pub use attribute::{
    AttributeParameters, AttributeSchema, ComputedAttribute, Display, DropdownChoice,
};
pub use branch::SchemaBranch;
pub use constants::{
    CORE_NODE, CORE_PROFILE, GENERIC_GROUP, IP_ADDRESS, IP_AVAILABLE_KINDS, IP_PREFIX,
    LINEAGE_OWNER, LINEAGE_SOURCE, OBJECT_COMPONENT_TEMPLATE, OBJECT_TEMPLATE,
    OBJECT_TEMPLATE_NAME_ATTR, OBJECT_TEMPLATE_RELATIONSHIP, PARENT_CHILD_IDENTIFIER,
    PYTHON_KEYWORDS, RESERVED_FIELD_NAMES, RESERVED_GENERIC_FIELD_NAMES, RESTRICTED_NAMESPACES,
    format_label, is_color, is_field_name, is_kind, is_model_name, is_namespace,
};
pub use core::{CORE_SCHEMA_FILES, core_schema, core_schema_file};
pub use diff::{ElementDiff, SchemaDiff, diff_models};
pub use error::SchemaError;
pub use file::{NodeExtension, SchemaFile};
pub use hash::{SchemaHash, model_hash};
pub use kinds::{
    AllowOverride, AttributeKind, BranchSupport, Cardinality, ComputedAttributeKind, Direction,
    OnDelete, RelationshipKind, State,
};
pub use model::{ModelCategory, ModelSchema};
pub use process::ProcessOptions;
pub(crate) use process::{FROM_POOL_SUFFIX, supports_profiles};
pub use relationship::RelationshipSchema;

/// Checks that no model of `file` uses a restricted namespace (`Core`, `Infrahub`, ...), as
/// upstream requires of every user-supplied schema, and that no relationship of it points to
/// an `Internal` kind (those are never exposed: such a relationship could not be used).
pub fn check_namespaces(file: &SchemaFile) -> Result<(), Vec<SchemaError>> {
    let mut errors = Vec::new();
    let internal_peers = file
        .nodes
        .iter()
        .enumerate()
        .map(|(index, model)| {
            (
                format!("nodes[{index}]"),
                model.name.as_str(),
                &model.relationships,
            )
        })
        .chain(file.generics.iter().enumerate().map(|(index, model)| {
            (
                format!("generics[{index}]"),
                model.name.as_str(),
                &model.relationships,
            )
        }))
        .chain(
            file.extensions
                .iter()
                .enumerate()
                .map(|(index, extension)| {
                    (
                        format!("extensions.nodes[{index}]"),
                        extension.kind.as_str(),
                        &extension.relationships,
                    )
                }),
        );
    for (path, owner, relationships) in internal_peers {
        for (index, relationship) in relationships.iter().enumerate() {
            if relationship.peer.starts_with("Internal") {
                errors.push(SchemaError::new(
                    file.source.as_deref(),
                    format!("{path}.relationships[{index}].peer"),
                    format!(
                        "relationship `{}` of `{owner}` points to `{}`, an internal kind; relationships to internal kinds are not allowed",
                        relationship.name, relationship.peer
                    ),
                ));
            }
        }
    }
    for (list, models) in [("nodes", &file.nodes), ("generics", &file.generics)] {
        for (index, model) in models.iter().enumerate() {
            if RESTRICTED_NAMESPACES.contains(&model.namespace.as_str()) {
                errors.push(SchemaError::new(
                    file.source.as_deref(),
                    format!("{list}[{index}].namespace"),
                    format!(
                        "restricted namespace `{}` used on `{}`; these namespaces are reserved for the built-in schema: {}",
                        model.namespace,
                        model.name,
                        RESTRICTED_NAMESPACES.join(", ")
                    ),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
