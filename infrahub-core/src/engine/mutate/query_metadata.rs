//! What a stored GraphQL query (`CoreGraphQLQuery`) is made of, worked out from its text each
//! time it is written, as upstream's query mutations record it in the read-only attributes:
//! `variables` (`[{name, type, required, default_value}]`, the type without list or non-null
//! wrappers, `required` for a non-null variable without default), `operations` (the
//! operation type of each root field), `models` (the schema kinds it reads, sorted, fragments
//! included), `depth` (nesting levels of its fields, inline fragments merged, as the SDK's
//! analyzer counts them) and `height` (its field count, likewise). A text that is not GraphQL
//! is refused.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql_parser::Positioned;
use async_graphql_parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet, Type,
};
use serde_json::{Value, json};

use super::validation;
use crate::engine::input::{AttributeInput, NodeInput};
use crate::error::Result;
use crate::schema::{ModelSchema, SchemaBranch};

/// The kind whose writes get the metadata.
const QUERY_KIND: &str = "CoreGraphQLQuery";
/// The attributes worked out.
const DERIVED: [&str; 5] = ["variables", "operations", "models", "depth", "height"];

/// A merged tree of the requested fields (`None` for a leaf).
#[derive(Default)]
struct FieldTree(BTreeMap<String, Option<FieldTree>>);

/// When `input` writes the `query` of a stored query, sets the derived attributes in it and
/// returns their names (read-only attributes the write may then set).
pub(super) fn derive(
    schema: &SchemaBranch,
    model: &ModelSchema,
    input: &mut NodeInput,
) -> Result<BTreeSet<String>> {
    if model.kind() != QUERY_KIND {
        return Ok(BTreeSet::new());
    }
    let Some(Value::String(text)) = input.attributes.get("query").and_then(|a| a.value.clone())
    else {
        return Ok(BTreeSet::new());
    };
    let document = async_graphql_parser::parse_query(&text)
        .map_err(|error| validation(format!("query: not a valid GraphQL document: {error}")))?;
    let operations = operations(&document);
    // Depth and height as the SDK counts them (fragment spreads left out); the models read
    // through fragments too.
    let (mut fields, mut full) = (FieldTree::default(), FieldTree::default());
    for (_, operation) in document.operations.iter() {
        merge(&mut fields, &operation.node.selection_set, &document, None);
        merge(&mut full, &operation.node.selection_set, &document, Some(0));
    }
    let mut models = BTreeSet::new();
    models_in(schema, &full, None, &mut models);
    let values = [
        ("variables", Value::Array(variables(&document))),
        ("operations", json!(operations)),
        ("models", json!(models)),
        ("depth", json!(depth(&fields, 1))),
        ("height", json!(height(&fields))),
    ];
    for (name, value) in values {
        input
            .attributes
            .insert(name.to_owned(), AttributeInput::value(value));
    }
    Ok(DERIVED.iter().map(|n| (*n).to_owned()).collect())
}

/// The operation type of each root field.
fn operations(document: &ExecutableDocument) -> Vec<&'static str> {
    let mut found = Vec::new();
    for (_, operation) in document.operations.iter() {
        let kind = match operation.node.ty {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        for item in &operation.node.selection_set.node.items {
            if matches!(item.node, Selection::Field(_)) {
                found.push(kind);
            }
        }
    }
    found
}

fn variables(document: &ExecutableDocument) -> Vec<Value> {
    let mut found = Vec::new();
    let all: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values().collect(),
    };
    for operation in all {
        for variable in &operation.node.variable_definitions {
            let definition = &variable.node;
            let ty: &Type = &definition.var_type.node;
            let mut inner = ty;
            let name = loop {
                match &inner.base {
                    BaseType::Named(name) => break name.to_string(),
                    BaseType::List(item) => inner = item,
                }
            };
            let default = definition
                .default_value
                .as_ref()
                .and_then(|d| d.node.clone().into_json().ok());
            let required = !ty.nullable && default.as_ref().is_none_or(Value::is_null);
            found.push(json!({
                "name": definition.name.node.to_string(),
                "type": name,
                "required": required,
                "default_value": default,
            }));
        }
    }
    found
}

