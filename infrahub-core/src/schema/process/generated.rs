//! Schemas generated from user models: `Profile<Kind>` (default values) and `Template<Kind>`
//! (object templates), with the relationships that link them to their models.

use std::collections::BTreeSet;

use super::super::branch::SchemaBranch;
use super::super::constants::{
    CORE_NODE, CORE_PROFILE, GENERIC_GROUP, IP_AVAILABLE_KINDS, LINEAGE_SOURCE,
    OBJECT_COMPONENT_TEMPLATE, OBJECT_TEMPLATE, OBJECT_TEMPLATE_NAME_ATTR,
    OBJECT_TEMPLATE_RELATIONSHIP, RESTRICTED_NAMESPACES,
};
use super::super::error::SchemaError;
use super::super::kinds::{AttributeKind, BranchSupport, Cardinality, RelationshipKind, State};
use super::super::model::{ModelCategory, ModelSchema};
use super::super::relationship::RelationshipSchema;
use super::generate::default_identifier;

fn is_restricted(model: &ModelSchema) -> bool {
    RESTRICTED_NAMESPACES.contains(&model.namespace.as_str())
}

fn is_template_generic(model: &ModelSchema) -> bool {
    model.category == ModelCategory::Generic && model.namespace == "Template"
}

/// Kinds of nodes and of generics that are not generated templates.
fn source_kinds(schema: &SchemaBranch) -> Vec<String> {
    schema
        .models()
        .filter(|m| m.is_node() || (m.is_generic() && !is_template_generic(m)))
        .map(ModelSchema::kind)
        .collect()
}

fn display_name(model: &ModelSchema) -> String {
    model.label.clone().unwrap_or_else(|| model.name.clone())
}

fn add_used_by(schema: &mut SchemaBranch, generic: &str, kinds: &BTreeSet<String>, replace: bool) {
    let Some(model) = schema.get(generic) else {
        return;
    };
    let mut list: BTreeSet<String> = if replace {
        BTreeSet::new()
    } else {
        model.used_by.iter().cloned().collect()
    };
    list.extend(kinds.iter().cloned());
    let list: Vec<String> = list.into_iter().collect();
    if model.used_by != list
        && let Some(model) = schema.get_mut(generic)
    {
        model.used_by = list;
    }
}

/// A copy of attribute `name` of generic `from`, for a generated schema on `branch`.
fn copied_attribute(
    schema: &SchemaBranch,
    from: &str,
    name: &str,
    branch: BranchSupport,
) -> Option<super::super::AttributeSchema> {
    let mut attr = schema.get(from)?.attribute(name)?.clone();
    attr.id = None;
    attr.inherited = false;
    attr.branch = Some(branch);
    Some(attr)
}

/// Creates, refreshes and removes `Profile<Kind>` schemas.
pub(super) fn profiles(schema: &mut SchemaBranch) {
    if !schema.has(CORE_PROFILE) {
        return;
    }
    let mut generated = BTreeSet::new();
    for kind in source_kinds(schema) {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        let profile_kind = format!("Profile{kind}");
        if is_restricted(model) || !model.generate_profile || model.state == State::Absent {
            schema.remove(&profile_kind);
            continue;
        }
        let Some(profile) = profile_of(schema, model) else {
            continue;
        };
        schema.set(profile);
        generated.insert(profile_kind);
    }
    let stale: Vec<String> = schema
        .models_of(ModelCategory::Profile)
        .map(ModelSchema::kind)
        .filter(|k| !generated.contains(k))
        .collect();
    for kind in stale {
        schema.remove(&kind);
    }
    if generated.is_empty() {
        return;
    }
    add_used_by(schema, CORE_PROFILE, &generated, true);
    add_used_by(schema, CORE_NODE, &generated, false);
}

