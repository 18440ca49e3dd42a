//! The processing pipeline that turns loaded schema definitions into a complete, validated
//! schema: generated identifiers and relationships, inheritance, hierarchy, profiles,
//! templates, defaults, and every cross-model rule.

mod checks;
mod generate;
mod generated;
mod inherit;

use super::branch::SchemaBranch;
use super::error::SchemaError;
use super::model::ModelSchema;
use generate::Scope;
pub(crate) use generated::{FROM_POOL_SUFFIX, supports_profiles};

/// Options that change how strictly a schema is validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessOptions {
    /// Upstream's `main.schema_strict_mode` (default on): rejects `min > max` parameter
    /// pairs, Python keywords as relationship names, and human-friendly ids that point at
    /// non-unique peer attributes.
    pub strict_mode: bool,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions { strict_mode: true }
    }
}

/// Kinds of every model, in load order.
fn all_kinds(schema: &SchemaBranch) -> Vec<String> {
    schema.models().map(ModelSchema::kind).collect()
}

/// Applies `update` to every model, copying a shared model only when `update` changes it.
fn update_each(schema: &mut SchemaBranch, update: impl Fn(&mut ModelSchema)) {
    for kind in all_kinds(schema) {
        let Some(current) = schema.get(&kind) else {
            continue;
        };
        let mut candidate = current.clone();
        update(&mut candidate);
        if &candidate != current {
            schema.set(candidate);
        }
    }
}

fn stop_on(errors: &mut Vec<SchemaError>) -> Result<(), Vec<SchemaError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(std::mem::take(errors))
    }
}

/// Runs the whole pipeline, stopping after the first stage that finds problems.
pub(crate) fn run(
    schema: &mut SchemaBranch,
    options: &ProcessOptions,
) -> Result<(), Vec<SchemaError>> {
    let mut errors = Vec::new();
    checks::names(schema, options, &mut errors);
    stop_on(&mut errors)?;
    generate::identifiers(schema);
    generate::defaults_and_deprecations(schema);
    generate::cardinality_counts(schema);
    // A generic's human-friendly id becomes one of its uniqueness constraints (and a
    // single-attribute one makes that attribute unique) before nodes inherit from it, so a
    // human-friendly id that goes through a relationship to the generic names a unique
    // combination, as upstream.
    generate::human_friendly_ids(schema, Scope::Generics);
    generate::sync_unique_attributes(schema, Scope::Generics);
    inherit::inheritance(schema, &mut errors);
    stop_on(&mut errors)?;
    inherit::hierarchy(schema, &mut errors);
    stop_on(&mut errors)?;
    generate::branch_support(schema, &mut errors);
    stop_on(&mut errors)?;
    // Again with nodes, once they hold what they inherit; before templates, which leave out
    // unique attributes.
    generate::human_friendly_ids(schema, Scope::All);
    generate::sync_unique_attributes(schema, Scope::All);
    generated::templates(schema, &mut errors);
    stop_on(&mut errors)?;
    generated::template_relationship(schema);
    generated::profiles(schema);
    generated::profile_relationships(schema);
    inherit::hierarchy_relationships(schema);

    checks::validate(schema, options, &mut errors);
    stop_on(&mut errors)?;

    generate::cleanup_inherited(schema);
    generate::groups(schema);
    generate::weights(schema);
    generate::labels(schema);
    generate::dropdowns(schema);
    generate::on_delete(schema);
    // The HFID becomes a uniqueness constraint; a single-attribute one makes that attribute
    // unique. Doing it now, not on the next load, keeps processing idempotent.
    generate::human_friendly_ids(schema, Scope::All);
    generate::sync_unique_attributes(schema, Scope::All);
    Ok(())
}
