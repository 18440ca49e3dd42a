//! Objects created from an object template (`object_template` in a create input), as upstream:
//! the new object takes the template's attribute values and relationship peers that the input
//! does not give, and the component templates the template holds become the new object's
//! components, recursively.

#[allow(clippy::wildcard_imports)]
use super::*;

use crate::schema::{OBJECT_TEMPLATE_NAME_ATTR, OBJECT_TEMPLATE_RELATIONSHIP, RelationshipKind};

use super::super::pools::PoolInput;
use crate::schema::FROM_POOL_SUFFIX;

/// Relationship kinds whose peers a new object copies from its template.
const COPIED_KINDS: [RelationshipKind; 3] = [
    RelationshipKind::Attribute,
    RelationshipKind::Generic,
    RelationshipKind::Profile,
];

/// Relationship kinds a component template passes to the component created from it.
const COMPONENT_COPIED_KINDS: [RelationshipKind; 4] = [
    RelationshipKind::Component,
    RelationshipKind::Parent,
    RelationshipKind::Profile,
    RelationshipKind::Attribute,
];

/// Relationships of a template that make the new object join groups, and the group
/// relationships of the object they fill.
const GROUPS_FOR_INSTANCES: [(&str, &str); 2] = [
    ("member_of_groups_for_instances", "member_of_groups"),
    ("subscriber_of_groups_for_instances", "subscriber_of_groups"),
];

/// The template an object is being created from, as read before the object is written.
pub(super) struct TemplateUse {
    /// The template node.
    template: Node,
    /// Names of the relationships the create input gave itself; their components are not
    /// created from the template.
    given: BTreeSet<String>,
}

/// The peers of `ids` as the input of a relationship of cardinality `cardinality`.
fn peers_input(cardinality: Cardinality, ids: &[NodeId]) -> RelationshipInput {
    match cardinality {
        Cardinality::One => {
            RelationshipInput::One(ids.first().map(|id| PeerInput::id(id.to_string())))
        }
        Cardinality::Many => {
            RelationshipInput::Many(ids.iter().map(|id| PeerInput::id(id.to_string())).collect())
        }
    }
}

/// The value of a template attribute as an input, with the template (or the profile the
/// template took it from) as its source.
fn attribute_from(template: &Node, attribute: &super::super::node::Attribute) -> AttributeInput {
    AttributeInput {
        value: Some(attribute.value.clone()),
        source: Some(attribute.source.unwrap_or(template.id).to_string()),
        ..AttributeInput::default()
    }
}