fn profile_of(schema: &SchemaBranch, model: &ModelSchema) -> Option<ModelSchema> {
    let kind = model.kind();
    let mut profile = ModelSchema::new(ModelCategory::Profile, "Profile", kind.clone());
    profile.label = Some(format!("Profile {}", display_name(model)));
    profile.description = Some(format!("Profile for {kind}"));
    profile.branch = model.branch;
    profile.include_in_menu = Some(false);
    profile.display_label = Some("profile_name__value".into());
    profile.inherit_from = vec![LINEAGE_SOURCE.into(), CORE_PROFILE.into(), CORE_NODE.into()];
    profile.human_friendly_id = Some(vec!["profile_name__value".into()]);
    profile.default_filter = Some("profile_name__value".into());
    profile.generate_profile = false;
    for name in ["profile_name", "profile_priority"] {
        profile
            .attributes
            .push(copied_attribute(schema, CORE_PROFILE, name, model.branch)?);
    }
    let mut related = RelationshipSchema::new("related_nodes", kind.clone());
    related.identifier = Some("node__profile".into());
    related.kind = RelationshipKind::Profile;
    related.branch = Some(BranchSupport::Aware);
    profile.relationships.push(related);
    let template_kind = format!("Template{kind}");
    if schema.has(&template_kind) {
        let mut templates = RelationshipSchema::new("related_templates", template_kind);
        templates.identifier = Some(PROFILE_TEMPLATE_IDENTIFIER.into());
        templates.kind = RelationshipKind::Profile;
        templates.branch = Some(BranchSupport::Aware);
        profile.relationships.push(templates);
    }
    // What a profile can set, as upstream 1.11: every attribute and Attribute or Generic
    // relationship that is neither read-only nor unique, nor part of a uniqueness constraint
    // (mandatory ones too: a profile supplies them).
    for attr in &model.attributes {
        if attr.read_only || attr.unique || in_uniqueness_constraint(model, &attr.name) {
            continue;
        }
        let mut copy = attr.clone();
        copy.id = None;
        copy.unique = false;
        copy.read_only = false;
        copy.default_value = None;
        copy.inherited = false;
        copy.optional = true;
        profile.attributes.push(copy);
    }
    let profile_kind = profile.kind();
    for rel in &model.relationships {
        if !supports_profiles(rel) || in_uniqueness_constraint(model, &rel.name) {
            continue;
        }
        let mut copy = RelationshipSchema::new(rel.name.clone(), rel.peer.clone());
        copy.kind = rel.kind;
        copy.cardinality = rel.cardinality;
        copy.direction = rel.direction;
        copy.branch = rel.branch;
        copy.identifier = Some(match &rel.identifier {
            Some(identifier) => format!("profile_{identifier}"),
            None => default_identifier(&profile_kind, &rel.peer),
        });
        copy.min_count = rel.min_count;
        copy.max_count = rel.max_count;
        copy.label = rel.label.clone();
        copy.order_weight = rel.order_weight;
        profile.relationships.push(copy);
    }
    Some(profile)
}

/// The identifier of the link between an object template and the profiles its objects take.
pub(crate) const PROFILE_TEMPLATE_IDENTIFIER: &str = "template__profile";

/// Suffix of the template relationships naming the pool a field of the objects created from
/// the template is allocated from (`<field>_from_resource_pool`).
pub(crate) const FROM_POOL_SUFFIX: &str = "_from_resource_pool";

/// Whether a profile can set `rel`: a writable relationship of kind Attribute or Generic.
pub(crate) fn supports_profiles(rel: &RelationshipSchema) -> bool {
    !rel.read_only
        && matches!(
            rel.kind,
            RelationshipKind::Attribute | RelationshipKind::Generic
        )
}

/// Whether field `name` is named by one of `model`'s uniqueness constraints (as the field
/// itself, or through one of its properties).
fn in_uniqueness_constraint(model: &ModelSchema, name: &str) -> bool {
    model
        .uniqueness_constraints
        .iter()
        .flatten()
        .flatten()
        .any(|path| path == name || path.split("__").next() == Some(name))
}

fn profiles_relationship() -> RelationshipSchema {
    let mut rel = RelationshipSchema::new("profiles", CORE_PROFILE);
    rel.identifier = Some("node__profile".into());
    rel.kind = RelationshipKind::Profile;
    rel.branch = Some(BranchSupport::Aware);
    // Last in forms, as upstream.
    rel.order_weight = Some(99_000);
    rel
}

/// Gives every user node and generic the `profiles` relationship.
pub(super) fn profile_relationships(schema: &mut SchemaBranch) {
    let kinds: Vec<String> = schema
        .models()
        .filter(|m| m.is_node() || m.is_generic())
        .map(ModelSchema::kind)
        .collect();
    for kind in kinds {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        if is_restricted(model) && !IP_AVAILABLE_KINDS.contains(&kind.as_str()) {
            continue;
        }
        let wanted = profiles_relationship();
        let current = model.relationship("profiles");
        if current.is_some_and(|r| {
            r.identifier == wanted.identifier
                && r.peer == wanted.peer
                && r.kind == wanted.kind
                && r.cardinality == wanted.cardinality
                && r.branch == wanted.branch
        }) {
            continue;
        }
        let Some(model) = schema.get_mut(&kind) else {
            continue;
        };
        match model.relationship_mut("profiles") {
            Some(rel) => {
                rel.identifier = wanted.identifier;
                rel.peer = wanted.peer;
                rel.kind = wanted.kind;
                rel.cardinality = wanted.cardinality;
                rel.branch = wanted.branch;
            }
            None => model.relationships.push(wanted),
        }
    }
}

