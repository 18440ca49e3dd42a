//! `InfrahubGraphQLQueryReport(query)`: how the server reads a GraphQL query, as upstream 1.11
//! reports it (`infrahubctl graphql query-report`). `targets_unique_nodes` is true when every
//! root query of the document returns one object: it filters on a single `ids` or `hfid`
//! value, or pins every part of one of its kind's uniqueness constraints (a unique attribute
//! counts as one) with a single value that is always provided (a literal, or a required
//! variable). Artifact and generator definitions use it to decide how much to regenerate.

use std::collections::{BTreeMap, HashMap};

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Error, Name, Positioned, Value as GqlValue};
use async_graphql_value::Value as AstValue;
use infrahub_core::schema::{Cardinality, ModelSchema, SchemaBranch};

use super::super::build::request;
use super::{object_value, value_object};

/// Longest query text the report reads (the HTTP body limit applies before this).
const MAX_QUERY: usize = 1_000_000;

/// Registers the query and its type.
pub(super) fn register_report(
    builder: async_graphql::dynamic::SchemaBuilder,
    query: Object,
) -> (async_graphql::dynamic::SchemaBuilder, Object) {
    let builder = builder.register(value_object(
        "GraphQLQueryReport",
        &[("targets_unique_nodes", TypeRef::named_nn(TypeRef::BOOLEAN))],
    ));
    let query = query.field(
        Field::new(
            "InfrahubGraphQLQueryReport",
            TypeRef::named_nn("GraphQLQueryReport"),
            |ctx| {
                FieldFuture::new(async move {
                    let request = request(&ctx)?;
                    let text = ctx.args.try_get("query")?.string()?;
                    let unique = targets_unique_nodes(&request.schema, text)?;
                    Ok(Some(FieldValue::value(object_value(vec![(
                        "targets_unique_nodes",
                        GqlValue::Boolean(unique),
                    )]))))
                })
            },
        )
        .argument(
            InputValue::new("query", TypeRef::named_nn(TypeRef::STRING))
                .description("The GraphQL query to analyze"),
        )
        .description("How the server reads a GraphQL query"),
    );
    (builder, query)
}

/// A variable of an operation: whether it is required and whether it is a list.
#[derive(Clone, Copy, Debug)]
struct Variable {
    required: bool,
    list: bool,
}

/// Whether every root query of the document `text` returns one object on `schema`.
fn targets_unique_nodes(schema: &SchemaBranch, text: &str) -> Result<bool, Error> {
    if text.len() > MAX_QUERY {
        return Err(Error::new(format!(
            "the query is longer than {MAX_QUERY} bytes"
        )));
    }
    let document = async_graphql::parser::parse_query(text)
        .map_err(|e| Error::new(format!("the query does not parse: {e}")))?;
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(map) => map.values().collect(),
    };
    let mut any = false;
    for operation in operations {
        let variables: HashMap<String, Variable> = operation
            .node
            .variable_definitions
            .iter()
            .map(|definition| {
                let ty = &definition.node.var_type.node;
                (
                    definition.node.name.node.to_string(),
                    Variable {
                        required: !ty.nullable && definition.node.default_value.is_none(),
                        list: matches!(ty.base, BaseType::List(_)),
                    },
                )
            })
            .collect();
        let mut roots = Vec::new();
        root_fields(&document, &operation.node.selection_set, &mut roots, 0);
        for field in roots {
            if field.name.node.starts_with("__") {
                continue;
            }
            any = true;
            let arguments: BTreeMap<&str, &AstValue> = field
                .arguments
                .iter()
                .map(|(name, value)| (name.node.as_str(), &value.node))
                .collect();
            let unique = schema
                .get(field.name.node.as_str())
                .is_some_and(|model| one_object(model, &arguments, &variables));
            if !unique {
                return Ok(false);
            }
        }
    }
    Ok(any)
}

/// The root fields of `selection`, through fragments (bounded depth).
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    selection: &'a Positioned<SelectionSet>,
    out: &mut Vec<&'a async_graphql::parser::types::Field>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    for item in &selection.node.items {
        match &item.node {
            Selection::Field(field) => out.push(&field.node),
            Selection::InlineFragment(fragment) => {
                root_fields(document, &fragment.node.selection_set, out, depth + 1);
            }
            Selection::FragmentSpread(spread) => {
                let name: &Name = &spread.node.fragment_name.node;
                if let Some(fragment) = document.fragments.get(name) {
                    let fragment: &Positioned<FragmentDefinition> = fragment;
                    root_fields(document, &fragment.node.selection_set, out, depth + 1);
                }
            }
        }
    }
}

