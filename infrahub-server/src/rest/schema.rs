//! `/api/schema`: read a branch's schema, its hashes or one model; load or check schema files.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use infrahub_core::ErrorKind;
use infrahub_core::schema::{SchemaBranch, SchemaError, SchemaFile, model_json};
use serde_json::{Value, json};

use super::body::{BodyFields, JsonBody, Params};
use super::branch_schema;
use super::error::{RestError, detail};
use crate::app::{ApiError, AppState};
use crate::auth::{Authenticated, Caller, require_global_permission};

/// `GET /api/schema?branch=&namespaces=`: every model of the branch but the `Internal` ones,
/// optionally only those of the given namespaces; 400 for an unknown branch.
pub(super) async fn get_schema(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    params: Params,
) -> Result<Response, RestError> {
    let (branch, schema) = branch_schema(&state, &params)?;
    let namespaces = params.all("namespaces");
    if !namespaces.is_empty() {
        return Ok(Json(schema.api_json(Some(&namespaces))).into_response());
    }
    let body = state
        .schema_docs
        .get_or_render(&branch, &schema, Document::Schema, || schema.api_json(None));
    Ok(json_bytes(body))
}

/// `GET /api/schema/summary?branch=`: `{main, nodes: {kind: hash}, generics: {kind: hash}}`.
pub(super) async fn summary(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    params: Params,
) -> Result<Response, RestError> {
    let (branch, schema) = branch_schema(&state, &params)?;
    let body = state
        .schema_docs
        .get_or_render(&branch, &schema, Document::Summary, || {
            json!(schema.hash_full())
        });
    Ok(json_bytes(body))
}

/// A response with an already serialized JSON body.
fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The schema documents [`SchemaDocCache`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Document {
    /// `GET /api/schema` without a namespace filter.
    Schema,
    /// `GET /api/schema/summary`.
    Summary,
}

#[derive(Debug)]
struct Rendered {
    /// The schema the documents were rendered from; kept alive so that pointer equality
    /// means "same schema".
    schema: Arc<SchemaBranch>,
    schema_json: Option<Bytes>,
    summary_json: Option<Bytes>,
}

/// The serialized `GET /api/schema` and `/api/schema/summary` answers of each branch, reused
/// until the branch's schema changes: rendering them hashes every model, which is too slow to
/// repeat for every client that fetches the schema.
#[derive(Debug, Default)]
pub struct SchemaDocCache {
    branches: RwLock<HashMap<String, Rendered>>,
}

impl SchemaDocCache {
    fn get_or_render(
        &self,
        branch: &str,
        schema: &Arc<SchemaBranch>,
        document: Document,
        render: impl FnOnce() -> Value,
    ) -> Bytes {
        let pick = |rendered: &Rendered| match document {
            Document::Schema => rendered.schema_json.clone(),
            Document::Summary => rendered.summary_json.clone(),
        };
        if let Ok(branches) = self.branches.read()
            && let Some(rendered) = branches.get(branch)
            && Arc::ptr_eq(&rendered.schema, schema)
            && let Some(body) = pick(rendered)
        {
            return body;
        }
        let body = Bytes::from(render().to_string());
        if let Ok(mut branches) = self.branches.write() {
            let rendered = branches
                .entry(branch.to_string())
                .or_insert_with(|| Rendered {
                    schema: Arc::clone(schema),
                    schema_json: None,
                    summary_json: None,
                });
            if !Arc::ptr_eq(&rendered.schema, schema) {
                *rendered = Rendered {
                    schema: Arc::clone(schema),
                    schema_json: None,
                    summary_json: None,
                };
            }
            match document {
                Document::Schema => rendered.schema_json = Some(body.clone()),
                Document::Summary => rendered.summary_json = Some(body.clone()),
            }
        }
        body
    }
}

/// `GET /api/schema/{kind}?branch=`: one model of any category, `Internal` ones included; 422
/// for an unknown kind, as upstream.
pub(super) async fn get_kind(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path(kind): Path<String>,
    params: Params,
) -> Result<Json<Value>, RestError> {
    let (branch, schema) = branch_schema(&state, &params)?;
    let model = schema.get(&kind).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("kind `{kind}` not found in the schema of branch `{branch}`"),
        )
    })?;
    Ok(Json(model_json(model)))
}

