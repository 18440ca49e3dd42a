//! Access to the Git repositories of a deployment: their records (`CoreRepository`,
//! `CoreReadOnlyRepository`), their credentials, and one local bare mirror per repository and
//! process under `git.repositories_directory`, fetched on demand.
//!
//! Every process that needs a repository's files (the worker importing it, an API server
//! rendering a transform or serving `/api/file`) keeps its own mirror and fetches a commit it
//! does not hold yet, so no process asks another for files. Mirrors are opened once and kept;
//! work on one mirror is serialised, work on different mirrors runs in parallel on blocking
//! threads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use infrahub_cache::{LockManager, MemoryLocks};
use infrahub_core::engine::{AttributeInput, Engine, Fields, NodeInput, QueryArgs};
use infrahub_git::jinja::{RenderError, Renderer};
use infrahub_git::repository::{Mirror, Remote, RepositoryError, RepositoryErrorKind};
use infrahub_graph::{BranchView, NodeId};
use serde_json::Value;

use crate::python::{PythonError, PythonOptions, PythonRunner};
use crate::{Error, ErrorKind, Result};

/// Generic of every repository kind.
pub const GENERIC_REPOSITORY: &str = "CoreGenericRepository";
/// Read-write repositories: the worker follows their branches.
pub const READ_WRITE_REPOSITORY: &str = "CoreRepository";
/// Read-only repositories: the worker imports the commit their `ref` names.
pub const READ_ONLY_REPOSITORY: &str = "CoreReadOnlyRepository";
/// Credentials a repository may link to.
pub const PASSWORD_CREDENTIAL: &str = "CorePasswordCredential";

/// Where and how the processes of a deployment keep repositories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitOptions {
    /// Directory holding one mirror per repository (`<directory>/<repository id>/mirror.git`).
    pub repositories_directory: PathBuf,
    /// How often read-write repositories are fetched and new commits imported.
    pub sync_interval: Duration,
    /// The longest a fetch or a connectivity check may take.
    pub network_timeout: Duration,
    /// How Python transforms run.
    pub python: PythonOptions,
    /// The API address the SDK client of Python code talks to (upstream's
    /// `main.internal_address`); when unset, the address given to
    /// [`Repositories::set_sdk_client`].
    pub server_address: Option<String>,
    /// The API token that client sends; when unset, the one given to
    /// [`Repositories::set_sdk_client`].
    pub api_token: Option<String>,
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            repositories_directory: PathBuf::from("repositories"),
            sync_interval: Duration::from_secs(10),
            network_timeout: Duration::from_secs(60),
            python: PythonOptions::default(),
            server_address: None,
            api_token: None,
        }
    }
}

/// What a repository node says, as the worker needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryRecord {
    /// Node id.
    pub id: String,
    /// [`READ_WRITE_REPOSITORY`] or [`READ_ONLY_REPOSITORY`].
    pub kind: String,
    /// Name (unique).
    pub name: String,
    /// Where it is fetched from.
    pub location: String,
    /// Read-write: the Git branch that maps to Infrahub's default branch.
    pub default_branch: Option<String>,
    /// Read-only: the branch, tag or commit to import.
    pub reference: Option<String>,
    /// The commit last imported on the branch read.
    pub commit: Option<String>,
    /// `active`, `inactive` or `staging` on the branch read.
    pub internal_status: String,
    /// `unknown`, `in-sync`, `syncing` or `error-import` on the branch read.
    pub sync_status: String,
    /// `unknown`, `online`, `error-cred`, `error-connection` or `error`.
    pub operational_status: String,
    /// The linked credential's id.
    pub credential: Option<String>,
}

impl RepositoryRecord {
    /// Whether this is a read-only repository.
    pub fn is_read_only(&self) -> bool {
        self.kind == READ_ONLY_REPOSITORY
    }

