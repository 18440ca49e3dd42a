//! Object conversion (`ConvertObjectType`), as upstream: a node becomes a node of another kind.
//! The node is deleted and a node of the target kind created in one changeset (a new id, as
//! upstream); each field of the target is filled as the mapping says (a field of the source, a
//! value, or the target's default), fields of the same name and kind (relationships: the same
//! peer kind and cardinality) and compatible branch support are carried over without being
//! named. A conversion that would leave a peer without a mandatory link is refused.

#[allow(clippy::wildcard_imports)]
use super::*;

use serde_json::json;

use crate::schema::{BranchSupport, RelationshipKind};

/// How one field of the target kind is filled (upstream's `ConversionFieldInput`).
#[derive(Clone, Debug, PartialEq)]
pub enum ConversionField {
    /// The value or peers of this field of the node converted.
    Source(String),
    /// An attribute value.
    Value(Value),
    /// The peer of a cardinality-one relationship (an id).
    Peer(String),
    /// The peers of a cardinality-many relationship (ids).
    Peers(Vec<String>),
    /// The target's schema default (nothing given).
    Default,
}

/// Whether fields of branch support `a` and `b` can carry a value over (aware and local mix).
fn branch_support_matches(a: Option<BranchSupport>, b: Option<BranchSupport>) -> bool {
    let aware = |s: Option<BranchSupport>| {
        matches!(
            s.unwrap_or_default(),
            BranchSupport::Aware | BranchSupport::Local
        )
    };
    a.unwrap_or_default() == b.unwrap_or_default() || (aware(a) && aware(b))
}