/// `POST /api/schema/load?branch=` with `{"schemas": [...]}`: 200 `{hash, previous_hash,
/// diff, schema_updated}`. Loading the current schema again changes nothing and answers
/// `hash == previous_hash`. Needs the `manage_schema` global permission (and
/// `edit_default_branch` on the default branch); 403 otherwise.
pub(super) async fn load(
    State(state): State<Arc<AppState>>,
    Authenticated(account): Authenticated,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Response, RestError> {
    let (branch, _) = branch_schema(&state, &params)?;
    // As upstream: `manage_schema` for the branch, and `edit_default_branch` on the default one.
    require_global_permission(&state, &account, "manage_schema").await?;
    if branch == state.engine.default_branch() {
        require_global_permission(&state, &account, "edit_default_branch").await?;
    }
    let files = schema_files(body.as_ref())?;
    let outcome = state
        .engine
        .load_schema(&branch, files, false)
        .await
        .map_err(|error| schema_error(&error))?;
    Ok(Json(json!({
        "hash": outcome.hash,
        "previous_hash": outcome.previous_hash,
        "diff": outcome.diff,
        "schema_updated": outcome.schema_updated,
    }))
    .into_response())
}

/// `POST /api/schema/check?branch=` with `{"schemas": [...]}`: 202 `{diff}` when the files
/// could be loaded, 422 otherwise; changes nothing.
pub(super) async fn check(
    State(state): State<Arc<AppState>>,
    _caller: Authenticated,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<Response, RestError> {
    let (branch, _) = branch_schema(&state, &params)?;
    let files = schema_files(body.as_ref())?;
    let outcome = state
        .engine
        .load_schema(&branch, files, true)
        .await
        .map_err(|error| schema_error(&error))?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "diff": outcome.diff }))).into_response())
}

/// The status of a failed load or check: 422 for anything wrong with the schema or with the
/// data it would invalidate, 500 for storage failures, 503 when the database cannot be reached.
fn schema_error(error: &infrahub_core::Error) -> ApiError {
    let status = match error.kind() {
        ErrorKind::Storage | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, error.message())
}

/// Parses the `schemas` of a load or check body; every malformed element is reported in one
/// 422 `detail` list located as `["body", "schemas", i, "nodes", j, ...]`.
fn schema_files(body: Option<&Value>) -> Result<Vec<SchemaFile>, RestError> {
    let mut fields = BodyFields::new(body, true);
    let schemas = fields.list("schemas");
    let mut files = Vec::new();
    for (index, item) in schemas.into_iter().flatten().enumerate() {
        let base = vec![json!("body"), json!("schemas"), json!(index)];
        if !item.is_object() {
            fields.push(detail(
                "model_attributes_type",
                base,
                "Input should be a valid dictionary or object to extract fields from",
                item.clone(),
            ));
            continue;
        }
        match item.get("version") {
            Some(Value::String(_)) => {}
            Some(other) => fields.push(detail(
                "string_type",
                with(&base, json!("version")),
                "Input should be a valid string",
                other.clone(),
            )),
            None => fields.push(detail(
                "missing",
                with(&base, json!("version")),
                "Field required",
                item.clone(),
            )),
        }
        match SchemaFile::from_value(item.clone(), Some(&format!("schemas[{index}]"))) {
            Ok(file) => files.push(file),
            Err(errors) => {
                for error in errors {
                    fields.push(file_error(&base, item, &error));
                }
            }
        }
    }
    fields.finish()?;
    if files.is_empty() {
        return Err(RestError::Api(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot merge an empty list of schemas",
        )));
    }
    Ok(files)
}

fn with(base: &[Value], last: Value) -> Vec<Value> {
    let mut loc = base.to_vec();
    loc.push(last);
    loc
}