impl Engine {
    /// Reads the template `input` creates a node of `model` from (if any) and completes
    /// `input` with the template's values: attributes not given take the template's non-null
    /// values, relationships of kind Attribute, Generic and Profile not given take its peers,
    /// and the groups it names for instances become the object's groups.
    pub(super) async fn apply_object_template(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        model: &ModelSchema,
        mut input: NodeInput,
    ) -> Result<(NodeInput, Option<TemplateUse>)> {
        let Some(relationship) = model
            .relationship(OBJECT_TEMPLATE_RELATIONSHIP)
            .filter(|r| r.kind == RelationshipKind::Template)
        else {
            return Ok((input, None));
        };
        let Some(given) = input.relationships.get(OBJECT_TEMPLATE_RELATIONSHIP) else {
            return Ok((input, None));
        };
        let Some(found) = self
            .resolve_peers(view, schema, model, relationship, given)
            .await?
            .pop()
        else {
            return Ok((input, None));
        };
        let template_model = schema.get(&found.kind).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                format!("kind `{}` not found", found.kind),
            )
        })?;
        let template = self
            .get(
                view,
                &found.kind,
                &[found.id],
                &Fields::everything(template_model),
            )
            .await?
            .pop()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "Unable to find the object template {} / {} in the database.",
                        found.id, found.kind
                    ),
                )
            })?;
        let given_relationships: BTreeSet<String> = input.relationships.keys().cloned().collect();
        for attribute in &template_model.attributes {
            if attribute.name == OBJECT_TEMPLATE_NAME_ATTR
                || input.attributes.contains_key(&attribute.name)
            {
                continue;
            }
            let Some(target) = model.attribute(&attribute.name) else {
                continue;
            };
            let Some(value) = template.attributes.get(&attribute.name) else {
                continue;
            };
            if value.value.is_null() || target.read_only {
                continue;
            }
            input
                .attributes
                .insert(attribute.name.clone(), attribute_from(&template, value));
        }
        for (for_instances, groups) in GROUPS_FOR_INSTANCES {
            let peers: Vec<NodeId> = template.peers(for_instances).iter().map(|p| p.id).collect();
            if peers.is_empty() || input.relationships.contains_key(groups) {
                continue;
            }
            if let Some(target) = model.relationship(groups) {
                input
                    .relationships
                    .insert(groups.to_string(), peers_input(target.cardinality, &peers));
            }
        }
        // A pool the template names for a field the input does not give: the object's value
        // (or peer) is allocated from it, reserved under the object's id.
        for template_relationship in &template_model.relationships {
            let Some(field) = template_relationship.name.strip_suffix(FROM_POOL_SUFFIX) else {
                continue;
            };
            let Some(pool) = template.peers(&template_relationship.name).first() else {
                continue;
            };
            if input.attributes.contains_key(field) || input.relationships.contains_key(field) {
                continue;
            }
            let from_pool = Some(Box::new(PoolInput {
                id: Some(pool.id.to_string()),
                ..PoolInput::default()
            }));
            if model.attribute(field).is_some() {
                input.attributes.insert(
                    field.to_string(),
                    AttributeInput {
                        from_pool,
                        ..AttributeInput::default()
                    },
                );
            } else if let Some(target) = model.relationship(field) {
                let peer = PeerInput {
                    from_pool,
                    ..PeerInput::default()
                };
                let given = match target.cardinality {
                    Cardinality::One => RelationshipInput::One(Some(peer)),
                    Cardinality::Many => RelationshipInput::Many(vec![peer]),
                };
                input.relationships.insert(field.to_string(), given);
            }
        }
        for template_relationship in &template_model.relationships {
            let name = &template_relationship.name;
            if name == OBJECT_TEMPLATE_RELATIONSHIP
                || input.relationships.contains_key(name)
                || !COPIED_KINDS.contains(&template_relationship.kind)
                || GROUPS_FOR_INSTANCES.iter().any(|(n, _)| n == name)
            {
                continue;
            }
            let Some(target) = model.relationship(name).filter(|r| !r.read_only) else {
                continue;
            };
            let peers: Vec<NodeId> = template.peers(name).iter().map(|p| p.id).collect();
            if !peers.is_empty() {
                input
                    .relationships
                    .insert(name.clone(), peers_input(target.cardinality, &peers));
            }
        }
        Ok((
            input,
            Some(TemplateUse {
                template,
                given: given_relationships,
            }),
        ))
    }

    /// Creates, for each component relationship of `object` (kind and id) not among `given`,
    /// one object per component template `template` links there, then their own components.
    async fn create_components_of(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        (model, id): (&ModelSchema, NodeId),
        template: &Node,
        given: &BTreeSet<String>,
        batch: &mut super::Batch,
    ) -> Result<()> {
        let branch = view.branch.clone();
        for relationship in model
            .relationships
            .iter()
            .filter(|r| r.kind == RelationshipKind::Component && !given.contains(&r.name))
        {
            let ids: Vec<NodeId> = template
                .peers(&relationship.name)
                .iter()
                .map(|p| p.id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let kinds = self
                .store()
                .get_nodes(view, &ids, &Selection::nothing())
                .await?;
            for sub in kinds {
                let Some(sub_model) = schema.get(&sub.kind) else {
                    continue;
                };
                let Some(component_model) = sub
                    .kind
                    .strip_prefix("Template")
                    .and_then(|kind| schema.get(kind))
                else {
                    continue;
                };
                let Some(subtemplate) = self
                    .get(view, &sub.kind, &[sub.id], &Fields::everything(sub_model))
                    .await?
                    .pop()
                else {
                    continue;
                };
                let input = self
                    .component_input(
                        view,
                        schema,
                        (sub_model, &subtemplate),
                        component_model,
                        (template.id, id),
                    )
                    .await?;
                let mutation = Box::pin(self.create_in(
                    &branch,
                    &component_model.kind(),
                    input,
                    false,
                    None,
                    Some(batch),
                ))
                .await?;
                Box::pin(self.create_components_of(
                    view,
                    schema,
                    (component_model, mutation.node.id),
                    &subtemplate,
                    &BTreeSet::new(),
                    batch,
                ))
                .await?;
            }
        }
        Ok(())
    }

    /// The create input of the component a component template describes: its attribute
    /// values (those that are not the component's schema default), and its relationships of
    /// kind Component, Parent, Profile and Attribute, where a link back to the template being
    /// applied (`parent`: template id, object id) becomes a link to the new object and links
    /// to other templates are left to the next level.
    async fn component_input(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        (sub_model, subtemplate): (&ModelSchema, &Node),
        component_model: &ModelSchema,
        (parent_template, parent): (NodeId, NodeId),
    ) -> Result<NodeInput> {
        let mut input = NodeInput::default();
        for attribute in &sub_model.attributes {
            if attribute.name == OBJECT_TEMPLATE_NAME_ATTR {
                continue;
            }
            let Some(target) = component_model.attribute(&attribute.name) else {
                continue;
            };
            let Some(value) = subtemplate.attributes.get(&attribute.name) else {
                continue;
            };
            if value.value.is_null()
                || target.read_only
                || (value.is_default && target.default_value.as_ref() == Some(&value.value))
            {
                continue;
            }
            input
                .attributes
                .insert(attribute.name.clone(), attribute_from(subtemplate, value));
        }
        for relationship in &sub_model.relationships {
            if !COMPONENT_COPIED_KINDS.contains(&relationship.kind) {
                continue;
            }
            let Some(target) = component_model
                .relationship(&relationship.name)
                .filter(|r| !r.read_only)
            else {
                continue;
            };
            let ids: Vec<NodeId> = subtemplate
                .peers(&relationship.name)
                .iter()
                .map(|p| p.id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let peers: Vec<NodeId> =
                if ids == [parent_template] && relationship.kind != RelationshipKind::Attribute {
                    vec![parent]
                } else if relationship.kind == RelationshipKind::Profile {
                    ids
                } else {
                    let known = self
                        .store()
                        .get_nodes(view, &ids, &Selection::nothing())
                        .await?;
                    known
                        .into_iter()
                        .filter(|n| {
                            schema
                                .get(&n.kind)
                                .is_none_or(|m| m.category != ModelCategory::Template)
                        })
                        .map(|n| n.id)
                        .collect()
                };
            if !peers.is_empty() {
                input.relationships.insert(
                    relationship.name.clone(),
                    peers_input(target.cardinality, &peers),
                );
            }
        }
        Ok(input)
    }
}

/// Refuses a write leaving an object template with both a field and the pool to allocate it
/// from (`<field>_from_resource_pool`), as upstream: a template gives one or the other.
/// `set(name)` says whether the template has, after the write, a value (not its default) for
/// attribute `name` or peers for relationship `name`.
pub(super) fn check_template_pools(model: &ModelSchema, set: &dyn Fn(&str) -> bool) -> Result<()> {
    if model.category != ModelCategory::Template {
        return Ok(());
    }
    for relationship in &model.relationships {
        let Some(field) = relationship.name.strip_suffix(FROM_POOL_SUFFIX) else {
            continue;
        };
        if !set(&relationship.name) || !set(field) {
            continue;
        }
        let what = if model.attribute(field).is_some() {
            "direct attribute value"
        } else {
            "direct relationship"
        };
        return Err(Error::new(
            ErrorKind::Validation,
            format!(
                "{}: Cannot set '{}' when '{field}' is already set. Templates can only use one of: {what} or resource pool allocation.",
                relationship.name, relationship.name
            ),
        ));
    }
    Ok(())
}

impl Engine {
    /// Plans into `batch` the components the template `used` holds for node `id` of `model`
    /// (being created in the same changeset), recursively.
    pub(super) async fn plan_components(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        (model, id): (&ModelSchema, NodeId),
        used: &TemplateUse,
        batch: &mut super::Batch,
    ) -> Result<()> {
        self.create_components_of(
            view,
            schema,
            (model, id),
            &used.template,
            &used.given,
            batch,
        )
        .await
    }
}
