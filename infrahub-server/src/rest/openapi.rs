//! `GET /api/openapi.json`: an OpenAPI 3.1 description of the REST endpoints this server
//! serves. Tests check that every path and method it lists is routed.

use axum::Json;
use serde_json::{Value, json};

use crate::app::VERSION;

/// `GET /api/openapi.json`.
pub(super) async fn get_openapi() -> Json<Value> {
    Json(document())
}

fn branch_param() -> Value {
    json!({"name": "branch", "in": "query", "required": false,
           "description": "Name of the branch (default: the default branch)",
           "schema": {"type": "string"}})
}

fn at_param() -> Value {
    json!({"name": "at", "in": "query", "required": false,
           "description": "Time to read at: ISO-8601, or relative like `5m`",
           "schema": {"type": "string"}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string"}})
}

/// The parameters of `/api/query/{query_id}`.
fn query_group_params() -> Vec<Value> {
    vec![
        path_param("query_id", "Id or name of the CoreGraphQLQuery"),
        branch_param(),
        at_param(),
        json!({"name": "update_group", "in": "query", "required": false,
               "description": "Record the nodes of the answer as members of the CoreGraphQLQueryGroup `<query>__<hash of the variables>` (authenticated callers only)",
               "schema": {"type": "boolean", "default": false}}),
        json!({"name": "subscribers", "in": "query", "required": false,
               "description": "Ids of nodes (artifacts, generator instances) to add to that group's subscribers; at most 100",
               "schema": {"type": "array", "items": {"type": "string"}}}),
    ]
}

fn json_body(schema: &str, required: bool) -> Value {
    json!({"required": required,
           "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn answer(description: &str, schema: Option<&str>) -> Value {
    match schema {
        Some(schema) => json!({"description": description,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}),
        None => json!({"description": description}),
    }
}

fn errors(codes: &[(u16, &str)]) -> Vec<(String, Value)> {
    codes
        .iter()
        .map(|(code, description)| {
            let schema = if *code == 422 {
                "HTTPValidationError"
            } else {
                "ErrorEnvelope"
            };
            (code.to_string(), answer(description, Some(schema)))
        })
        .collect()
}

/// One operation: `summary`, parameters, optional body and the answers by status.
fn operation(
    id: &str,
    summary: &str,
    parameters: Vec<Value>,
    body: Option<Value>,
    ok: (&str, Value),
    failures: &[(u16, &str)],
) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert(ok.0.to_string(), ok.1);
    for (code, value) in errors(failures) {
        responses.insert(code, value);
    }
    let mut op = json!({
        "operationId": id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
        "security": [{"HTTPBearer": []}, {"APIKeyHeader": []}, {}],
    });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

/// The OpenAPI document.
pub(crate) fn document() -> Value {
    let unauthorized = (401, "Credentials missing or not valid");
    let validation = (422, "Request body or parameters of the wrong shape");
    let unknown_branch = (400, "Unknown branch");
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Infrahub", "version": VERSION,
                 "description": "REST API of infrahub-rs, compatible with Infrahub 1.4"},
        "paths": {
            "/api/auth/login": {"post": operation(
                "login", "Sign in with a user name and password",
                vec![], Some(json_body("PasswordCredential", true)),
                ("200", answer("Access and refresh tokens (also set as cookies)", Some("UserToken"))),
                &[unauthorized, (404, "Unknown account"), validation])},
            "/api/auth/refresh": {"post": operation(
                "refresh", "Get a new access token with a refresh token in `Authorization: Bearer`",
                vec![], None,
                ("200", answer("A new access token", Some("AccessTokenResponse"))),
                &[unauthorized])},
            "/api/auth/logout": {"post": operation(
                "logout", "Close the session of the access token; its refresh token stops working",
                vec![], None, ("200", answer("`null`; the cookies are cleared", None)), &[unauthorized])},
            "/api/config": {"get": operation(
                "get_config", "Public configuration for the web frontend",
                vec![], None, ("200", answer("Configuration", Some("Config"))), &[])},
            "/api/info": {"get": operation(
                "get_info", "Version and deployment id",
                vec![], None, ("200", answer("Server information", Some("Info"))), &[])},
            "/api/menu": {"get": operation(
                "get_menu", "Navigation menu of the web frontend",
                vec![branch_param()], None, ("200", answer("Menu sections", Some("Menu"))),
                &[unknown_branch, unauthorized])},
            "/api/schema": {"get": operation(
                "get_schema", "Every model of a branch's schema (Internal namespace excluded)",
                vec![branch_param(), json!({"name": "namespaces", "in": "query", "required": false,
                    "description": "Keep only models of these namespaces (repeatable)",
                    "schema": {"type": "array", "items": {"type": "string"}}})],
                None, ("200", answer("The schema", Some("SchemaRead"))),
                &[unknown_branch, unauthorized])},
            "/api/schema/summary": {"get": operation(
                "get_schema_summary", "Schema hashes of a branch",
                vec![branch_param()], None, ("200", answer("Hashes", Some("SchemaBranchHash"))),
                &[unknown_branch, unauthorized])},
            "/api/schema/{schema_kind}": {"get": operation(
                "get_schema_by_kind", "One model of a branch's schema",
                vec![path_param("schema_kind", "Kind of the model"), branch_param()], None,
                ("200", answer("The model", Some("Model"))),
                &[unknown_branch, unauthorized, (422, "Unknown kind")])},
            "/api/schema/load": {"post": operation(
                "load_schema", "Load schema files into a branch",
                vec![branch_param()], Some(json_body("SchemasLoad", true)),
                ("200", answer("Hashes before and after and what changed", Some("SchemaUpdate"))),
                &[unknown_branch, unauthorized, (403, "Missing the manage_schema permission"),
                  (422, "Invalid schema, or existing data breaks it")])},
            "/api/schema/check": {"post": operation(
                "check_schema", "Check schema files against a branch without loading them",
                vec![branch_param()], Some(json_body("SchemasLoad", true)),
                ("202", answer("What would change", Some("SchemaCheck"))),
                &[unknown_branch, unauthorized, (422, "Invalid schema, or existing data breaks it")])},
            "/api/query/{query_id}": {
                "get": operation(
                    "run_query_get", "Run a stored GraphQL query; other query parameters are its variables",
                    query_group_params(),
                    None, ("200", answer("`{data}` of the query", Some("QueryResult"))),
                    &[unknown_branch, unauthorized, (404, "Unknown query"), validation, (502, "The query failed")]),
                "post": operation(
                    "run_query_post", "Run a stored GraphQL query with `{\"variables\": {...}}`",
                    query_group_params(),
                    Some(json_body("QueryPayload", false)),
                    ("200", answer("`{data}` of the query", Some("QueryResult"))),
                    &[unknown_branch, unauthorized, (404, "Unknown query"), validation, (502, "The query failed")]),
            },
            "/api/diff/files": {"get": operation(
                "diff_files", "Files each repository's commit on a branch changes against the default branch",
                vec![branch_param(),
                     json!({"name": "time_from", "in": "query", "required": false, "schema": {"type": "string"}}),
                     json!({"name": "time_to", "in": "query", "required": false, "schema": {"type": "string"}})],
                None, ("200", json!({"description": "`{branch: {repository id: {branch, id, display_name, commit_from, commit_to, files}}}`", "content": {"application/json": {}}})),
                &[unknown_branch, unauthorized])},
            "/api/artifact/{artifact_id}": {"get": operation(
                "get_artifact", "Content of an artifact, with its content type",
                vec![path_param("artifact_id", "Id of the CoreArtifact"), branch_param(), at_param()], None,
                ("200", json!({"description": "The artifact", "content": {"text/plain": {}}})),
                &[unknown_branch, unauthorized, (403, "No view permission on CoreArtifact"),
                  (404, "No such artifact, or no content yet")])},
            "/api/artifact/generate/{definition_id}": {"post": operation(
                "generate_artifacts", "Generate the artifacts of a definition (all, or the artifacts listed in `nodes`)",
                vec![path_param("definition_id", "Id of the CoreArtifactDefinition"), branch_param()],
                Some(json!({"required": false, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"nodes": {"type": "array", "items": {"type": "string"}}}}}}})),
                ("200", json!({"description": "Submitted; `null`", "content": {"application/json": {}}})),
                &[unknown_branch, unauthorized, (403, "Missing create or update on CoreArtifact"),
                  (404, "No such definition"), validation])},
            "/api/transform/jinja2/{transform_id}": {"get": operation(
                "transform_jinja2", "Render a Jinja2 transform; other query parameters are its query's variables",
                vec![path_param("transform_id", "Id or name of the CoreTransformJinja2"), branch_param(), at_param()],
                None, ("200", json!({"description": "The rendered text", "content": {"text/plain": {}}})),
                &[unknown_branch, unauthorized, (404, "Unknown transform"),
                  (500, "The repository has no commit yet, or the template failed"), (502, "The query failed")])},
            "/api/transform/python/{transform_id}": {"get": operation(
                "transform_python", "Run a Python transform; other query parameters are its query's variables",
                vec![path_param("transform_id", "Id or name of the CoreTransformPython"), branch_param(), at_param()],
                None, ("200", json!({"description": "The JSON value the transform returned", "content": {"application/json": {}}})),
                &[unknown_branch, unauthorized, (404, "Unknown transform"),
                  (500, "The repository has no commit yet, the code failed or timed out, or Python is missing"),
                  (502, "The query failed")])},
            "/api/file/{repository_id}/{file_path}": {"get": operation(
                "get_repository_file", "A file of a repository at a commit (default: its current commit)",
                vec![path_param("repository_id", "Id or name of the repository"),
                     path_param("file_path", "Path of the file in the repository"),
                     branch_param(), at_param(),
                     json!({"name": "commit", "in": "query", "required": false, "schema": {"type": "string"},
                            "description": "Commit id (40 hexadecimal digits)"})],
                None, ("200", json!({"description": "The file", "content": {"text/plain": {}}})),
                &[unknown_branch, unauthorized, (400, "No commit, or a malformed one"),
                  (403, "A path outside the repository"), (404, "Unknown repository or file")])},
            "/api/storage/object/{identifier}": {"get": operation(
                "get_object", "Raw content of a stored object",
                vec![path_param("identifier", "Identifier returned by an upload")], None,
                ("200", json!({"description": "The content", "content": {"application/octet-stream": {}}})),
                &[unauthorized, (404, "No such object")])},
            "/api/storage/files/{node_id}": {"get": operation(
                "download_file_object", "Content of a file object, by node id",
                vec![path_param("node_id", "Id of a node whose kind inherits CoreFileObject")], None,
                ("200", json!({"description": "The file, with its media type", "content": {"application/octet-stream": {}}})),
                &[unauthorized, (400, "Not a file object"), (403, "No view permission"), (404, "No such node")])},
            "/api/storage/files/by-storage-id/{storage_id}": {"get": operation(
                "download_file_object_by_storage_id", "Content of a file object, by storage id",
                vec![path_param("storage_id", "The storage_id of the file object")], None,
                ("200", json!({"description": "The file, with its media type", "content": {"application/octet-stream": {}}})),
                &[unauthorized, (403, "No view permission"), (404, "No such file")])},
            "/api/storage/files/by-hfid/{kind}": {"get": operation(
                "download_file_object_by_hfid", "Content of a file object, by kind and hfid",
                vec![path_param("kind", "A kind inheriting CoreFileObject")], None,
                ("200", json!({"description": "The file, with its media type", "content": {"application/octet-stream": {}}})),
                &[unauthorized, (400, "Not a file object, or no hfid"), (403, "No view permission"), (404, "No such node")])},
            "/api/storage/upload/content": {"post": operation(
                "upload_content", "Store text content",
                vec![], Some(json_body("UploadContentPayload", true)),
                ("200", answer("Identifier and MD5 checksum", Some("UploadResponse"))),
                &[unauthorized, validation])},
            "/api/storage/upload/file": {"post": operation(
                "upload_file", "Store an uploaded file (multipart part `file`)",
                vec![], Some(json!({"required": true, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}}}}}})),
                ("200", answer("Identifier and MD5 checksum", Some("UploadResponse"))),
                &[unauthorized, validation])},
            "/api/openapi.json": {"get": operation(
                "get_openapi", "This document",
                vec![], None, ("200", answer("OpenAPI document", None)), &[])},
        },
        "components": {
            "securitySchemes": {
                "HTTPBearer": {"type": "http", "scheme": "bearer"},
                "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-INFRAHUB-KEY"},
            },
            "schemas": schemas(),
        },
    })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let hashes = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let diff = json!({"type": "object", "properties": {
        "added": {"type": "object"}, "changed": {"type": "object"}, "removed": {"type": "object"}}});
    json!({
        "PasswordCredential": object(&["username", "password"],
            json!({"username": string, "password": string})),
        "UserToken": object(&["access_token", "refresh_token"],
            json!({"access_token": string, "refresh_token": string})),
        "AccessTokenResponse": object(&["access_token"], json!({"access_token": string})),
        "Info": object(&["deployment_id", "version"],
            json!({"deployment_id": string, "version": string})),
        "Config": object(&["main", "logging", "analytics", "experimental_features", "sso",
                           "installation_type", "policy"], json!({
            "main": {"type": "object"}, "logging": {"type": "object"},
            "analytics": {"type": "object"}, "experimental_features": {"type": "object"},
            "sso": {"type": "object"}, "installation_type": string, "policy": {"type": "object"}})),
        "Menu": object(&["sections"], json!({"sections": {"type": "object", "properties": {
            "internal": {"type": "array", "items": {"$ref": "#/components/schemas/MenuItem"}},
            "object": {"type": "array", "items": {"$ref": "#/components/schemas/MenuItem"}}}}})),
        "MenuItem": object(&["namespace", "name", "label", "identifier", "children"], json!({
            "id": {"type": ["string", "null"]}, "namespace": string, "name": string,
            "description": string, "protected": {"type": "boolean"}, "label": string,
            "path": string, "icon": string, "kind": string, "order_weight": {"type": "integer"},
            "section": {"enum": ["object", "internal"]},
            "permissions": {"type": "array", "items": string},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/MenuItem"}},
            "identifier": string})),
        "Model": {"type": "object", "required": ["name", "namespace", "kind", "hash"],
                  "additionalProperties": true},
        "SchemaRead": object(&["main", "nodes", "generics", "profiles", "templates", "namespaces"], json!({
            "main": string,
            "nodes": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
            "generics": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
            "profiles": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
            "templates": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
            "namespaces": {"type": "array", "items": object(&["name", "user_editable"],
                json!({"name": string, "user_editable": {"type": "boolean"}}))}})),
        "SchemaBranchHash": object(&["main"], json!({"main": string, "nodes": hashes, "generics": hashes})),
        "SchemasLoad": object(&["schemas"], json!({"schemas": {"type": "array", "items": {
            "type": "object", "required": ["version"], "properties": {
                "version": string, "generics": {"type": "array"}, "nodes": {"type": "array"},
                "extensions": {"type": "object"}}}}})),
        "SchemaUpdate": object(&["hash", "previous_hash", "diff", "schema_updated"], json!({
            "hash": string, "previous_hash": string, "diff": diff,
            "schema_updated": {"type": "boolean"}})),
        "SchemaCheck": object(&["diff"], json!({"diff": diff})),
        "QueryPayload": json!({"type": "object", "properties": {"variables": {"type": "object"}}}),
        "QueryResult": object(&["data"], json!({"data": {"type": "object"}})),
        "UploadContentPayload": object(&["content"], json!({"content": string})),
        "UploadResponse": object(&["identifier", "checksum"],
            json!({"identifier": string, "checksum": string})),
        "ErrorEnvelope": object(&["data", "errors"], json!({
            "data": {"type": "null"},
            "errors": {"type": "array", "items": object(&["message", "extensions"], json!({
                "message": string,
                "extensions": object(&["code"], json!({"code": {"type": "integer"}}))}))}})),
        "HTTPValidationError": object(&["detail"], json!({"detail": {"type": "array", "items":
            object(&["loc", "msg", "type"], json!({
                "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                "msg": string, "type": string}))}})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_reference_resolves() {
        let document = document();
        let text = document.to_string();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling reference to {name}");
        }
        assert_eq!(document["openapi"], "3.1.0");
    }
}
