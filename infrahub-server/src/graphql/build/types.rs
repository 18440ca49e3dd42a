//! The object types every node type uses: attribute types, link properties, the page and
//! edge wrappers of each kind, and the `permissions` fields.

#[allow(clippy::wildcard_imports)]
use super::*;

/// An attribute object type (`TextAttribute`, `Dropdown`, ...).
pub(super) fn attribute_object(name: &str, value_type: &str, extra: &[&str]) -> Object {
    let mut object = Object::new(name).implement("AttributeInterface");
    object = object
        .field(Field::new("id", TypeRef::named(TypeRef::STRING), |_| {
            FieldFuture::Value(None)
        }))
        .field(Field::new("value", TypeRef::named(value_type), |ctx| {
            ready(parent::<AttributeValue>(&ctx).map(|a| attribute_value(&ctx, a)))
        }))
        .field(flag(AttributeFlag::IsDefault))
        .field(flag(AttributeFlag::IsInherited))
        .field(flag(AttributeFlag::IsProtected))
        .field(flag(AttributeFlag::IsVisible))
        .field(flag(AttributeFlag::IsFromProfile))
        .field(Field::new("updated_at", TypeRef::named(DATE_TIME), |ctx| {
            ready(parent::<AttributeValue>(&ctx).map(|a| {
                a.node
                    .node
                    .attributes
                    .get(&a.name)
                    .and_then(|attr| attr.updated_at)
                    .map(|t| FieldValue::value(t.to_string()))
            }))
        }))
        .field(Field::new(
            "permissions",
            TypeRef::named("PermissionType"),
            // `PermissionType.update_value` decides for the kind of the attribute's node.
            |ctx| {
                ready(parent::<AttributeValue>(&ctx).map(|a| {
                    Some(FieldValue::value(GqlValue::Object(
                        [(
                            Name::new("kind"),
                            GqlValue::String(a.node.node.kind.clone()),
                        )]
                        .into_iter()
                        .collect(),
                    )))
                }))
            },
        ))
        .field(Field::new(
            "source",
            TypeRef::named(LINEAGE_SOURCE),
            |ctx| {
                ready(parent::<AttributeValue>(&ctx).map(|a| {
                    let id = a.node.node.attributes.get(&a.name).and_then(|x| x.source);
                    a.node.level.lineage_value(id).map(node_field_value)
                }))
            },
        ))
        .field(Field::new("owner", TypeRef::named(LINEAGE_OWNER), |ctx| {
            ready(parent::<AttributeValue>(&ctx).map(|a| {
                let id = a.node.node.attributes.get(&a.name).and_then(|x| x.owner);
                a.node.level.lineage_value(id).map(node_field_value)
            }))
        }));
    for field in extra {
        let field_name = (*field).to_string();
        let type_name = name.to_string();
        let ty = match *field {
            "prefixlen" | "version" | "num_addresses" => TypeRef::INT,
            _ => TypeRef::STRING,
        };
        object = object.field(Field::new(*field, TypeRef::named(ty), move |ctx| {
            let field_name = field_name.clone();
            let type_name = type_name.clone();
            ready(parent::<AttributeValue>(&ctx).and_then(|a| {
                let value = a.node.node.value(&a.name);
                let derived = match type_name.as_str() {
                    "IPHost" => derived::ip_host(value, &field_name),
                    "IPNetwork" => derived::ip_network(value, &field_name),
                    "MacAddress" => derived::mac_address(value, &field_name),
                    _ => dropdown_field(&ctx, a, &field_name)?,
                };
                Ok((!derived.is_null()).then(|| FieldValue::value(to_gql(&derived))))
            }))
        }));
    }
    object
}

/// A boolean property of an attribute.
pub(super) fn flag(flag: AttributeFlag) -> Field {
    Field::new(flag.name(), TypeRef::named(TypeRef::BOOLEAN), move |ctx| {
        ready(parent::<AttributeValue>(&ctx).map(|a| {
            a.node
                .node
                .attributes
                .get(&a.name)
                .map(|attr| FieldValue::value(flag.value(attr)))
        }))
    })
}

