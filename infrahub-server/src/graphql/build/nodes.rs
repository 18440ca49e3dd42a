//! The fields of node types (attributes, relationships, hierarchy walks, derived fields) and
//! their resolvers, with the arguments of relationship fields.

#[allow(clippy::wildcard_imports)]
use super::*;

/// One field of a node type, usable on objects and interfaces.
pub(crate) struct NodeField {
    pub(super) name: String,
    pub(super) ty: TypeRef,
    pub(super) description: Option<String>,
    pub(super) arguments: Vec<(String, TypeRef)>,
    pub(super) resolver: Resolver,
}

#[derive(Clone)]
pub(super) enum Resolver {
    Meta(NodeMeta),
    Attribute(String),
    One(String),
    Many {
        name: String,
        peer: String,
    },
    /// A hierarchy field a level of the hierarchy does not have (`parent` at the top,
    /// `children` at the bottom): always empty.
    Absent {
        many: bool,
        peer: String,
    },
}

impl NodeField {
    pub(super) fn interface_field(&self) -> InterfaceField {
        let mut field = InterfaceField::new(&self.name, self.ty.clone());
        if let Some(text) = &self.description {
            field = field.description(text);
        }
        for (name, ty) in &self.arguments {
            field = field.argument(InputValue::new(name, ty.clone()));
        }
        field
    }

    pub(super) fn object_field(&self) -> Field {
        let resolver = self.resolver.clone();
        let mut field = Field::new(&self.name, self.ty.clone(), move |ctx| {
            resolve_node_field(ctx, &resolver)
        });
        if let Some(text) = &self.description {
            field = field.description(text);
        }
        for (name, ty) in &self.arguments {
            field = field.argument(InputValue::new(name, ty.clone()));
        }
        field
    }
}

pub(super) fn resolve_node_field<'a>(
    ctx: ResolverContext<'a>,
    resolver: &Resolver,
) -> FieldFuture<'a> {
    let node = match parent::<NodeValue>(&ctx) {
        Ok(node) => node,
        Err(error) => return ready(Err(error)),
    };
    match resolver {
        Resolver::Meta(meta) => match meta.value(&node.node) {
            Value::Null => FieldFuture::Value(None),
            value => plain(to_gql(&value)),
        },
        Resolver::Attribute(name) => {
            if node.node.attributes.contains_key(name) {
                FieldFuture::Value(Some(FieldValue::owned_any(AttributeValue {
                    node: node.clone(),
                    name: name.clone(),
                })))
            } else {
                FieldFuture::Value(None)
            }
        }
        Resolver::One(name) => {
            let Some(peer) = node.node.peers(name).first() else {
                return FieldFuture::Value(None);
            };
            let peer_node = node
                .level
                .relationships
                .get(name)
                .and_then(|level| level.value(peer.id));
            FieldFuture::Value(Some(FieldValue::owned_any(EdgeValue {
                peer: peer.clone(),
                node: peer_node,
                owner_level: Arc::clone(&node.level),
            })))
        }
        Resolver::Many { name, peer } => {
            ready(nested_page(&ctx, node, name, peer).map(|p| Some(FieldValue::owned_any(p))))
        }
        Resolver::Absent { many: false, .. } => FieldFuture::Value(None),
        Resolver::Absent { many: true, peer } => {
            FieldFuture::Value(Some(FieldValue::owned_any(NestedPageValue {
                kind: peer.clone(),
                count: 0,
                edges: Vec::new(),
            })))
        }
    }
}

/// The peers of a cardinality-many relationship, filtered and paged by the field's arguments.
pub(super) fn nested_page(
    ctx: &ResolverContext<'_>,
    node: &NodeValue,
    name: &str,
    peer_kind: &str,
) -> Result<NestedPageValue, Error> {
    let level = node.level.relationships.get(name);
    let mut offset = 0usize;
    let mut limit: Option<usize> = None;
    for (argument, value) in ctx.args.iter() {
        let value = to_json(value.as_value());
        match argument.as_str() {
            "offset" => offset = value.as_u64().unwrap_or(0) as usize,
            "limit" => limit = value.as_u64().map(|l| l as usize),
            _ => {}
        }
    }
    let filters = load::nested_filters(
        ctx.args
            .iter()
            .map(|(argument, value)| (argument.as_str(), to_json(value.as_value()))),
    );
    // The peers that pass the field's filters, as the engine evaluated them for the level.
    let passed = if filters.is_empty() {
        None
    } else {
        let key = (name.to_string(), load::filter_key(&filters));
        Some(
            node.level
                .filtered
                .get(&key)
                .ok_or_else(|| Error::new(format!("the filters of `{name}` were not evaluated")))?,
        )
    };
    let walked: Vec<Peer>;
    let listed: &[Peer] = match node.level.hierarchy.get(name) {
        Some(found) => {
            // Hierarchy walks have no link of their own: plain properties.
            walked = found
                .get(&node.node.id)
                .into_iter()
                .flatten()
                .map(|id| Peer {
                    id: *id,
                    is_protected: false,
                    is_visible: true,
                    source: None,
                    owner: None,
                    updated_at: node.node.updated_at,
                })
                .collect();
            &walked
        }
        None => node.node.peers(name),
    };
    let mut edges = Vec::new();
    for peer in listed {
        let peer_node = level.and_then(|l| l.value(peer.id));
        if passed.is_none_or(|passed| passed.contains(&peer.id)) {
            edges.push(EdgeValue {
                peer: peer.clone(),
                node: peer_node,
                owner_level: Arc::clone(&node.level),
            });
        }
    }
    let count = edges.len() as u64;
    let edges: Vec<EdgeValue> = edges
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    Ok(NestedPageValue {
        kind: peer_kind.to_string(),
        count,
        edges,
    })
}

