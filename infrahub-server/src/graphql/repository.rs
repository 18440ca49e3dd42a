//! What repository mutations do besides writing the node, as upstream: a new repository's
//! location and credentials are checked against the remote before anything is written, its
//! `internal_status` is `active` on the default branch and `staging` elsewhere, and its import
//! runs as a task (`git-repository-add-read-write` / `-read-only`); a read-only repository
//! whose `ref` or `commit` changes is pulled again (`git-repository-pull-read-only`).
//! `InfrahubRepositoryConnectivity` reruns the check, `InfrahubRepositoryProcess` the import.

use std::collections::BTreeMap;

use async_graphql::Error;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext,
    SchemaBuilder, TypeRef,
};
use infrahub_core::engine::{Fields, Node};
use infrahub_git::repository::{Remote, RepositoryErrorKind};
use infrahub_graph::BranchView;
use infrahub_worker::repositories::{
    GENERIC_REPOSITORY, PASSWORD_CREDENTIAL, READ_ONLY_REPOSITORY, READ_WRITE_REPOSITORY,
};
use infrahub_worker::workflows::{
    REPOSITORY_ADD_READ_ONLY, REPOSITORY_ADD_READ_WRITE, REPOSITORY_IMPORT,
    REPOSITORY_PULL_READ_ONLY,
};
use infrahub_worker::{RelatedNode, Submission};
use serde_json::{Map, Value, json};

use super::RequestContext;
use super::build::{engine_error, ready, request, to_json};

/// Whether `kind` is a concrete repository kind.
pub(crate) fn is_repository(kind: &str) -> bool {
    kind == READ_WRITE_REPOSITORY || kind == READ_ONLY_REPOSITORY
}

/// The `value` of attribute `name` in mutation data.
fn attribute_value<'a>(data: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    data.get(name).and_then(|a| a.get("value"))
}

fn set_attribute_value(data: &mut Map<String, Value>, name: &str, value: Value) {
    match data.get_mut(name) {
        Some(Value::Object(attribute)) => {
            attribute.insert("value".to_owned(), value);
        }
        _ => {
            data.insert(name.to_owned(), json!({ "value": value }));
        }
    }
}

/// `location` with `.git` appended when it is an HTTP(S) URL of one of `hosts` that does not
/// end in `.git` (upstream's `git.append_git_suffix`).
pub(crate) fn with_git_suffix(location: &str, hosts: &[String]) -> String {
    let trimmed = location.trim();
    let Some(rest) = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
    else {
        return trimmed.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let path = trimmed.trim_end_matches('/');
    if hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) && !path.ends_with(".git") {
        format!("{path}.git")
    } else {
        trimmed.to_owned()
    }
}

/// Reads the username and password of the credential `reference` (`{id}` or `{hfid}` of
/// mutation data) for a connectivity check.
async fn credential_remote(
    request: &RequestContext,
    location: &str,
    reference: Option<&Value>,
) -> Result<Remote, Error> {
    let mut remote = Remote::new(location.to_owned());
    let Some(Value::Object(reference)) = reference else {
        return Ok(remote);
    };
    let engine = &request.state.engine;
    let view = BranchView::now(engine.default_branch());
    let fields = Fields::default();
    let reference = reference.get("id").and_then(Value::as_str).or_else(|| {
        reference
            .get("hfid")
            .and_then(|h| h.get(0))
            .and_then(Value::as_str)
    });
    let found = match reference {
        Some(reference) => engine
            .find(&view, "CoreCredential", reference, &fields)
            .await
            .map_err(engine_error)?,
        None => None,
    };
    let Some(node) = found else {
        return Err(Error::new(
            "credential: no CorePasswordCredential matches the reference",
        ));
    };
    if node.kind != PASSWORD_CREDENTIAL {
        return Err(Error::new(format!(
            "credential: a {} cannot be used by a repository; only {PASSWORD_CREDENTIAL} is supported",
            node.kind
        )));
    }
    let text = |name: &str| {
        node.value(name)
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    remote.username = text("username");
    remote.password = text("password");
    Ok(remote)
}

/// Connects to `remote` on a blocking thread within the network timeout; the remote's
/// branches, or the message upstream's connectivity check gives.
async fn probe(
    request: &RequestContext,
    remote: Remote,
) -> Result<BTreeMap<String, String>, String> {
    let timeout = request.state.repositories.options().network_timeout;
    let job = tokio::task::spawn_blocking(move || infrahub_git::repository::probe(&remote));
    match tokio::time::timeout(timeout, job).await {
        Ok(Ok(Ok(heads))) => Ok(heads),
        Ok(Ok(Err(error))) => Err(match error.kind() {
            RepositoryErrorKind::Authentication => {
                format!("Authentication failed: {}", error.message())
            }
            _ => error.message().to_owned(),
        }),
        Ok(Err(join)) => Err(format!("the connectivity check failed: {join}")),
        Err(_) => Err(format!(
            "the remote did not answer within {} s",
            timeout.as_secs()
        )),
    }
}

/// Before a repository is created: normalises `location`, checks that the remote answers with
/// these credentials (nothing is written when it does not), picks the default branch of a
/// read-write repository when none is given (`main`, else the remote's `master`), and sets
/// `internal_status`.
pub(crate) async fn prepare_create(
    request: &RequestContext,
    kind: &str,
    data: &mut Map<String, Value>,
) -> Result<(), Error> {
    let Some(location) = attribute_value(data, "location").and_then(Value::as_str) else {
        return Err(Error::new("location: a value is required"));
    };
    let location = with_git_suffix(location, &request.state.settings.git.append_git_suffix);
    set_attribute_value(data, "location", json!(location));
    let remote = credential_remote(request, &location, data.get("credential")).await?;
    let heads = probe(request, remote)
        .await
        .map_err(|message| Error::new(format!("location: {message}")))?;
    if kind == READ_WRITE_REPOSITORY {
        let given = attribute_value(data, "default_branch")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_owned);
        let branch = match given {
            Some(branch) => branch,
            None if !heads.contains_key("main") && heads.contains_key("master") => {
                "master".to_owned()
            }
            None => "main".to_owned(),
        };
        set_attribute_value(data, "default_branch", json!(branch));
    } else if attribute_value(data, "ref")
        .and_then(Value::as_str)
        .is_some_and(|r| r.trim().is_empty())
    {
        data.remove("ref");
    }
    let status = if request.view.branch == request.state.engine.default_branch() {
        "active"
    } else {
        "staging"
    };
    set_attribute_value(data, "internal_status", json!(status));
    Ok(())
}