/// The `value` of an attribute: hashed passwords are never returned.
pub(super) fn attribute_value<'a>(
    ctx: &ResolverContext<'a>,
    attribute: &AttributeValue,
) -> Option<FieldValue<'a>> {
    let schema = request(ctx).ok().map(|r| &r.schema);
    let hidden = schema
        .and_then(|s| s.get(&attribute.node.node.kind))
        .and_then(|m| m.attribute(&attribute.name))
        .is_some_and(|a| a.kind == AttributeKind::HashedPassword);
    let value = attribute.node.node.value(&attribute.name);
    if hidden || value.is_null() {
        return None;
    }
    Some(FieldValue::value(to_gql(value)))
}

/// `label`, `color` or `description` of the choice a Dropdown attribute holds.
pub(super) fn dropdown_field(
    ctx: &ResolverContext<'_>,
    attribute: &AttributeValue,
    field: &str,
) -> Result<Value, Error> {
    let schema = &request(ctx)?.schema;
    let value = attribute.node.node.value(&attribute.name);
    let choice = schema
        .get(&attribute.node.node.kind)
        .and_then(|m| m.attribute(&attribute.name))
        .and_then(|a| a.choices.as_ref())
        .and_then(|choices| {
            choices
                .iter()
                .find(|c| Some(c.name.as_str()) == value.as_str())
        });
    Ok(choice
        .and_then(|c| match field {
            "label" => c.label.clone(),
            "color" => c.color.clone(),
            "description" => c.description.clone(),
            _ => None,
        })
        .map_or(Value::Null, Value::String))
}

/// `RelationshipProperty`: the properties of a link.
pub(super) fn relationship_property() -> Object {
    let mut object = Object::new(RELATIONSHIP_PROPERTY);
    for flag in LinkFlag::ALL {
        object = object.field(Field::new(
            flag.name(),
            TypeRef::named(TypeRef::BOOLEAN),
            move |ctx| {
                ready(
                    parent::<EdgeValue>(&ctx).map(|e| Some(FieldValue::value(flag.value(&e.peer)))),
                )
            },
        ));
    }
    object
        .field(Field::new("updated_at", TypeRef::named(DATE_TIME), |ctx| {
            ready(
                parent::<EdgeValue>(&ctx)
                    .map(|e| Some(FieldValue::value(e.peer.updated_at.to_string()))),
            )
        }))
        .field(Field::new(
            "source",
            TypeRef::named(LINEAGE_SOURCE),
            |ctx| {
                ready(parent::<EdgeValue>(&ctx).map(|e| {
                    e.owner_level
                        .lineage_value(e.peer.source)
                        .map(node_field_value)
                }))
            },
        ))
        .field(Field::new("owner", TypeRef::named(LINEAGE_OWNER), |ctx| {
            ready(parent::<EdgeValue>(&ctx).map(|e| {
                e.owner_level
                    .lineage_value(e.peer.owner)
                    .map(node_field_value)
            }))
        }))
}

/// A node as a resolver value typed with its concrete kind.
pub(crate) fn node_field_value<'a>(node: NodeValue) -> FieldValue<'a> {
    let kind = node.node.kind.clone();
    FieldValue::owned_any(node).with_type(kind)
}

/// A borrowed node as the value of a field typed `K`: an interface (generic `K`) needs the
/// concrete type, an object type must not have it.
pub(crate) fn node_ref<'a>(node: &'a NodeValue, interface: bool) -> FieldValue<'a> {
    let value = FieldValue::borrowed_any(node);
    if interface {
        value.with_type(node.node.kind.clone())
    } else {
        value
    }
}