/// A problem of one schema file as a `detail` entry, its input being the offending value.
fn file_error(base: &[Value], file: &Value, error: &SchemaError) -> Value {
    let path = path_segments(&error.path);
    let mut loc = base.to_vec();
    loc.extend(path.iter().cloned());
    let input = path
        .iter()
        .try_fold(file, |value, segment| match segment {
            Value::String(key) => value.get(key.as_str()),
            Value::Number(index) => index
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| value.get(i)),
            _ => None,
        })
        .cloned()
        .unwrap_or(Value::Null);
    detail(
        "value_error",
        loc,
        &format!("Value error, {}", error.message),
        input,
    )
}

/// `nodes[3].attributes[1].kind` as `["nodes", 3, "attributes", 1, "kind"]`.
fn path_segments(path: &str) -> Vec<Value> {
    let mut segments = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(name) = pieces.next().filter(|n| !n.is_empty()) {
            segments.push(json!(name));
        }
        for index in pieces {
            let index = index.trim_end_matches(']');
            match index.parse::<u64>() {
                Ok(number) => segments.push(json!(number)),
                Err(_) => segments.push(json!(index)),
            }
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_paths_become_fastapi_locations() {
        assert_eq!(
            path_segments("nodes[3].attributes[1].kind"),
            vec![
                json!("nodes"),
                json!(3),
                json!("attributes"),
                json!(1),
                json!("kind")
            ]
        );
        assert_eq!(
            path_segments("extensions.nodes[0]"),
            vec![json!("extensions"), json!("nodes"), json!(0)]
        );
        assert!(path_segments("").is_empty());
    }

    #[test]
    fn malformed_files_are_reported_with_location_and_input() {
        let body = json!({"schemas": [
            {"version": "1.0", "nodes": [{"name": "Device", "namespace": "Test",
              "attributes": [{"name": "name", "kind": "Bogus"}]}]},
            {"nodes": []},
            7
        ]});
        let Err(RestError::Invalid(detail)) = schema_files(Some(&body)) else {
            panic!("expected a 422 detail");
        };
        let first = &detail[0];
        let loc = first["loc"].as_array().unwrap();
        assert_eq!(
            &loc[..5],
            &[
                json!("body"),
                json!("schemas"),
                json!(0),
                json!("nodes"),
                json!(0)
            ]
        );
        assert!(first["msg"].as_str().unwrap().contains("Bogus"), "{first}");
        assert!(detail.iter().any(
            |d| d["loc"] == json!(["body", "schemas", 1, "version"]) && d["type"] == "missing"
        ));
        assert!(
            detail
                .iter()
                .any(|d| d["loc"] == json!(["body", "schemas", 2]))
        );
    }

    #[test]
    fn rendered_documents_are_reused_until_the_schema_changes() {
        let cache = SchemaDocCache::default();
        let first = Arc::new(SchemaBranch::new());
        let render = |n: u8| move || json!(n);
        assert_eq!(
            cache.get_or_render("main", &first, Document::Schema, render(1)),
            "1"
        );
        assert_eq!(
            cache.get_or_render("main", &first, Document::Schema, render(2)),
            "1"
        );
        assert_eq!(
            cache.get_or_render("main", &first, Document::Summary, render(3)),
            "3"
        );
        assert_eq!(
            cache.get_or_render("other", &first, Document::Schema, render(4)),
            "4"
        );
        let second = Arc::new(SchemaBranch::new());
        assert_eq!(
            cache.get_or_render("main", &second, Document::Schema, render(5)),
            "5"
        );
        assert_eq!(
            cache.get_or_render("main", &second, Document::Summary, render(6)),
            "6"
        );
    }

    #[test]
    fn a_body_without_schemas_is_a_missing_field() {
        let Err(RestError::Invalid(detail)) = schema_files(Some(&json!({}))) else {
            panic!("expected a 422 detail");
        };
        assert_eq!(detail[0]["loc"], json!(["body", "schemas"]));
        let files = schema_files(Some(&json!({"schemas": [{"version": "1.0"}]}))).unwrap();
        assert_eq!(files.len(), 1);
    }
}
