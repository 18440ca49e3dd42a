//! Request bodies and query strings: JSON parsing and field checks that report problems the
//! way FastAPI does, so clients that parse upstream's 422 answers can parse ours.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value, json};

use super::error::{RestError, detail};
use crate::app::ApiError;
use crate::state::AppState;

/// A request body parsed as JSON whatever its content type; `None` when the body is empty.
///
/// The rejection is a 422 `json_invalid` detail for text that is not JSON, or the status of
/// the underlying body error (413 for a body over the route's size limit).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JsonBody(pub(crate) Option<Value>);

impl FromRequest<Arc<AppState>> for JsonBody {
    type Rejection = RestError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, RestError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a body; empty (or blank) bodies are `None`.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Option<Value>, RestError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes).map(Some).map_err(|error| {
        let position = offset(bytes, error.line(), error.column());
        RestError::Invalid(vec![json!({
            "type": "json_invalid",
            "loc": ["body", position],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": error.to_string()},
        })])
    })
}

/// The character offset of (1-based) `line` and `column` in `bytes`.
fn offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let before: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count())
        .sum();
    before + column.saturating_sub(1)
}

/// Checks the fields of an object body, collecting every problem as pydantic does, so one
/// answer lists them all.
#[derive(Debug)]
pub(crate) struct BodyFields<'a> {
    object: Option<&'a Map<String, Value>>,
    errors: Vec<Value>,
}

impl<'a> BodyFields<'a> {
    /// Starts checking `body`, which must be a JSON object when `required` (a missing body is
    /// then an error) or may be absent otherwise.
    pub(crate) fn new(body: Option<&'a Value>, required: bool) -> Self {
        let mut errors = Vec::new();
        let object = match body {
            Some(Value::Object(map)) => Some(map),
            Some(other) => {
                errors.push(detail(
                    "model_attributes_type",
                    vec![json!("body")],
                    "Input should be a valid dictionary or object to extract fields from",
                    other.clone(),
                ));
                None
            }
            None if required => {
                errors.push(detail(
                    "missing",
                    vec![json!("body")],
                    "Field required",
                    Value::Null,
                ));
                None
            }
            None => None,
        };
        BodyFields { object, errors }
    }

    fn whole(&self) -> Value {
        self.object
            .map_or(Value::Null, |map| Value::Object(map.clone()))
    }

    /// A field that must be present; records "Field required" otherwise.
    fn required(&mut self, name: &str) -> Option<&'a Value> {
        let object = self.object?;
        let value = object.get(name);
        if value.is_none() {
            let input = self.whole();
            self.errors.push(detail(
                "missing",
                vec![json!("body"), json!(name)],
                "Field required",
                input,
            ));
        }
        value
    }

    /// A required string field.
    pub(crate) fn string(&mut self, name: &str) -> Option<&'a str> {
        let value = self.required(name)?;
        let text = value.as_str();
        if text.is_none() {
            self.errors.push(detail(
                "string_type",
                vec![json!("body"), json!(name)],
                "Input should be a valid string",
                value.clone(),
            ));
        }
        text
    }

    /// A required list field.
    pub(crate) fn list(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        let value = self.required(name)?;
        let list = value.as_array();
        if list.is_none() {
            self.errors.push(detail(
                "list_type",
                vec![json!("body"), json!(name)],
                "Input should be a valid list",
                value.clone(),
            ));
        }
        list
    }

    /// An optional object field; `None` when absent (or `null`).
    pub(crate) fn optional_object(&mut self, name: &str) -> Option<&'a Map<String, Value>> {
        let value = self.object?.get(name)?;
        if value.is_null() {
            return None;
        }
        let object = value.as_object();
        if object.is_none() {
            self.errors.push(detail(
                "dict_type",
                vec![json!("body"), json!(name)],
                "Input should be a valid dictionary",
                value.clone(),
            ));
        }
        object
    }

    /// An optional list field; `None` when absent (or `null`).
    pub(crate) fn optional_array(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        let value = self.object?.get(name)?;
        if value.is_null() {
            return None;
        }
        let list = value.as_array();
        if list.is_none() {
            self.errors.push(detail(
                "list_type",
                vec![json!("body"), json!(name)],
                "Input should be a valid list",
                value.clone(),
            ));
        }
        list
    }

    /// Records a problem found by the caller.
    pub(crate) fn push(&mut self, entry: Value) {
        self.errors.push(entry);
    }

    /// `Ok` when no problem was recorded, else the 422 listing them all.
    pub(crate) fn finish(self) -> Result<(), RestError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(RestError::Invalid(self.errors))
        }
    }
}