/// `Edged<K>`, `NestedEdged<K>`, `Paginated<K>` and `NestedPaginated<K>`.
pub(super) fn register_wrappers(builder: SchemaBuilder, model: &ModelSchema) -> SchemaBuilder {
    let kind = model.kind();
    let interface = model.is_generic();
    let describe = |object: Object| match &model.description {
        Some(text) => object.description(text),
        None => object,
    };
    let edged = describe(Object::new(edged(&kind))).field(Field::new(
        "node",
        TypeRef::named(&kind),
        move |ctx| ready(parent::<NodeValue>(&ctx).map(|n| Some(node_ref(n, interface)))),
    ));
    let nested_edged = describe(Object::new(nested_edged(&kind)))
        .field(Field::new("node", TypeRef::named(&kind), move |ctx| {
            ready(
                parent::<EdgeValue>(&ctx).map(|e| e.node.as_ref().map(|n| node_ref(n, interface))),
            )
        }))
        .field(Field::new(
            "properties",
            TypeRef::named(RELATIONSHIP_PROPERTY),
            |ctx| ready(parent::<EdgeValue>(&ctx).map(|e| Some(FieldValue::borrowed_any(e)))),
        ));
    let paginated = describe(Object::new(paginated(&kind)))
        .field(Field::new(
            "count",
            TypeRef::named_nn(TypeRef::INT),
            |ctx| ready(parent::<PageValue>(&ctx).map(|p| Some(FieldValue::value(p.count)))),
        ))
        .field(Field::new(
            "edges",
            TypeRef::named_nn_list_nn(fields::edged(&kind)),
            |ctx| {
                ready(parent::<PageValue>(&ctx).map(|p| {
                    Some(FieldValue::list(
                        p.edges.iter().map(|e| FieldValue::borrowed_any(e)),
                    ))
                }))
            },
        ))
        .field(permissions_field(|ctx| {
            parent::<PageValue>(ctx).map(|p| p.kind.clone())
        }));
    let nested_paginated = describe(Object::new(nested_paginated(&kind)))
        .field(Field::new(
            "count",
            TypeRef::named_nn(TypeRef::INT),
            |ctx| ready(parent::<NestedPageValue>(&ctx).map(|p| Some(FieldValue::value(p.count)))),
        ))
        .field(Field::new(
            "edges",
            TypeRef::named_nn_list_nn(fields::nested_edged(&kind)),
            |ctx| {
                ready(parent::<NestedPageValue>(&ctx).map(|p| {
                    Some(FieldValue::list(
                        p.edges.iter().map(|e| FieldValue::borrowed_any(e)),
                    ))
                }))
            },
        ))
        .field(permissions_field(|ctx| {
            parent::<NestedPageValue>(ctx).map(|p| p.kind.clone())
        }));
    builder
        .register(edged)
        .register(nested_edged)
        .register(paginated)
        .register(nested_paginated)
}

/// The `permissions` field of page types.
pub(super) fn permissions_field(
    kind_of: fn(&ResolverContext<'_>) -> Result<String, Error>,
) -> Field {
    Field::new(
        "permissions",
        TypeRef::named_nn("PaginatedObjectPermission"),
        move |ctx| {
            ready(kind_of(&ctx).and_then(|kind| {
                let decisions = [Action::View, Action::Create, Action::Update, Action::Delete]
                    .map(|a| decision(&ctx, &kind, a));
                let [view, create, update, delete] = decisions;
                let node = GqlValue::Object(
                    [
                        (Name::new("kind"), GqlValue::String(kind)),
                        (Name::new("view"), view?),
                        (Name::new("create"), create?),
                        (Name::new("update"), update?),
                        (Name::new("delete"), delete?),
                    ]
                    .into_iter()
                    .collect(),
                );
                let edge = GqlValue::Object([(Name::new("node"), node)].into_iter().collect());
                Ok(Some(FieldValue::value(GqlValue::Object(
                    [
                        (Name::new("count"), GqlValue::from(1)),
                        (Name::new("edges"), GqlValue::List(vec![edge])),
                    ]
                    .into_iter()
                    .collect(),
                ))))
            }))
        },
    )
}