    /// The Git reference to import: the default branch (read-write, `main` when unset) or
    /// `ref` (read-only, `main` when unset).
    pub fn tracked_reference(&self) -> String {
        let value = if self.is_read_only() {
            self.reference.as_deref()
        } else {
            self.default_branch.as_deref()
        };
        match value.map(str::trim) {
            Some(value) if !value.is_empty() => value.to_owned(),
            _ => "main".to_owned(),
        }
    }
}

/// A repository operation's failure mapped to the `operational_status` upstream records.
pub fn operational_status(error: &RepositoryError) -> &'static str {
    match error.kind() {
        RepositoryErrorKind::Authentication => "error-cred",
        RepositoryErrorKind::Unavailable => "error-connection",
        _ => "error",
    }
}

/// One mirror slot: opened on first use, kept.
type Slot = Arc<Mutex<Option<Mirror>>>;

/// Runs stored GraphQL queries for tasks (artifact generation), as the server itself: the
/// server hands an implementation to [`Repositories::attach`].
#[async_trait::async_trait]
pub trait QueryRunner: Send + Sync + 'static {
    /// Runs the stored query `query` (an id, else a name) on `branch` with `variables`;
    /// the query's `data`, or a message naming the query when it fails.
    async fn run(
        &self,
        branch: &str,
        query: &str,
        variables: serde_json::Map<String, Value>,
    ) -> std::result::Result<Value, String>;

    /// Like [`QueryRunner::run`], also answering the ids of the nodes the answer holds
    /// (whether or not the query selects them).
    async fn run_tracked(
        &self,
        branch: &str,
        query: &str,
        variables: serde_json::Map<String, Value>,
    ) -> std::result::Result<(Value, std::collections::BTreeSet<String>), String>;

    /// Records `nodes` (those of the answer of `query` with `variables`) in the query's group
    /// with `subscriber` among its subscribers (upstream's `update_group=true`), so that a
    /// change to those nodes finds what was built from them.
    async fn record_group(
        &self,
        branch: &str,
        query: &str,
        variables: &serde_json::Map<String, Value>,
        nodes: &std::collections::BTreeSet<String>,
        subscriber: &str,
    ) -> std::result::Result<(), String>;
}

/// What artifact generation needs besides the repositories: stored queries, the object store
/// and the task runtime (to submit generation after an import).
#[derive(Clone)]
pub struct ArtifactServices {
    /// Runs the transforms' queries.
    pub queries: Arc<dyn QueryRunner>,
    /// Where rendered artifacts are stored.
    pub objects: Arc<dyn object_store::ObjectStore>,
    /// Where generation tasks are submitted.
    pub tasks: crate::TaskRuntime,
}

impl std::fmt::Debug for ArtifactServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactServices").finish_non_exhaustive()
    }
}

/// How many (repository, commit) template renderers a process keeps.
const RENDERERS_KEPT: usize = 64;

/// Why a Jinja2 transform could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenderFailure {
    /// The commit could not be read (the repository error).
    Repository(RepositoryError),
    /// The template failed: syntax, an undefined value, a filter, a limit.
    Template(RenderError),
}

impl std::fmt::Display for RenderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderFailure::Repository(error) => f.write_str(error.message()),
            RenderFailure::Template(error) => write!(f, "{error}"),
        }
    }
}

/// The repositories of a deployment as seen by this process.
pub struct Repositories {
    engine: Arc<Engine>,
    options: GitOptions,
    locks: Arc<dyn LockManager>,
    mirrors: Mutex<HashMap<String, Slot>>,
    renderers: Mutex<HashMap<(String, String), Arc<Renderer>>>,
    services: std::sync::OnceLock<ArtifactServices>,
    python: PythonRunner,
    checkouts: tokio::sync::Mutex<()>,
    /// Address and token of the SDK client Python code gets.
    client: Mutex<(Option<String>, Option<String>)>,
}