/// Query-string parameters in order, repeated names kept (`?namespaces=A&namespaces=B`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(pairs)| Params(pairs))
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
    }
}

impl Params {
    /// The last value of `name`, as FastAPI reads single-valued parameters.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// A boolean parameter as FastAPI parses it; a 422 detail for other text.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, RestError> {
        let Some(text) = self.get(name) else {
            return Ok(false);
        };
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(RestError::Invalid(vec![detail(
                "bool_parsing",
                vec![json!("query"), json!(name)],
                "Input should be a valid boolean, unable to interpret input",
                json!(text),
            )])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(result: Result<(), RestError>) -> Vec<Value> {
        match result {
            Err(RestError::Invalid(detail)) => detail,
            other => panic!("expected a 422 detail, got {other:?}"),
        }
    }

    #[test]
    fn every_missing_or_mistyped_field_is_reported() {
        let body = json!({"username": 5});
        let mut fields = BodyFields::new(Some(&body), true);
        assert_eq!(fields.string("username"), None);
        assert_eq!(fields.string("password"), None);
        let detail = problems(fields.finish());
        assert_eq!(detail.len(), 2);
        assert_eq!(detail[0]["type"], "string_type");
        assert_eq!(detail[0]["input"], 5);
        assert_eq!(detail[1]["type"], "missing");
        assert_eq!(detail[1]["loc"], json!(["body", "password"]));
    }

    #[test]
    fn a_missing_or_non_object_body_is_reported_once() {
        let mut fields = BodyFields::new(None, true);
        assert_eq!(fields.string("username"), None);
        let detail = problems(fields.finish());
        assert_eq!(detail, vec![detail_missing_body()]);
        let list = json!([]);
        let detail = problems(BodyFields::new(Some(&list), true).finish());
        assert_eq!(detail[0]["type"], "model_attributes_type");
        assert!(BodyFields::new(None, false).finish().is_ok());
    }

    fn detail_missing_body() -> Value {
        json!({"type": "missing", "loc": ["body"], "msg": "Field required", "input": null})
    }

    #[test]
    fn invalid_json_gives_the_error_position() {
        let error = parse_json(b"{\"a\": 1,\n\"b\": x}").unwrap_err();
        let RestError::Invalid(detail) = error else {
            panic!("expected a 422 detail");
        };
        assert_eq!(detail[0]["type"], "json_invalid");
        assert_eq!(detail[0]["loc"], json!(["body", 14]));
        assert_eq!(parse_json(b"  ").unwrap(), None);
    }

    #[test]
    fn parameters_keep_repeats_and_the_last_value_wins() {
        let params = Params(vec![
            ("namespaces".into(), "A".into()),
            ("branch".into(), "x".into()),
            ("namespaces".into(), "B".into()),
            ("branch".into(), "y".into()),
        ]);
        assert_eq!(params.all("namespaces"), ["A", "B"]);
        assert_eq!(params.get("branch"), Some("y"));
        assert_eq!(params.get("at"), None);
        assert_eq!(
            Params(vec![("f".into(), "TRUE".into())]).flag("f").ok(),
            Some(true)
        );
        assert!(
            Params(vec![("f".into(), "maybe".into())])
                .flag("f")
                .is_err()
        );
    }
}
