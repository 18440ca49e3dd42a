//! Documents already validated against a GraphQL schema. Clients send the same documents over
//! and over with other variables (the SDK pages with `$offset`/`$limit` and sends text values
//! as `String!` variables), and the rules of GraphQL validation depend only on the schema and
//! the document, except for the values of the variables. So once a document passed validation,
//! later requests with it skip the rules when every variable is of a built-in scalar type (or
//! `GenericScalar`, or lists of them) and its value is valid for that type, which is checked
//! here with the scalar types' own parsing. Anything else is validated as usual. Documents are
//! remembered by their shape (see [`super::lex`]): the SDK writes values inline, and a
//! document that differs from a validated one only in literal values that validation treats
//! alike passes as that one did. Each request brings what the lexer read of it as request data
//! ([`DocumentIdentity`]), so that nothing is read twice.
//!
//! The cache is an extension of one generated schema, so it never outlives the schema it
//! validated against.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::parser::types::{BaseType, ExecutableDocument, Type};
use async_graphql::{InputType, ServerError, ValidationResult, Variables};
use async_graphql::{Name, Value as ConstValue};

use super::build::GENERIC_SCALAR;

/// How many documents are remembered; the cache starts over when it is full.
const CAPACITY: usize = 512;

/// What a request's document is remembered by, handed to the extension as request data: its
/// shape (documents that differ only in literal values of one class validate alike), or its
/// own text when it has none; and whether its variables let validation be skipped.
#[derive(Clone, Debug)]
pub(crate) struct DocumentIdentity {
    /// The shape, or `None` (the document is then known by its text).
    pub shape: Option<String>,
    /// The text, kept only for documents without a shape.
    pub text: Option<String>,
    /// The operation the request runs.
    pub operation: Option<String>,
    /// Whether every variable is plain and valid (see [`variables_are_simple`]).
    pub simple_variables: bool,
}

/// Validation results of one document, by operation.
type Results = Vec<(Option<String>, ValidationResult)>;

/// Validation results by document shape, or by text for documents without one.
#[derive(Default)]
struct Passed {
    shapes: HashMap<String, Results>,
    texts: HashMap<String, Results>,
}

impl Passed {
    /// The result remembered for the document `identity` names.
    fn remembered(&self, identity: &DocumentIdentity) -> Option<ValidationResult> {
        let results = match (&identity.shape, &identity.text) {
            (Some(shape), _) => self.shapes.get(shape),
            (None, Some(text)) => self.texts.get(text),
            (None, None) => None,
        }?;
        results
            .iter()
            .find(|(name, _)| *name == identity.operation)
            .map(|(_, result)| *result)
    }

    /// Remembers that the document `identity` names passed, starting over when [`CAPACITY`]
    /// documents are held.
    fn remember(&mut self, identity: &DocumentIdentity, result: ValidationResult) {
        if self.shapes.len() + self.texts.len() >= CAPACITY {
            self.shapes.clear();
            self.texts.clear();
        }
        let results = match (&identity.shape, &identity.text) {
            (Some(shape), _) => self.shapes.entry(shape.clone()).or_default(),
            (None, Some(text)) => self.texts.entry(text.clone()).or_default(),
            (None, None) => return,
        };
        results.push((identity.operation.clone(), result));
    }
}

/// The validated documents of one schema (an [`ExtensionFactory`] to install on it).
#[derive(Clone, Default)]
pub(crate) struct ValidatedDocuments {
    passed: Arc<Mutex<Passed>>,
}

impl ValidatedDocuments {
    /// Whether the document `identity` names passed validation.
    pub(crate) fn passed(&self, identity: &DocumentIdentity) -> bool {
        self.passed
            .lock()
            .is_ok_and(|passed| passed.remembered(identity).is_some())
    }
}

impl ExtensionFactory for ValidatedDocuments {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestValidation {
            passed: Arc::clone(&self.passed),
        })
    }
}

/// The extension instance of one request.
struct RequestValidation {
    passed: Arc<Mutex<Passed>>,
}