impl Engine {
    /// Converts node `id` on `branch` to a node of `target_kind`, filling its fields as
    /// `mapping` (target field name to how it is filled) says, fields matching by name carried
    /// over when not named (see the module documentation). Returns the new node.
    pub async fn convert_object_type(
        &self,
        branch: &str,
        id: &str,
        target_kind: &str,
        mapping: BTreeMap<String, ConversionField>,
    ) -> Result<Mutation> {
        let schema = self.schema(branch)?;
        let view = BranchView::now(branch);
        let id = parse_id("node_id", id)?;
        let found = self
            .store()
            .get_nodes(&view, &[id], &Selection::nothing())
            .await?
            .pop()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("Unable to find the node {id} / Node in the database."),
                )
            })?;
        let source = schema.get(&found.kind).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("kind `{}` not found", found.kind),
            )
        })?;
        let target = schema
            .get(target_kind)
            .filter(|m| m.is_node())
            .ok_or_else(|| {
                validation(format!(
                    "{target_kind} is not a node kind on branch `{branch}`: only nodes can be converted to"
                ))
            })?;
        if !source.is_node() {
            return Err(validation(format!(
                "{} is not a node kind: only nodes can be converted",
                source.kind()
            )));
        }
        let node = self.read_back(branch, source, id).await?;
        if let Some((name, _)) = node.attributes.iter().find(|(_, a)| a.is_from_profile) {
            return Err(validation(format!(
                "The attribute '{name}' is from a profile, converting objects that use profiles is not yet supported."
            )));
        }
        let mut mapping = mapping;
        for name in mapping.keys() {
            if target.attribute(name).is_none() && target.relationship(name).is_none() {
                return Err(validation(format!(
                    "fields_mapping: {} has no field `{name}`",
                    target.kind()
                )));
            }
        }
        // Fields matching by name are carried over unless named.
        for attribute in &target.attributes {
            if let Some(from) = source.attribute(&attribute.name)
                && from.kind == attribute.kind
                && branch_support_matches(from.branch, attribute.branch)
            {
                mapping
                    .entry(attribute.name.clone())
                    .or_insert_with(|| ConversionField::Source(attribute.name.clone()));
            }
        }
        for relationship in &target.relationships {
            if relationship.read_only || relationship.kind == RelationshipKind::Hierarchy {
                continue;
            }
            if let Some(from) = source.relationship(&relationship.name)
                && from.peer == relationship.peer
                && from.cardinality == relationship.cardinality
                && branch_support_matches(from.branch, relationship.branch)
            {
                mapping
                    .entry(relationship.name.clone())
                    .or_insert_with(|| ConversionField::Source(relationship.name.clone()));
            }
        }
        let mut input = NodeInput::default();
        for (name, field) in &mapping {
            let value = match field {
                ConversionField::Default => continue,
                ConversionField::Source(from) => {
                    if let Some(attribute) = node.attributes.get(from) {
                        if attribute.value.is_null() {
                            continue;
                        }
                        Value::clone(&attribute.value)
                    } else if source.relationship(from).is_some() {
                        let peers: Vec<String> =
                            node.peers(from).iter().map(|p| p.id.to_string()).collect();
                        if peers.is_empty() {
                            continue;
                        }
                        json!(peers)
                    } else {
                        return Err(validation(format!(
                            "fields_mapping: {} has no field `{from}`",
                            source.kind()
                        )));
                    }
                }
                ConversionField::Value(value) => value.clone(),
                ConversionField::Peer(peer) => json!([peer]),
                ConversionField::Peers(peers) => json!(peers),
            };
            if target.attribute(name).is_some() {
                if matches!(field, ConversionField::Peer(_) | ConversionField::Peers(_)) {
                    return Err(validation(format!(
                        "fields_mapping: `{name}` of {} is an attribute: give `attribute_value`",
                        target.kind()
                    )));
                }
                input
                    .attributes
                    .insert(name.clone(), AttributeInput::value(value));
            } else if let Some(relationship) = target.relationship(name) {
                let ids: Vec<String> = match value {
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            validation(format!("fields_mapping: `{name}` takes peer ids"))
                        })?,
                    Value::String(one) => vec![one],
                    _ => {
                        return Err(validation(format!(
                            "fields_mapping: `{name}` of {} is a relationship: give `peer_id` or `peers_ids`",
                            target.kind()
                        )));
                    }
                };
                let peers: Vec<PeerInput> = ids.into_iter().map(PeerInput::id).collect();
                let given = match relationship.cardinality {
                    Cardinality::One => {
                        if peers.len() > 1 {
                            return Err(validation(format!(
                                "fields_mapping: `{name}` of {} takes one peer",
                                target.kind()
                            )));
                        }
                        RelationshipInput::One(peers.into_iter().next())
                    }
                    Cardinality::Many => RelationshipInput::Many(peers),
                };
                input.relationships.insert(name.clone(), given);
            }
        }
        self.check_converted_peers(&view, &schema, source, &node, target, &input)
            .await?;
        let mut mutation = self
            .create_replacing(branch, &target.kind(), input, false, Some((id, source)))
            .await?;
        mutation.events.insert(
            0,
            Event::NodeDeleted(NodeEvent {
                branch: branch.to_string(),
                kind: source.kind(),
                node_id: id,
                at: mutation.at.unwrap_or_else(infrahub_graph::Timestamp::now),
                display_label: node.display_label.clone(),
                attributes: BTreeMap::new(),
                relationships: BTreeMap::new(),
            }),
        );
        Ok(mutation)
    }

    /// Refuses a conversion that would leave a peer of `node` (of `source`) with fewer links
    /// than its mandatory relationship needs: the node's links go, and the new node (of
    /// `target`, created from `input`) links again only the peers it names through a
    /// relationship of the same identifier.
    async fn check_converted_peers(
        &self,
        view: &BranchView,
        schema: &SchemaBranch,
        source: &ModelSchema,
        node: &Node,
        target: &ModelSchema,
        input: &NodeInput,
    ) -> Result<()> {
        for relationship in &source.relationships {
            let peers = node.peers(&relationship.name);
            if peers.is_empty() {
                continue;
            }
            let identifier = relationship.identifier();
            // The peers the new node links again through the same identifier.
            let relinked: BTreeSet<String> = target
                .relationships
                .iter()
                .filter(|r| r.identifier() == identifier)
                .filter_map(|r| input.relationships.get(&r.name))
                .flat_map(|given| match given {
                    RelationshipInput::One(peer) => peer.iter().cloned().collect::<Vec<_>>(),
                    RelationshipInput::Many(peers) => peers.clone(),
                })
                .filter_map(|p| p.id)
                .collect();
            for peer in peers {
                if relinked.contains(&peer.id.to_string()) {
                    continue;
                }
                let Some(found) = self
                    .store()
                    .get_nodes(view, &[peer.id], &Selection::nothing())
                    .await?
                    .pop()
                else {
                    continue;
                };
                let Some(peer_model) = schema.get(&found.kind) else {
                    continue;
                };
                let Some(reverse) = peer_model
                    .relationships
                    .iter()
                    .find(|r| r.identifier() == identifier && !r.optional)
                else {
                    continue;
                };
                let selection = Selection {
                    attributes: Some(Vec::new()),
                    links: vec![links::selection(reverse)],
                };
                let remaining = self
                    .store()
                    .get_nodes(view, &[peer.id], &selection)
                    .await?
                    .iter()
                    .flat_map(|n| n.links.iter())
                    .filter(|l| l.peer != node.id)
                    .count();
                if (remaining as i64) < reverse.min_count.max(1) {
                    return Err(validation(format!(
                        "{} '{}' requires {} '{}' through its mandatory relationship `{}`: converting it would break it",
                        peer_model.kind(),
                        peer.id,
                        source.kind(),
                        node.display_label,
                        reverse.name
                    )));
                }
            }
        }
        Ok(())
    }
}