/// Lays the fields of `set` over `tree`, with the fragments spread inlined when `spreads`
/// counts them (deeper than 32 spreads, as in a fragment spread in itself, ends the walk).
fn merge(
    tree: &mut FieldTree,
    set: &Positioned<SelectionSet>,
    document: &ExecutableDocument,
    spreads: Option<usize>,
) {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => {
                let name = field.node.name.node.to_string();
                let entry = tree.0.entry(name).or_insert(None);
                if !field.node.selection_set.node.items.is_empty() {
                    let sub = entry.get_or_insert_with(FieldTree::default);
                    merge(sub, &field.node.selection_set, document, spreads);
                }
            }
            Selection::InlineFragment(inline) => {
                merge(tree, &inline.node.selection_set, document, spreads);
            }
            Selection::FragmentSpread(spread) => {
                if let Some(count) = spreads.filter(|count| *count < 32)
                    && let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                {
                    merge(
                        tree,
                        &fragment.node.selection_set,
                        document,
                        Some(count + 1),
                    );
                }
            }
        }
    }
}

/// As the SDK counts it: one more level for each nested field.
fn depth(tree: &FieldTree, level: usize) -> usize {
    if tree.0.is_empty() {
        return level;
    }
    tree.0
        .values()
        .map(|sub| match sub {
            Some(sub) => depth(sub, level + 1),
            None => level + 1,
        })
        .max()
        .unwrap_or(level)
}

/// Every field, nested ones included.
fn height(tree: &FieldTree) -> usize {
    tree.0
        .values()
        .map(|sub| 1 + sub.as_ref().map_or(0, height))
        .sum()
}

/// The kinds `tree` reads: a root field named after a kind, then the peers of the
/// relationships selected under its nodes (`edges { node { ... } }`, `node { ... }`).
fn models_in(
    schema: &SchemaBranch,
    tree: &FieldTree,
    current: Option<&ModelSchema>,
    models: &mut BTreeSet<String>,
) {
    for (name, sub) in &tree.0 {
        let Some(sub) = sub else { continue };
        let next = match current {
            None => schema.get(name),
            Some(model) => match model.relationship(name) {
                Some(relationship) => schema.get(&relationship.peer),
                // `edges`, `node`, `count` and the like stay on the same model.
                None if model.attribute(name).is_none() => Some(model),
                None => None,
            },
        };
        if let Some(next) = next {
            if current.is_none_or(|c| c.kind() != next.kind()) {
                models.insert(next.kind());
            }
            models_in(schema, sub, Some(next), models);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: &str = "query Devices($name: String!, $limit: Int = 10, $tags: [String!]!, $opt: String) {
  LabDevice(name__value: $name, limit: $limit) {
    count
    edges { node { id name { value } site { node { name { value } } } ... on LabDevice { role { value } } ...Extra } }
  }
  BuiltinTag { edges { node { name { value } } } }
}
fragment Extra on LabDevice { description { value } }
";

    #[test]
    fn variables_operations_depth_and_height_match_the_sdk_analyzer() {
        // The expected values are what infrahub_sdk.analyzer.GraphQLQueryAnalyzer answers.
        let document = async_graphql_parser::parse_query(QUERY).unwrap();
        assert_eq!(
            Value::Array(variables(&document)),
            json!([
                {"name": "name", "type": "String", "required": true, "default_value": null},
                {"name": "limit", "type": "Int", "required": false, "default_value": 10},
                {"name": "tags", "type": "String", "required": true, "default_value": null},
                {"name": "opt", "type": "String", "required": false, "default_value": null},
            ])
        );
        assert_eq!(operations(&document), ["query", "query"]);
        let mut fields = FieldTree::default();
        for (_, operation) in document.operations.iter() {
            merge(&mut fields, &operation.node.selection_set, &document, None);
        }
        assert_eq!((depth(&fields, 1), height(&fields)), (8, 18));
    }
}