/// Creates, refreshes and removes `Template<Kind>` schemas for models with
/// `generate_template`, plus the component and parent templates they need.
pub(super) fn templates(schema: &mut SchemaBranch, errors: &mut Vec<SchemaError>) {
    let mut needed: Vec<String> = Vec::new();
    for kind in source_kinds(schema) {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        if is_restricted(model) || !model.generate_template || model.state == State::Absent {
            let has_link = model.relationship(OBJECT_TEMPLATE_RELATIONSHIP).is_some();
            if has_link && let Some(model) = schema.get_mut(&kind) {
                model
                    .relationships
                    .retain(|r| r.name != OBJECT_TEMPLATE_RELATIONSHIP);
            }
            schema.remove(&format!("Template{kind}"));
            continue;
        }
        required_templates(schema, &kind, &mut needed);
    }
    let mut generated = BTreeSet::new();
    for kind in &needed {
        let Some(model) = schema.get(kind) else {
            continue;
        };
        match template_of(schema, model, &needed) {
            Some(template) => {
                generated.insert(template.kind());
                schema.set(template);
            }
            None => errors.push(schema.located(
                kind,
                None,
                "generate_template",
                format!("templates need the built-in generics {OBJECT_TEMPLATE} and {OBJECT_COMPONENT_TEMPLATE}"),
            )),
        }
    }
    for kind in &needed {
        template_relationships(schema, kind);
    }
    let stale: Vec<String> = schema
        .models()
        .filter(|m| m.category == ModelCategory::Template || is_template_generic(m))
        .map(ModelSchema::kind)
        .filter(|k| !generated.contains(k))
        .collect();
    for kind in stale {
        schema.remove(&kind);
    }
    if generated.is_empty() {
        return;
    }
    add_used_by(schema, OBJECT_TEMPLATE, &generated, true);
    add_used_by(schema, CORE_NODE, &generated, false);
}

/// Adds to `needed` the kinds that must have a template for `kind` to have one: itself, its
/// generics, and the peers of its component (and parent) relationships.
fn required_templates(schema: &SchemaBranch, kind: &str, needed: &mut Vec<String>) {
    let Some(model) = schema.get(kind) else {
        return;
    };
    if needed.iter().any(|k| k == kind) || model.state == State::Absent {
        return;
    }
    needed.push(kind.to_string());
    if model.is_node() {
        for generic in &model.inherit_from {
            if !needed.contains(generic) {
                needed.push(generic.clone());
            }
        }
    }
    for rel in &model.relationships {
        if rel.peer == GENERIC_GROUP
            || rel.peer == CORE_PROFILE
            || (rel.kind == RelationshipKind::Parent && model.generate_template)
            || !matches!(
                rel.kind,
                RelationshipKind::Parent | RelationshipKind::Component
            )
        {
            continue;
        }
        let Some(peer) = schema.get(&rel.peer) else {
            continue;
        };
        if !(peer.is_node() || peer.is_generic()) || needed.contains(&rel.peer) {
            continue;
        }
        if peer.is_generic()
            && !peer.used_by.is_empty()
            && (rel.kind != RelationshipKind::Parent
                || !peer.used_by.iter().any(|u| needed.contains(u)))
        {
            for used in peer.used_by.clone() {
                required_templates(schema, &used, needed);
            }
        }
        required_templates(schema, &rel.peer, needed);
    }
}