/// The fields of the type of `model`.
pub(crate) fn node_fields(schema: &SchemaBranch, model: &ModelSchema) -> Vec<NodeField> {
    let mut fields: Vec<NodeField> = NodeMeta::ALL
        .into_iter()
        .map(|meta| NodeField {
            name: meta.name().into(),
            ty: meta.type_ref(),
            description: meta.description().map(str::to_string),
            arguments: Vec::new(),
            resolver: Resolver::Meta(meta),
        })
        .collect();
    for attribute in &model.attributes {
        let (type_name, _, _) = attribute_types(attribute.kind);
        fields.push(NodeField {
            name: attribute.name.clone(),
            ty: TypeRef::named(type_name),
            description: attribute.description.clone(),
            arguments: Vec::new(),
            resolver: Resolver::Attribute(attribute.name.clone()),
        });
    }
    if let Some(hierarchy) = super::load::hierarchy_kind(model).filter(|k| has_type(schema, k)) {
        // Every level has `parent` and `children`, as the hierarchy's generic does.
        for (name, many) in [("parent", false), ("children", true)] {
            if model.relationship(name).is_none() {
                fields.push(NodeField {
                    name: name.to_string(),
                    ty: if many {
                        TypeRef::named_nn(nested_paginated(&hierarchy))
                    } else {
                        TypeRef::named(nested_edged(&hierarchy))
                    },
                    description: None,
                    arguments: if many {
                        nested_arguments(schema, &hierarchy)
                    } else {
                        Vec::new()
                    },
                    resolver: Resolver::Absent {
                        many,
                        peer: hierarchy.clone(),
                    },
                });
            }
        }
        for name in super::load::HIERARCHY_FIELDS {
            let mut arguments = vec![
                ("offset".to_string(), TypeRef::named(TypeRef::INT)),
                ("limit".to_string(), TypeRef::named(TypeRef::INT)),
                ("ids".to_string(), TypeRef::named_list(TypeRef::ID)),
            ];
            if let Some(peer) = schema.get(&hierarchy) {
                for attribute in &peer.attributes {
                    arguments.extend(attribute_filters(attribute, "", false, true));
                }
            }
            fields.push(NodeField {
                name: name.to_string(),
                ty: TypeRef::named_nn(nested_paginated(&hierarchy)),
                description: None,
                arguments,
                resolver: Resolver::Many {
                    name: name.to_string(),
                    peer: hierarchy.clone(),
                },
            });
        }
    }
    for relationship in &model.relationships {
        // Hierarchy links are typed with the hierarchy's generic, so that every level of the
        // hierarchy can implement it.
        let peer = match &relationship.hierarchical {
            Some(hierarchy) if relationship.kind == RelationshipKind::Hierarchy => hierarchy,
            _ => &relationship.peer,
        };
        if !has_type(schema, peer) {
            continue;
        }
        if relationship.cardinality == Cardinality::One {
            fields.push(NodeField {
                name: relationship.name.clone(),
                ty: TypeRef::named(nested_edged(peer)),
                description: relationship.description.clone(),
                arguments: Vec::new(),
                resolver: Resolver::One(relationship.name.clone()),
            });
        } else {
            fields.push(NodeField {
                name: relationship.name.clone(),
                ty: TypeRef::named_nn(nested_paginated(peer)),
                description: relationship.description.clone(),
                arguments: nested_arguments(schema, peer),
                resolver: Resolver::Many {
                    name: relationship.name.clone(),
                    peer: peer.clone(),
                },
            });
        }
    }
    fields
}

/// Arguments of a cardinality-many relationship field.
pub(super) fn nested_arguments(schema: &SchemaBranch, peer: &str) -> Vec<(String, TypeRef)> {
    let mut arguments = vec![
        ("offset".to_string(), TypeRef::named(TypeRef::INT)),
        ("limit".to_string(), TypeRef::named(TypeRef::INT)),
        ("order".to_string(), TypeRef::named("OrderInput")),
        ("ids".to_string(), TypeRef::named_list(TypeRef::ID)),
    ];
    if let Some(peer) = schema.get(peer) {
        for attribute in &peer.attributes {
            arguments.extend(attribute_filters(attribute, "", false, true));
        }
    }
    arguments
}

/// The filters of one attribute, named `<prefix><attribute>__...`.
pub(super) fn attribute_filters(
    attribute: &AttributeSchema,
    prefix: &str,
    isnull: bool,
    properties: bool,
) -> Vec<(String, TypeRef)> {
    let (_, _, filter) = attribute_types(attribute.kind);
    let name = format!("{prefix}{}", attribute.name);
    let mut filters = vec![
        (format!("{name}__value"), TypeRef::named(filter)),
        (format!("{name}__values"), TypeRef::named_list(filter)),
    ];
    if isnull {
        filters.push((format!("{name}__isnull"), TypeRef::named(TypeRef::BOOLEAN)));
    }
    if properties {
        filters.extend([
            (format!("{name}__source__id"), TypeRef::named(TypeRef::ID)),
            (format!("{name}__owner__id"), TypeRef::named(TypeRef::ID)),
            (
                format!("{name}__is_visible"),
                TypeRef::named(TypeRef::BOOLEAN),
            ),
            (
                format!("{name}__is_protected"),
                TypeRef::named(TypeRef::BOOLEAN),
            ),
        ]);
    }
    filters
}