/// After a repository was created: submits its import, in the background.
pub(crate) async fn after_create(request: &RequestContext, node: &Node) -> Result<(), Error> {
    let branch = request.view.branch.clone();
    let name = node.value("name").as_str().unwrap_or_default().to_owned();
    let mut parameters = json!({
        "repository_id": node.id.to_string(),
        "repository_name": name,
        "location": node.value("location"),
        "infrahub_branch_name": branch,
        "internal_status": node.value("internal_status"),
    });
    let workflow = if node.kind == READ_ONLY_REPOSITORY {
        if let Some(reference) = node.value("ref").as_str() {
            parameters["ref"] = json!(reference);
        }
        REPOSITORY_ADD_READ_ONLY
    } else {
        if let Some(default_branch) = node.value("default_branch").as_str() {
            parameters["default_branch_name"] = json!(default_branch);
        }
        REPOSITORY_ADD_READ_WRITE
    };
    if let Some(account) = &request.account {
        parameters["created_by"] = json!(account.id.to_string());
    }
    submit(request, workflow, parameters, node).await
}

/// After a read-only repository was updated: a new `ref` or `commit` is pulled.
pub(crate) async fn after_update(
    request: &RequestContext,
    data: &Map<String, Value>,
    node: &Node,
) -> Result<(), Error> {
    if node.kind != READ_ONLY_REPOSITORY {
        return Ok(());
    }
    let reference = attribute_value(data, "ref").and_then(Value::as_str);
    let commit = attribute_value(data, "commit").and_then(Value::as_str);
    if reference.is_none() && commit.is_none() {
        return Ok(());
    }
    let mut parameters = json!({
        "repository_id": node.id.to_string(),
        "repository_name": node.value("name"),
        "infrahub_branch_name": request.view.branch,
    });
    if let Some(reference) = reference {
        parameters["ref"] = json!(reference);
    }
    if let Some(commit) = commit.filter(|c| !c.is_empty()) {
        parameters["commit"] = json!(commit);
    }
    submit(request, REPOSITORY_PULL_READ_ONLY, parameters, node).await
}

async fn submit(
    request: &RequestContext,
    workflow: &str,
    parameters: Value,
    node: &Node,
) -> Result<(), Error> {
    request
        .state
        .tasks
        .submit(Submission {
            workflow: workflow.to_owned(),
            parameters,
            branch: Some(request.view.branch.clone()),
            related_nodes: vec![RelatedNode {
                id: node.id.to_string(),
                kind: node.kind.clone(),
            }],
            account: request.account.as_ref().map(|a| a.id.to_string()),
            ..Submission::default()
        })
        .await
        .map_err(|e| Error::new(format!("submitting {workflow}: {e}")))?;
    Ok(())
}

/// The repository of kind `kind` that mutation `data` names (`id`, `hfid` or `name`), if it
/// exists on the request's branch.
pub(crate) async fn find_existing(
    request: &RequestContext,
    kind: &str,
    data: &Map<String, Value>,
) -> Result<Option<Node>, Error> {
    let reference = data
        .get("id")
        .and_then(Value::as_str)
        .or_else(|| {
            data.get("hfid")
                .and_then(|h| h.get(0))
                .and_then(Value::as_str)
        })
        .or_else(|| attribute_value(data, "name").and_then(Value::as_str));
    let Some(reference) = reference else {
        return Ok(None);
    };
    request
        .state
        .engine
        .find(&request.view, kind, reference, &Fields::minimal())
        .await
        .map_err(engine_error)
}