fn template_of(
    schema: &SchemaBranch,
    model: &ModelSchema,
    needed: &[String],
) -> Option<ModelSchema> {
    let kind = model.kind();
    let sub_template = !model.generate_template;
    let base = if sub_template {
        OBJECT_COMPONENT_TEMPLATE
    } else {
        OBJECT_TEMPLATE
    };
    let name_attr = copied_attribute(schema, base, OBJECT_TEMPLATE_NAME_ATTR, model.branch)?;
    let mut template;
    if model.is_generic() {
        template = ModelSchema::new(ModelCategory::Generic, "Template", kind.clone());
        template.label = Some(format!("Generic object template {}", display_name(model)));
        template.description = Some(format!("Generic object template for generic {kind}"));
        template.generate_profile = false;
        template.used_by = model
            .used_by
            .iter()
            .filter(|u| needed.contains(u))
            .map(|u| format!("Template{u}"))
            .collect();
    } else {
        template = ModelSchema::new(ModelCategory::Template, "Template", kind.clone());
        template.label = Some(format!("Object template {}", display_name(model)));
        template.description = Some(format!("Object template for {kind}"));
        template.uniqueness_constraints =
            Some(vec![vec![format!("{OBJECT_TEMPLATE_NAME_ATTR}__value")]]);
        template.inherit_from = vec![LINEAGE_SOURCE.into(), CORE_NODE.into(), base.into()];
        template.generate_profile = false;
        let mut related = RelationshipSchema::new("related_nodes", kind);
        related.identifier = Some("node__objecttemplate".into());
        related.kind = RelationshipKind::Template;
        related.branch = Some(BranchSupport::Aware);
        template.relationships.push(related);
        for generic in &model.inherit_from {
            if needed.contains(generic) {
                template.inherit_from.push(format!("Template{generic}"));
            }
        }
    }
    template.branch = model.branch;
    template.include_in_menu = Some(false);
    template.display_label = Some(format!("{OBJECT_TEMPLATE_NAME_ATTR}__value"));
    template.human_friendly_id = Some(vec![format!("{OBJECT_TEMPLATE_NAME_ATTR}__value")]);
    template.attributes.push(name_attr);
    for attr in &model.attributes {
        if attr.unique || attr.read_only {
            continue;
        }
        let mut copy = attr.clone();
        copy.id = None;
        copy.unique = false;
        copy.read_only = false;
        copy.order_weight = None;
        copy.optional = if sub_template { attr.optional } else { true };
        template.attributes.push(copy);
    }
    Some(template)
}

fn template_relationships(schema: &mut SchemaBranch, kind: &str) {
    let Some(model) = schema.get(kind) else {
        return;
    };
    let template_kind = format!("Template{kind}");
    let sub_template = !model.generate_template;
    let mut added = Vec::new();
    for rel in &model.relationships {
        if rel.peer == GENERIC_GROUP
            || rel.peer == CORE_PROFILE
            || !matches!(
                rel.kind,
                RelationshipKind::Component
                    | RelationshipKind::Parent
                    | RelationshipKind::Attribute
                    | RelationshipKind::Generic
            )
        {
            continue;
        }
        let owned = matches!(
            rel.kind,
            RelationshipKind::Component | RelationshipKind::Parent
        ) && !POOL_KINDS.contains(&rel.peer.as_str());
        let peer = if owned {
            format!("Template{}", rel.peer)
        } else {
            rel.peer.clone()
        };
        let mut copy = RelationshipSchema::new(rel.name.clone(), peer.clone());
        copy.kind = rel.kind;
        copy.optional = if sub_template {
            rel.optional
        } else {
            rel.kind != RelationshipKind::Parent
        };
        copy.cardinality = rel.cardinality;
        copy.direction = rel.direction;
        copy.branch = rel.branch;
        copy.identifier = Some(match &rel.identifier {
            Some(identifier) => format!("template_{identifier}"),
            None => default_identifier(&template_kind, &peer),
        });
        copy.min_count = rel.min_count;
        copy.max_count = rel.max_count;
        copy.label = Some(super::super::constants::format_label(&if owned {
            format!("{}_template", rel.name)
        } else {
            rel.name.clone()
        }));
        copy.inherited = rel.inherited;
        added.push(copy);
        // A relationship to IP addresses or prefixes can name a pool to allocate from.
        if let Some(pool) = ip_pool_for(schema, &rel.peer) {
            let identifier = rel
                .identifier
                .clone()
                .unwrap_or_else(|| default_identifier(kind, &rel.peer));
            added.push(pool_relationship(
                &rel.name,
                pool,
                &format!("{identifier}{FROM_POOL_SUFFIX}").to_lowercase(),
                rel.branch,
                rel.inherited,
                "relationship",
            ));
        }
    }
    // So can a Number attribute, from a number pool.
    for attr in &model.attributes {
        if attr.kind == AttributeKind::Number && !attr.read_only && !attr.unique {
            added.push(pool_relationship(
                &attr.name,
                "CoreNumberPool",
                &format!("{}{FROM_POOL_SUFFIX}", attr.name).to_lowercase(),
                attr.branch,
                attr.inherited,
                "attribute",
            ));
        }
    }
    // The profiles the objects created from the template take.
    let parent_profiles = model.is_node()
        && model
            .inherit_from
            .iter()
            .any(|g| schema.get(g).is_some_and(|g| g.generate_profile));
    if model.generate_profile || parent_profiles {
        let mut profiles = RelationshipSchema::new("profiles", CORE_PROFILE);
        profiles.identifier = Some(PROFILE_TEMPLATE_IDENTIFIER.into());
        profiles.kind = RelationshipKind::Profile;
        profiles.branch = Some(BranchSupport::Aware);
        profiles.order_weight = Some(99_000);
        added.push(profiles);
    }
    let Some(template) = schema.get_mut(&template_kind) else {
        return;
    };
    template
        .relationships
        .retain(|r| r.kind == RelationshipKind::Template);
    let is_generic = template.is_generic();
    for rel in added {
        let parent_hfid = format!("{}__{OBJECT_TEMPLATE_NAME_ATTR}__value", rel.name);
        if !is_generic && rel.kind == RelationshipKind::Parent {
            let hfid = template.human_friendly_id.get_or_insert_with(Vec::new);
            if !hfid.contains(&parent_hfid) {
                hfid.insert(0, parent_hfid);
                if let Some(first) = template
                    .uniqueness_constraints
                    .as_mut()
                    .and_then(|c| c.first_mut())
                {
                    first.push(rel.name.clone());
                }
            }
        }
        template.relationships.push(rel);
    }
}