/// Whether a root query of `model` with `arguments` returns one object.
fn one_object(
    model: &ModelSchema,
    arguments: &BTreeMap<&str, &AstValue>,
    variables: &HashMap<String, Variable>,
) -> bool {
    let single = |name: &str, allow_list: bool| {
        arguments
            .get(name)
            .is_some_and(|value| single_value(value, variables, allow_list))
    };
    if single("ids", true) || single("hfid", true) {
        return true;
    }
    let mut constraints: Vec<Vec<String>> =
        model.uniqueness_constraints.clone().unwrap_or_default();
    constraints.extend(
        model
            .attributes
            .iter()
            .filter(|a| a.unique)
            .map(|a| vec![format!("{}__value", a.name)]),
    );
    constraints.iter().any(|constraint| {
        !constraint.is_empty()
            && constraint.iter().all(|path| {
                let mut parts = path.split("__");
                let first = parts.next().unwrap_or_default();
                if let Some(attribute) = model.attribute(first) {
                    let property = parts.next().unwrap_or("value");
                    return single(&format!("{}__{property}", attribute.name), false);
                }
                match model.relationship(first) {
                    Some(relationship) if relationship.cardinality == Cardinality::One => {
                        single(&format!("{first}__ids"), false)
                            || single(&format!("{first}__hfid"), false)
                    }
                    _ => false,
                }
            })
    })
}

/// Whether `value` always provides exactly one value: a literal, a list of one element always
/// provided, or a required variable (a list variable only where `allow_list`: the `ids` and
/// `hfid` of a target are given one member at a time).
fn single_value(value: &AstValue, variables: &HashMap<String, Variable>, allow_list: bool) -> bool {
    let required = |name: &Name, allow_list: bool| {
        variables
            .get(name.as_str())
            .is_some_and(|v| v.required && (allow_list || !v.list))
    };
    match value {
        AstValue::List(items) => match items.as_slice() {
            [AstValue::Variable(name)] => required(name, false),
            [item] => !matches!(item, AstValue::Null),
            _ => false,
        },
        AstValue::Variable(name) => required(name, allow_list),
        AstValue::Null => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infrahub_core::schema::{ProcessOptions, SchemaFile, core_schema};

    fn schema() -> SchemaBranch {
        let base = core_schema(&ProcessOptions::default()).unwrap_or_else(|e| panic!("{e:?}"));
        let file = SchemaFile::from_yaml(
            r#"
version: "1.0"
nodes:
  - name: Device
    namespace: Dcim
    uniqueness_constraints: [["site", "name__value"]]
    attributes:
      - {name: name, kind: Text}
      - {name: serial, kind: Text, unique: true}
    relationships:
      - {name: site, peer: BuiltinTag, cardinality: one, optional: false}
"#,
            Some("dcim.yml"),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        base.with_file(&file, &ProcessOptions::default())
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn unique_targets_are_recognised_as_upstream_recognises_them() {
        let schema = schema();
        let report =
            |query: &str| targets_unique_nodes(&schema, query).unwrap_or_else(|e| panic!("{e:?}"));
        // A single required id or hfid, a literal, or a required list variable.
        assert!(report(
            "query($id: ID!) { DcimDevice(ids: [$id]) { count } }"
        ));
        assert!(report(
            "query($ids: [ID]!) { DcimDevice(ids: $ids) { count } }"
        ));
        assert!(report(r#"{ DcimDevice(hfid: ["a"]) { count } }"#));
        assert!(!report(
            "query($id: ID) { DcimDevice(ids: [$id]) { count } }"
        ));
        assert!(!report(r#"{ DcimDevice(ids: ["a", "b"]) { count } }"#));
        // A unique attribute, pinned by a required scalar.
        assert!(report(
            "query($s: String!) { DcimDevice(serial__value: $s) { count } }"
        ));
        assert!(!report(
            "query($s: [String]!) { DcimDevice(serial__values: $s) { count } }"
        ));
        // Every part of a constraint, the relationship by one peer.
        assert!(report(
            "query($n: String!, $t: ID!) { DcimDevice(name__value: $n, site__ids: [$t]) { count } }"
        ));
        assert!(!report(
            "query($n: String!) { DcimDevice(name__value: $n) { count } }"
        ));
        // Every root query counts; fragments are followed.
        assert!(!report(
            "query($s: String!) { DcimDevice(serial__value: $s) { count } BuiltinTag { count } }"
        ));
        assert!(report(
            "query($s: String!) { ...f } fragment f on Query { DcimDevice(serial__value: $s) { count } }"
        ));
        assert!(targets_unique_nodes(&schema, "{ broken").is_err());
    }
}