impl std::fmt::Debug for Repositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repositories")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Repositories {
    /// Access to the repositories `engine` records, mirrored under `options`; repository locks
    /// are taken in the engine's lock manager when it has one (a deployment's shared cache),
    /// in this process otherwise.
    pub fn new(engine: Arc<Engine>, options: GitOptions) -> Self {
        let locks = engine.options().locks.clone().unwrap_or_else(|| {
            Arc::new(MemoryLocks::new(Duration::from_secs(60))) as Arc<dyn LockManager>
        });
        let python = options.python.clone();
        let (options_address, options_token) =
            (options.server_address.clone(), options.api_token.clone());
        Repositories {
            engine,
            options,
            locks,
            mirrors: Mutex::new(HashMap::new()),
            renderers: Mutex::new(HashMap::new()),
            services: std::sync::OnceLock::new(),
            python: PythonRunner::new(python),
            checkouts: tokio::sync::Mutex::new(()),
            client: Mutex::new((options_address, options_token)),
        }
    }

    /// Where the SDK client of Python code (generators, checks, transforms) reaches the API
    /// and the token it sends, unless [`GitOptions::server_address`] and
    /// [`GitOptions::api_token`] name them: the server calls this once it listens.
    pub fn set_sdk_client(&self, address: Option<String>, token: Option<String>) {
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if self.options.server_address.is_none() && address.is_some() {
            client.0 = address;
        }
        if self.options.api_token.is_none() && token.is_some() {
            client.1 = token;
        }
    }

    /// How many Python processes run at once.
    pub fn python_processes(&self) -> usize {
        self.options.python.processes
    }

    /// The SDK client's address and token.
    pub(crate) fn sdk_client(&self) -> (Option<String>, Option<String>) {
        self.client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Hands over what artifact generation needs (once; later calls are ignored).
    pub fn attach(&self, services: ArtifactServices) {
        let _ = self.services.set(services);
    }

    /// What [`attach`](Repositories::attach) handed over, if it was called.
    pub fn services(&self) -> Option<&ArtifactServices> {
        self.services.get()
    }

    /// Where repository locks (`repository.<name>`) are taken.
    pub fn locks(&self) -> &Arc<dyn LockManager> {
        &self.locks
    }

    /// The options.
    pub fn options(&self) -> &GitOptions {
        &self.options
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The repository `id_or_name` (a node id, else a name) as `view` sees it.
    ///
    /// # Errors
    ///
    /// `NotFound` when there is none; `Unavailable` when the store fails.
    pub async fn record(&self, view: &BranchView, id_or_name: &str) -> Result<RepositoryRecord> {
        let fields = Fields {
            attributes: None,
            relationships: vec!["credential".to_owned()],
        };
        let found = self
            .engine
            .find(view, GENERIC_REPOSITORY, id_or_name, &fields)
            .await
            .map_err(|e| crate::workflows::engine_error(&e))?;
        let node = found.ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "repository `{id_or_name}` not found on branch `{}`",
                    view.branch
                ),
            )
        })?;
        let text = |name: &str| node.value(name).as_str().map(str::to_owned);
        Ok(RepositoryRecord {
            id: node.id.to_string(),
            kind: node.kind.clone(),
            name: text("name").unwrap_or_default(),
            location: text("location").unwrap_or_default(),
            default_branch: text("default_branch"),
            reference: text("ref"),
            commit: text("commit").filter(|c| !c.is_empty()),
            internal_status: text("internal_status").unwrap_or_else(|| "inactive".to_owned()),
            sync_status: text("sync_status").unwrap_or_else(|| "unknown".to_owned()),
            operational_status: text("operational_status").unwrap_or_else(|| "unknown".to_owned()),
            credential: node.peers("credential").first().map(|p| p.id.to_string()),
        })
    }

    /// Every repository of `kind` (a repository kind or [`GENERIC_REPOSITORY`]) on `branch`.
    ///
    /// # Errors
    ///
    /// `Unavailable` when the store fails.
    pub async fn list(&self, branch: &str, kind: &str) -> Result<Vec<RepositoryRecord>> {
        let view = BranchView::now(branch);
        let args = QueryArgs::default();
        let (nodes, _) = self
            .engine
            .query(&view, kind, &args, &Fields::minimal())
            .await
            .map_err(|e| crate::workflows::engine_error(&e))?;
        let mut records = Vec::with_capacity(nodes.len());
        for node in nodes {
            records.push(self.record(&view, &node.id.to_string()).await?);
        }
        Ok(records)
    }

    /// Where `record` is fetched from, with its credential's user name and password.
    ///
    /// # Errors
    ///
    /// `Unavailable` when the store fails; `InvalidInput` when the credential is not a
    /// `CorePasswordCredential`.
    pub async fn remote(&self, record: &RepositoryRecord) -> Result<Remote> {
        let mut remote = Remote::new(record.location.clone());
        let Some(credential) = &record.credential else {
            return Ok(remote);
        };
        let Ok(id) = credential.parse::<NodeId>() else {
            return Ok(remote);
        };
        let view = BranchView::now(self.engine.default_branch());
        let nodes = self
            .engine
            .get_any(&view, &[id], &Fields::default())
            .await
            .map_err(|e| crate::workflows::engine_error(&e))?;
        let Some(node) = nodes.into_iter().next() else {
            return Ok(remote);
        };
        if node.kind != PASSWORD_CREDENTIAL {
            return Err(Error::invalid(format!(
                "the credential of repository `{}` is a {}; only {PASSWORD_CREDENTIAL} is supported",
                record.name, node.kind
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

    /// Runs `work` on `record`'s mirror on a blocking thread, cloning the mirror first when
    /// this process has none; with `fetch`, fetches first. Work on one mirror is serialised.
    ///
    /// # Errors
    ///
    /// The repository error of the clone, the fetch or `work`; `Timeout` when the clone or
    /// fetch takes longer than [`GitOptions::network_timeout`] (the work goes on in the
    /// background and its result is dropped).
    pub async fn with_mirror<T, F>(
        &self,
        record: &RepositoryRecord,
        remote: Remote,
        fetch: bool,
        work: F,
    ) -> Result<std::result::Result<T, RepositoryError>>
    where
        T: Send + 'static,
        F: FnOnce(&Mirror) -> std::result::Result<T, RepositoryError> + Send + 'static,
    {
        let slot = self.slot(&record.id)?;
        let directory = self.directory(&record.id)?;
        let job = tokio::task::spawn_blocking(move || {
            let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
            let opened = guard.is_none();
            if opened {
                *guard = Some(Mirror::open_or_clone(&directory, remote)?);
            } else if fetch {
                guard.as_ref().expect("opened").fetch()?;
            }
            let mirror = guard.as_ref().expect("opened");
            work(mirror)
        });
        match tokio::time::timeout(self.options.network_timeout, job).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(join)) => Err(Error::workflow(format!(
                "repository `{}`: the Git operation failed: {join}",
                record.name
            ))),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "repository `{}`: the Git operation took longer than {} s",
                    record.name,
                    self.options.network_timeout.as_secs()
                ),
            )),
        }
    }

    /// The content of `path` at `commit` of `record`, fetching once when the mirror does not
    /// hold the commit yet.
    ///
    /// # Errors
    ///
    /// As [`with_mirror`](Repositories::with_mirror).
    pub async fn read_file(
        &self,
        record: &RepositoryRecord,
        commit: &str,
        path: &str,
    ) -> Result<std::result::Result<Vec<u8>, RepositoryError>> {
        let remote = self.remote(record).await?;
        let (commit, path) = (commit.to_owned(), path.to_owned());
        self.with_mirror(record, remote, false, move |mirror| {
            if !mirror.has_commit(&commit) {
                mirror.fetch()?;
            }
            mirror.read_file(&commit, &path)
        })
        .await
    }

    /// Renders the Jinja2 template `template_path` of `commit` of `record` with `variables`
    /// (a transform's: `{"data": <query result>}`), as upstream renders repository templates
    /// (file mode: `trim_blocks`, `lstrip_blocks`, includes from the same commit). The
    /// template environment of a commit is kept, so templates compile once.
    ///
    /// # Errors
    ///
    /// The outer error when the store or the mirror's thread fails; the inner
    /// [`RenderFailure`] when the commit or the template fails.
    pub async fn render_jinja2(
        &self,
        record: &RepositoryRecord,
        commit: &str,
        template_path: &str,
        variables: Value,
    ) -> Result<std::result::Result<String, RenderFailure>> {
        let key = (record.id.clone(), commit.to_owned());
        let cached = self
            .renderers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let renderer = match cached {
            Some(renderer) => renderer,
            None => {
                let remote = self.remote(record).await?;
                let wanted = commit.to_owned();
                let reader = self
                    .with_mirror(record, remote, false, move |mirror| {
                        if !mirror.has_commit(&wanted) {
                            mirror.fetch()?;
                        }
                        mirror.commit_reader(&wanted)
                    })
                    .await?;
                let reader = match reader {
                    Ok(reader) => reader,
                    Err(error) => return Ok(Err(RenderFailure::Repository(error))),
                };
                let renderer = Arc::new(Renderer::for_files(move |path: &str| {
                    reader.read_text(path)
                }));
                let mut renderers = self.renderers.lock().unwrap_or_else(|p| p.into_inner());
                if renderers.len() >= RENDERERS_KEPT {
                    renderers.clear();
                }
                Arc::clone(renderers.entry(key).or_insert(renderer))
            }
        };
        let template = template_path.to_owned();
        tokio::task::spawn_blocking(move || {
            renderer
                .render(&template, &variables)
                .map_err(RenderFailure::Template)
        })
        .await
        .map_err(|e| Error::workflow(format!("rendering {template_path}: {e}")))
    }

    /// The files of `commit` of `record` on disk (for Python), checked out once under
    /// `<repositories_directory>/<id>/commits/<commit>`.
    ///
    /// # Errors
    ///
    /// As [`with_mirror`](Repositories::with_mirror).
    pub async fn checkout(
        &self,
        record: &RepositoryRecord,
        commit: &str,
    ) -> Result<std::result::Result<PathBuf, RepositoryError>> {
        let directory = self.directory(&record.id)?;
        let base = directory.parent().unwrap_or(&directory).join("commits");
        let target = base.join(commit);
        if commit.len() != 40 || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid(format!("`{commit}` is not a commit id")));
        }
        if target.is_dir() {
            return Ok(Ok(target));
        }
        let _guard = self.checkouts.lock().await;
        if target.is_dir() {
            return Ok(Ok(target));
        }
        let remote = self.remote(record).await?;
        let wanted = commit.to_owned();
        let staging = base.join(format!(".{commit}.{}", std::process::id()));
        let (staging_in, target_in) = (staging.clone(), target.clone());
        self.with_mirror(record, remote, false, move |mirror| {
            if !mirror.has_commit(&wanted) {
                mirror.fetch()?;
            }
            let _ = std::fs::remove_dir_all(&staging_in);
            mirror.checkout(&wanted, &staging_in)?;
            std::fs::rename(&staging_in, &target_in).map_err(|e| {
                RepositoryError::storage(format!("moving a checkout into place: {e}"))
            })?;
            Ok(target_in)
        })
        .await
    }

    /// What the Python class `class_name` of `file_path` at `commit` declares: `{query,
    /// timeout, name}` (each `null` when absent).
    ///
    /// # Errors
    ///
    /// The outer error when the checkout fails; the inner one when Python or the module fails.
    pub async fn describe_python(
        &self,
        record: &RepositoryRecord,
        commit: &str,
        file_path: &str,
        class_name: &str,
    ) -> Result<std::result::Result<Value, PythonError>> {
        let root = match self.checkout(record, commit).await? {
            Ok(root) => root,
            Err(error) => return Err(Error::workflow(error.message().to_owned())),
        };
        let request = serde_json::json!({
            "op": "describe",
            "root": root.display().to_string(),
            "file_path": file_path,
            "class_name": class_name,
        });
        Ok(self.python.call(request, Duration::from_secs(60)).await)
    }

    /// Runs the Python transform `class_name` of `file_path` at `commit` on `data` (the whole
    /// `{"data": ...}` answer of its query), as upstream's worker does, within `timeout`.
    ///
    /// # Errors
    ///
    /// The outer error when the checkout fails; the inner one when Python or the code fails.
    #[allow(clippy::too_many_arguments)]
    pub async fn run_python_transform(
        &self,
        record: &RepositoryRecord,
        commit: &str,
        file_path: &str,
        class_name: &str,
        branch: &str,
        convert_query_response: bool,
        data: Value,
        timeout: Duration,
    ) -> Result<std::result::Result<Value, PythonError>> {
        let root = match self.checkout(record, commit).await? {
            Ok(root) => root,
            Err(error) => return Err(Error::workflow(error.message().to_owned())),
        };
        let (address, token) = self.sdk_client();
        let request = serde_json::json!({
            "op": "transform",
            "root": root.display().to_string(),
            "file_path": file_path,
            "class_name": class_name,
            "branch": branch,
            "convert_query_response": convert_query_response,
            "data": data,
            "address": address,
            "token": token,
        });
        Ok(self.python.call(request, timeout).await)
    }

    /// Runs `request` (a runner operation: `generate`, `check`, ...) on the checkout of
    /// `commit`, with the SDK client's address and token, within `timeout`.
    ///
    /// # Errors
    ///
    /// The outer error when the checkout fails; the inner one when Python or the code fails.
    pub async fn run_python(
        &self,
        record: &RepositoryRecord,
        commit: &str,
        mut request: Value,
        timeout: Duration,
    ) -> Result<std::result::Result<Value, PythonError>> {
        let root = match self.checkout(record, commit).await? {
            Ok(root) => root,
            Err(error) => return Err(Error::workflow(error.message().to_owned())),
        };
        let (address, token) = self.sdk_client();
        if address.is_none() {
            return Ok(Err(PythonError::Unavailable(
                "the API address Python code talks to is unknown: set main.internal_address"
                    .to_owned(),
            )));
        }
        request["root"] = Value::String(root.display().to_string());
        request["address"] = serde_json::json!(address);
        request["token"] = serde_json::json!(token);
        Ok(self.python.call(request, timeout).await)
    }

    /// Forgets this process's mirror of repository `id` and removes its directory (the
    /// repository was deleted).
    pub async fn forget(&self, id: &str) {
        let slot = self
            .mirrors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        let Ok(directory) = self.directory(id) else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(slot) = slot {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            let _ = std::fs::remove_dir_all(directory.parent().unwrap_or(&directory));
        })
        .await;
    }

    fn slot(&self, id: &str) -> Result<Slot> {
        let mut mirrors = self.mirrors.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Arc::clone(mirrors.entry(id.to_owned()).or_default()))
    }

    /// `<repositories_directory>/<id>/mirror.git`; `id` must be a node id.
    fn directory(&self, id: &str) -> Result<PathBuf> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::invalid(format!("`{id}` is not a repository id")));
        }
        Ok(self
            .options
            .repositories_directory
            .join(id)
            .join("mirror.git"))
    }

    /// Sets attributes of repository `record` on `branch` (the status fields, `commit`).
    ///
    /// # Errors
    ///
    /// As the engine's update.
    pub async fn set(
        &self,
        branch: &str,
        record: &RepositoryRecord,
        values: &[(&str, Value)],
    ) -> Result<()> {
        let mut input = NodeInput {
            id: Some(record.id.clone()),
            ..NodeInput::default()
        };
        for (name, value) in values {
            input
                .attributes
                .insert((*name).to_owned(), AttributeInput::value(value.clone()));
        }
        self.engine
            .update(branch, &record.kind, input)
            .await
            .map_err(|e| crate::workflows::engine_error(&e))?;
        Ok(())
    }
}