/// Kinds a template relationship keeps as its peer (pools), not their template.
const POOL_KINDS: [&str; 4] = [
    "CoreNumberPool",
    "CoreIPAddressPool",
    "CoreIPPrefixPool",
    "CoreResourcePool",
];

/// The pool kind allocating peers of kind `peer`, if it is an IP address or prefix kind.
fn ip_pool_for(schema: &SchemaBranch, peer: &str) -> Option<&'static str> {
    let model = schema.get(peer)?;
    let is = |generic: &str| {
        peer == generic || (model.is_node() && model.inherit_from.iter().any(|g| g == generic))
    };
    if is(super::super::constants::IP_ADDRESS) {
        Some("CoreIPAddressPool")
    } else if is(super::super::constants::IP_PREFIX) {
        Some("CoreIPPrefixPool")
    } else {
        None
    }
}

/// The template relationship naming the pool (`peer`) field `name` is allocated from.
fn pool_relationship(
    name: &str,
    peer: &str,
    identifier: &str,
    branch: Option<BranchSupport>,
    inherited: bool,
    what: &str,
) -> RelationshipSchema {
    let mut rel = RelationshipSchema::new(format!("{name}{FROM_POOL_SUFFIX}"), peer);
    rel.identifier = Some(identifier.to_string());
    rel.kind = RelationshipKind::Generic;
    rel.cardinality = Cardinality::One;
    rel.direction = super::super::kinds::Direction::Outbound;
    rel.branch = branch;
    rel.inherited = inherited;
    rel.description = Some(format!(
        "Generated relationship for using a resource pool on the '{name}' {what}"
    ));
    rel.label = Some(format!(
        "{} from Resource Pool",
        super::super::constants::format_label(name)
    ));
    rel
}

/// Gives models with `generate_template` the `object_template` relationship to their template.
pub(super) fn template_relationship(schema: &mut SchemaBranch) {
    let kinds: Vec<String> = schema
        .models()
        .filter(|m| m.is_node() || m.is_generic())
        .map(ModelSchema::kind)
        .collect();
    for kind in kinds {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        if is_restricted(model) || !model.generate_template || model.state == State::Absent {
            continue;
        }
        let mut wanted =
            RelationshipSchema::new(OBJECT_TEMPLATE_RELATIONSHIP, format!("Template{kind}"));
        wanted.identifier = Some("node__objecttemplate".into());
        wanted.kind = RelationshipKind::Template;
        wanted.cardinality = Cardinality::One;
        wanted.branch = Some(BranchSupport::Aware);
        wanted.order_weight = Some(1);
        wanted.min_count = 0;
        wanted.max_count = 1;
        let Some(model) = schema.get_mut(&kind) else {
            continue;
        };
        match model.relationship_mut(OBJECT_TEMPLATE_RELATIONSHIP) {
            Some(rel) => {
                rel.identifier = wanted.identifier;
                rel.peer = wanted.peer;
                rel.kind = wanted.kind;
                rel.cardinality = wanted.cardinality;
                rel.branch = wanted.branch;
                rel.order_weight = wanted.order_weight;
                rel.min_count = wanted.min_count;
                rel.max_count = wanted.max_count;
            }
            None => model.relationships.push(wanted),
        }
    }
}