#[async_trait::async_trait]
impl Extension for RequestValidation {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let Some(identity) = ctx.data_opt::<DocumentIdentity>() else {
            return next.run(ctx).await;
        };
        if identity.simple_variables
            && let Some(result) = self
                .passed
                .lock()
                .ok()
                .and_then(|passed| passed.remembered(identity))
        {
            return Ok(result);
        }
        let result = next.run(ctx).await?;
        if identity.simple_variables
            && let Ok(mut passed) = self.passed.lock()
        {
            passed.remember(identity, result);
        }
        Ok(result)
    }
}

/// Whether every variable every operation of `document` declares has a built-in scalar type
/// (or `GenericScalar`, or lists of them) and a value, given or default, valid for it.
pub(crate) fn variables_are_simple(document: &ExecutableDocument, variables: &Variables) -> bool {
    document.operations.iter().all(|(_, operation)| {
        operation
            .node
            .variable_definitions
            .iter()
            .all(|definition| {
                let definition = &definition.node;
                let value = variables
                    .get(&definition.name.node)
                    .cloned()
                    .or_else(|| definition.default_value().cloned());
                value_fits(&definition.var_type.node, value.as_ref())
            })
    })
}

/// Whether `value` (absent: `None`) is valid for a variable of type `ty`.
pub(crate) fn value_fits(ty: &Type, value: Option<&ConstValue>) -> bool {
    let value = match value {
        None | Some(ConstValue::Null) => return ty.nullable,
        Some(value) => value,
    };
    match &ty.base {
        BaseType::List(item) => match value {
            ConstValue::List(items) => items.iter().all(|v| value_fits(item, Some(v))),
            single => value_fits(item, Some(single)),
        },
        BaseType::Named(name) => scalar_fits(name, value),
    }
}

/// Whether `value` is valid for the scalar `name`, as the scalar's own parsing says; other
/// types (enums, input objects, custom scalars with rules) are never taken as simple.
fn scalar_fits(name: &Name, value: &ConstValue) -> bool {
    let value = Some(value.clone());
    match name.as_str() {
        "Int" => <i32 as InputType>::parse(value).is_ok(),
        "Float" => <f64 as InputType>::parse(value).is_ok(),
        "String" => <String as InputType>::parse(value).is_ok(),
        "Boolean" => <bool as InputType>::parse(value).is_ok(),
        "ID" => <async_graphql::ID as InputType>::parse(value).is_ok(),
        other => other == GENERIC_SCALAR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use serde_json::json;

    fn simple(query: &str, variables: serde_json::Value) -> bool {
        let document = parse_query(query).unwrap_or_else(|e| panic!("{e}"));
        variables_are_simple(&document, &Variables::from_json(variables))
    }

    #[test]
    fn scalar_variables_with_valid_values_are_simple() {
        let query = "query Q($offset: Int!, $limit: Int!, $name: String, $ids: [String!]!, \
                     $any: GenericScalar) { a }";
        assert!(simple(
            query,
            json!({"offset": 0, "limit": 50, "ids": ["a", "b"], "any": {"x": [1]}})
        ));
        assert!(simple(query, json!({"offset": 0, "limit": 50, "ids": "a"})));
        assert!(simple("{ a }", json!({})));
    }

    #[test]
    fn wrong_missing_or_complex_variables_are_not() {
        let query = "query Q($offset: Int!, $name: String!) { a }";
        assert!(!simple(query, json!({"offset": "0", "name": "x"})));
        assert!(!simple(query, json!({"offset": 1u64 << 40, "name": "x"})));
        assert!(!simple(query, json!({"offset": 0})));
        assert!(!simple(query, json!({"offset": 0, "name": null})));
        assert!(!simple(
            "query Q($ids: [String!]!) { a }",
            json!({"ids": ["a", null]})
        ));
        assert!(!simple(
            "query Q($at: DateTime) { a }",
            json!({"at": "2020-01-01T00:00:00Z"})
        ));
        assert!(!simple(
            "mutation M($data: InfraDeviceCreateInput!) { a }",
            json!({"data": {}})
        ));
        assert!(simple("query Q($limit: Int = 10) { a }", json!({})));
    }
}