/// The repository `id` of mutation data `{id}`, on the request's branch.
async fn repository_of(ctx: &ResolverContext<'_>) -> Result<Node, Error> {
    let request = request(ctx)?;
    let data = to_json(ctx.args.try_get("data")?.as_value());
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("data.id is required"))?;
    request
        .state
        .engine
        .find(&request.view, GENERIC_REPOSITORY, id, &Fields::default())
        .await
        .map_err(engine_error)?
        .ok_or_else(|| Error::new(format!("repository `{id}` not found")))
}

/// Registers `InfrahubRepositoryConnectivity` and `InfrahubRepositoryProcess`.
pub(crate) fn register_repository_mutations(
    builder: SchemaBuilder,
    mutation: Object,
) -> (SchemaBuilder, Object) {
    let builder = builder
        .register(
            InputObject::new("IdentifierInput")
                .field(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING))),
        )
        .register(
            Object::new("ValidateRepositoryConnectivity")
                .field(Field::new(
                    "ok",
                    TypeRef::named_nn(TypeRef::BOOLEAN),
                    |ctx| ready(Ok(object_field(&ctx, "ok"))),
                ))
                .field(Field::new(
                    "message",
                    TypeRef::named_nn(TypeRef::STRING),
                    |ctx| ready(Ok(object_field(&ctx, "message"))),
                )),
        )
        .register(Object::new("ProcessRepository").field(Field::new(
            "ok",
            TypeRef::named(TypeRef::BOOLEAN),
            |ctx| ready(Ok(object_field(&ctx, "ok"))),
        )));
    let mutation = mutation
        .field(
            Field::new(
                "InfrahubRepositoryConnectivity",
                TypeRef::named("ValidateRepositoryConnectivity"),
                |ctx| {
                    FieldFuture::new(async move {
                        let request = request(&ctx)?;
                        let node = repository_of(&ctx).await?;
                        let record = request
                            .state
                            .repositories
                            .record(&request.view, &node.id.to_string())
                            .await
                            .map_err(|e| Error::new(e.to_string()))?;
                        let remote = request
                            .state
                            .repositories
                            .remote(&record)
                            .await
                            .map_err(|e| Error::new(e.to_string()))?;
                        let (ok, message) = match probe(request, remote).await {
                            Ok(_) => (true, "Successfully accessed repository".to_owned()),
                            Err(message) => (false, message),
                        };
                        Ok(Some(FieldValue::owned_any(json!({
                            "ok": ok,
                            "message": message,
                        }))))
                    })
                },
            )
            .argument(InputValue::new("context", TypeRef::named("ContextInput")))
            .argument(InputValue::new(
                "data",
                TypeRef::named_nn("IdentifierInput"),
            )),
        )
        .field(
            Field::new(
                "InfrahubRepositoryProcess",
                TypeRef::named("ProcessRepository"),
                |ctx| {
                    FieldFuture::new(async move {
                        let request = request(&ctx)?;
                        let node = repository_of(&ctx).await?;
                        let parameters = json!({
                            "repository_id": node.id.to_string(),
                            "repository_name": node.value("name"),
                            "infrahub_branch_name": request.view.branch,
                        });
                        submit(request, REPOSITORY_IMPORT, parameters, &node).await?;
                        Ok(Some(FieldValue::owned_any(json!({"ok": true}))))
                    })
                },
            )
            .argument(InputValue::new("context", TypeRef::named("ContextInput")))
            .argument(InputValue::new(
                "data",
                TypeRef::named_nn("IdentifierInput"),
            )),
        );
    (builder, mutation)
}

/// Field `name` of a JSON object parent value.
fn object_field<'a>(ctx: &ResolverContext<'a>, name: &str) -> Option<FieldValue<'a>> {
    let parent = ctx.parent_value.try_downcast_ref::<Value>().ok()?;
    match parent.get(name)? {
        Value::Bool(b) => Some(FieldValue::value(*b)),
        Value::String(s) => Some(FieldValue::value(s.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::with_git_suffix;

    #[test]
    fn the_git_suffix_is_appended_for_listed_hosts_only() {
        let hosts = vec!["github.com".to_owned(), "gitlab.com".to_owned()];
        assert_eq!(
            with_git_suffix("https://github.com/opsmill/infrahub-demo", &hosts),
            "https://github.com/opsmill/infrahub-demo.git"
        );
        assert_eq!(
            with_git_suffix("https://GitHub.com/a/b/", &hosts),
            "https://GitHub.com/a/b.git"
        );
        assert_eq!(
            with_git_suffix("https://user:pw@gitlab.com:443/a/b", &hosts),
            "https://user:pw@gitlab.com:443/a/b.git"
        );
        assert_eq!(
            with_git_suffix("https://github.com/a/b.git", &hosts),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            with_git_suffix("https://example.com/a/b", &hosts),
            "https://example.com/a/b"
        );
        assert_eq!(
            with_git_suffix("file:///srv/git/github.com", &hosts),
            "file:///srv/git/github.com"
        );
    }
}
