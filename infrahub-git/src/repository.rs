//! Local mirrors of Git repositories: a bare clone per repository, fetched on demand, from
//! which commits are read without a working copy (files, directory listings, the manifest) or
//! materialised into a directory when user code needs files on disk.
//!
//! Everything here blocks: call it from a dedicated thread (`tokio::task::spawn_blocking`),
//! never from an async task. Credentials are handed to libgit2 through a callback, never put
//! into a URL, and every URL in an error or a log has its user information removed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use git2::{
    FetchOptions, ObjectType, Oid, RemoteCallbacks, Repository, TreeWalkMode, TreeWalkResult,
};

use crate::manifest::{MANIFEST_NAMES, ManifestError, RepositoryConfig};

/// The largest file read from a commit (bytes).
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// What kind of failure a [`RepositoryError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RepositoryErrorKind {
    /// The commit, branch or file does not exist.
    NotFound,
    /// A URL, path or commit id that is malformed or not allowed.
    InvalidInput,
    /// The remote refused the credentials.
    Authentication,
    /// The remote could not be reached or answered with an error.
    Unavailable,
    /// The local mirror could not be written or read.
    Storage,
    /// The repository's `.infrahub.yml` is invalid.
    Manifest,
    /// A merge met conflicting changes, or the remote refused a push that is not a
    /// fast-forward.
    Conflict,
}

/// A failure of a repository operation; its message never holds credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryError {
    kind: RepositoryErrorKind,
    message: String,
}

impl RepositoryError {
    /// A failure to write or read local files (kind `Storage`).
    pub fn storage(message: impl Into<String>) -> Self {
        RepositoryError::new(RepositoryErrorKind::Storage, message)
    }

    fn new(kind: RepositoryErrorKind, message: impl Into<String>) -> Self {
        RepositoryError {
            kind,
            message: message.into(),
        }
    }

    /// The kind.
    pub fn kind(&self) -> RepositoryErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RepositoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RepositoryError {}

impl From<ManifestError> for RepositoryError {
    fn from(error: ManifestError) -> Self {
        RepositoryError::new(RepositoryErrorKind::Manifest, error.to_string())
    }
}

/// The result type of this module.
pub type Result<T, E = RepositoryError> = std::result::Result<T, E>;

/// Where a repository is fetched from.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    /// `https://`, `http://`, `git://` or `file://` URL, or a local path.
    pub url: String,
    /// User name for HTTP(S) (a `CorePasswordCredential`'s).
    pub username: Option<String>,
    /// Password or token for HTTP(S); never shown by `Debug`, in errors or in logs.
    pub password: Option<String>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &redact(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Remote {
    /// A remote without credentials.
    pub fn new(url: impl Into<String>) -> Self {
        Remote {
            url: url.into(),
            username: None,
            password: None,
        }
    }

    /// Checks that the URL is one this module fetches from.
    fn check(&self) -> Result<()> {
        let url = self.url.trim();
        let allowed = ["https://", "http://", "git://", "file://"];
        if url.is_empty() {
            return Err(RepositoryError::new(
                RepositoryErrorKind::InvalidInput,
                "the repository location is empty",
            ));
        }
        if url.contains("://") && !allowed.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(RepositoryError::new(
                RepositoryErrorKind::InvalidInput,
                format!(
                    "`{}`: only https://, http://, git://, file:// locations and local paths are supported",
                    redact(url)
                ),
            ));
        }
        Ok(())
    }
}

/// `url` without its user information (`https://user:token@host/x` → `https://host/x`).
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if let Some((_, host)) = authority.rsplit_once('@') {
            return if rest.contains('/') {
                format!("{scheme}://{host}/{path}")
            } else {
                format!("{scheme}://{host}")
            };
        }
    }
    url.to_owned()
}

/// Why `path` cannot name a file of a commit, if it cannot (absolute, `..`, NUL).
fn check_path(path: &str) -> Result<String> {
    let trimmed = path.trim_start_matches("./");
    let bad = trimmed.is_empty()
        || trimmed.starts_with('/')
        || trimmed.contains('\0')
        || trimmed.contains('\\')
        || trimmed.split('/').any(|part| part == "..");
    if bad {
        return Err(RepositoryError::new(
            RepositoryErrorKind::InvalidInput,
            format!("`{path}` is not a path inside the repository"),
        ));
    }
    Ok(trimmed.trim_end_matches('/').to_owned())
}

/// A bare local mirror of one repository.
pub struct Mirror {
    repository: Repository,
    remote: Remote,
}

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("path", &self.repository.path())
            .field("remote", &self.remote)
            .finish()
    }
}

impl Mirror {
    /// Opens the mirror in `directory`, or creates it (a bare repository whose branches follow
    /// the remote's), then fetches.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an unsupported location; `Authentication` or `Unavailable` when the
    /// remote refuses or cannot be reached (a mirror just created is removed again);
    /// `Storage` when the directory cannot be written.
    pub fn open_or_clone(directory: &Path, remote: Remote) -> Result<Mirror> {
        remote.check()?;
        let existed = directory.join("HEAD").exists();
        let repository = if existed {
            Repository::open_bare(directory).map_err(|e| storage("opening the mirror", &e))?
        } else {
            std::fs::create_dir_all(directory).map_err(|e| {
                RepositoryError::new(
                    RepositoryErrorKind::Storage,
                    format!("creating {}: {e}", directory.display()),
                )
            })?;
            Repository::init_bare(directory).map_err(|e| storage("creating the mirror", &e))?
        };
        let mirror = Mirror { repository, remote };
        if let Err(error) = mirror.fetch() {
            if !existed {
                let _ = std::fs::remove_dir_all(directory);
            }
            return Err(error);
        }
        Ok(mirror)
    }

    /// Fetches every branch of the remote (branches deleted there go here too) and returns
    /// each branch's commit.
    ///
    /// # Errors
    ///
    /// `Authentication`, `Unavailable`, `Storage`.
    pub fn fetch(&self) -> Result<BTreeMap<String, String>> {
        let url = self.remote.url.trim();
        let mut remote = self
            .repository
            .remote_anonymous(url)
            .map_err(|e| storage("preparing the fetch", &e))?;
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks(&self.remote));
        options.prune(git2::FetchPrune::On);
        remote
            .fetch(
                &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                Some(&mut options),
                None,
            )
            .map_err(|e| remote_error("fetching", url, &e))?;
        self.branches()
    }

    /// Pushes `commit` to branch `branch` of the remote, creating the branch or moving it
    /// forward (never forced), and moves this mirror's branch too.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a branch name Git refuses or a malformed commit id, `NotFound` for
    /// an unknown commit, `Conflict` when the remote refuses the update (its branch moved on,
    /// or it does not accept pushes to that branch), `Authentication`, `Unavailable`,
    /// `Storage`.
    pub fn push(&self, commit: &str, branch: &str) -> Result<()> {
        let target = format!("refs/heads/{branch}");
        if !git2::Reference::is_valid_name(&target) {
            return Err(RepositoryError::new(
                RepositoryErrorKind::InvalidInput,
                format!("`{branch}` is not a Git branch name"),
            ));
        }
        let oid = self.commit(commit)?.id();
        // The pushed commit needs a local reference to be pushed from.
        let staging = format!("refs/infrahub/push/{branch}");
        self.repository
            .reference(&staging, oid, true, "infrahub: push")
            .map_err(|e| storage("preparing the push", &e))?;
        let url = self.remote.url.trim();
        let result = (|| {
            let mut remote = self
                .repository
                .remote_anonymous(url)
                .map_err(|e| storage("preparing the push", &e))?;
            let refused = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
            let mut callbacks = callbacks(&self.remote);
            let seen = std::sync::Arc::clone(&refused);
            callbacks.push_update_reference(move |_reference, status| {
                if let Some(status) = status {
                    *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(status.to_owned());
                }
                Ok(())
            });
            let mut options = git2::PushOptions::new();
            options.remote_callbacks(callbacks);
            remote
                .push(&[format!("{staging}:{target}")], Some(&mut options))
                .map_err(|e| {
                    let lower = e.message().to_ascii_lowercase();
                    if lower.contains("fast-forward")
                        || lower.contains("fast forward")
                        || lower.contains("fastforward")
                    {
                        RepositoryError::new(
                            RepositoryErrorKind::Conflict,
                            format!(
                                "pushing to branch {branch} of {}: not a fast-forward",
                                redact(url)
                            ),
                        )
                    } else {
                        remote_error("pushing to", url, &e)
                    }
                })?;
            let refused = refused.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(reason) = refused {
                return Err(RepositoryError::new(
                    RepositoryErrorKind::Conflict,
                    format!(
                        "{} refused the update of branch {branch}: {}",
                        redact(url),
                        redact_message(&reason, url)
                    ),
                ));
            }
            self.repository
                .reference(&target, oid, true, "infrahub: pushed")
                .map_err(|e| storage("recording the pushed branch", &e))?;
            Ok(())
        })();
        if let Ok(mut reference) = self.repository.find_reference(&staging) {
            let _ = reference.delete();
        }
        result
    }

    /// Merges commit `theirs` into commit `ours`: `ours` when it holds `theirs` already,
    /// `theirs` when it holds `ours` (a fast-forward), else a new merge commit of the two
    /// (written in this mirror only) with `message`.
    ///
    /// # Errors
    ///
    /// `Conflict` naming the conflicting files; `InvalidInput`, `NotFound` for the commits;
    /// `Storage`.
    pub fn merge(&self, ours: &str, theirs: &str, message: &str) -> Result<String> {
        let (ours, theirs) = (self.commit(ours)?, self.commit(theirs)?);
        let descends = |a: Oid, b: Oid| -> Result<bool> {
            Ok(a == b
                || self
                    .repository
                    .graph_descendant_of(a, b)
                    .map_err(|e| storage("comparing commits", &e))?)
        };
        if descends(ours.id(), theirs.id())? {
            return Ok(ours.id().to_string());
        }
        if descends(theirs.id(), ours.id())? {
            return Ok(theirs.id().to_string());
        }
        let mut index = self
            .repository
            .merge_commits(&ours, &theirs, None)
            .map_err(|e| storage("merging", &e))?;
        if index.has_conflicts() {
            let mut paths: Vec<String> = index
                .conflicts()
                .map_err(|e| storage("reading the conflicts", &e))?
                .filter_map(|conflict| {
                    let conflict = conflict.ok()?;
                    let entry = conflict.our.or(conflict.their).or(conflict.ancestor)?;
                    String::from_utf8(entry.path).ok()
                })
                .collect();
            paths.sort();
            paths.dedup();
            return Err(RepositoryError::new(
                RepositoryErrorKind::Conflict,
                format!("merge conflict in {}", paths.join(", ")),
            ));
        }
        let tree = index
            .write_tree_to(&self.repository)
            .and_then(|oid| self.repository.find_tree(oid))
            .map_err(|e| storage("writing the merged tree", &e))?;
        let signature = git2::Signature::now("Infrahub", "infrahub@infrahub.local")
            .map_err(|e| storage("signing the merge", &e))?;
        let merged = self
            .repository
            .commit(
                None,
                &signature,
                &signature,
                message,
                &tree,
                &[&ours, &theirs],
            )
            .map_err(|e| storage("writing the merge commit", &e))?;
        Ok(merged.to_string())
    }

    /// A reader of the files of `commit` usable from other threads.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a malformed commit id, `NotFound` for an unknown commit, `Storage`.
    pub fn commit_reader(&self, commit: &str) -> Result<CommitReader> {
        let tree = self.commit(commit)?.tree_id();
        let repository = Repository::open_bare(self.repository.path())
            .map_err(|e| storage("opening the mirror", &e))?;
        Ok(CommitReader {
            repository: std::sync::Mutex::new(repository),
            tree,
            commit: commit.to_owned(),
        })
    }

    /// Whether the mirror holds commit `commit` (a full commit id).
    pub fn has_commit(&self, commit: &str) -> bool {
        Oid::from_str(commit)
            .ok()
            .is_some_and(|oid| self.repository.find_commit(oid).is_ok())
    }

    /// The commit `reference` names: a branch, a tag, or a commit id (full, or an
    /// abbreviation of at least 7 hex digits).
    ///
    /// # Errors
    ///
    /// `NotFound` when it names nothing in the mirror; `InvalidInput` for an empty or
    /// malformed reference.
    pub fn resolve(&self, reference: &str) -> Result<String> {
        let reference = reference.trim();
        if reference.is_empty()
            || reference.len() > 255
            || reference.starts_with('-')
            || reference.contains("..")
            || reference
                .chars()
                .any(|c| c.is_control() || c == ' ' || c == ':')
        {
            return Err(RepositoryError::new(
                RepositoryErrorKind::InvalidInput,
                format!("`{reference}` is not a branch, tag or commit"),
            ));
        }
        for name in [
            format!("refs/heads/{reference}"),
            format!("refs/tags/{reference}"),
        ] {
            if let Ok(found) = self.repository.find_reference(&name)
                && let Ok(commit) = found.peel_to_commit()
            {
                return Ok(commit.id().to_string());
            }
        }
        if reference.len() >= 7 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
            let found = if reference.len() == 40 {
                Oid::from_str(reference)
                    .ok()
                    .and_then(|oid| self.repository.find_commit(oid).ok())
            } else {
                self.repository
                    .revparse_single(reference)
                    .ok()
                    .and_then(|object| object.peel_to_commit().ok())
            };
            if let Some(commit) = found {
                return Ok(commit.id().to_string());
            }
        }
        Err(RepositoryError::new(
            RepositoryErrorKind::NotFound,
            format!("no branch, tag or commit `{reference}` in the repository"),
        ))
    }

    /// The commits from `from` (excluded) to `to` (included) changed these files, each with
    /// `added`, `removed` or `updated`, sorted by path.
    ///
    /// # Errors
    ///
    /// As [`read_file`](Mirror::read_file).
    pub fn changed_files(&self, from: &str, to: &str) -> Result<Vec<(String, &'static str)>> {
        let old = self
            .commit(from)?
            .tree()
            .map_err(|e| storage("reading a commit", &e))?;
        let new = self
            .commit(to)?
            .tree()
            .map_err(|e| storage("reading a commit", &e))?;
        let diff = self
            .repository
            .diff_tree_to_tree(Some(&old), Some(&new), None)
            .map_err(|e| storage("comparing commits", &e))?;
        let mut files = Vec::new();
        for delta in diff.deltas() {
            let action = match delta.status() {
                git2::Delta::Added | git2::Delta::Copied => "added",
                git2::Delta::Deleted => "removed",
                _ => "updated",
            };
            let path = delta.new_file().path().or_else(|| delta.old_file().path());
            if let Some(path) = path.and_then(Path::to_str) {
                files.push((path.to_owned(), action));
            }
        }
        files.sort();
        Ok(files)
    }

    /// Each branch of the mirror with its commit.
    ///
    /// # Errors
    ///
    /// `Storage`.
    pub fn branches(&self) -> Result<BTreeMap<String, String>> {
        let mut branches = BTreeMap::new();
        let references = self
            .repository
            .references_glob("refs/heads/*")
            .map_err(|e| storage("listing branches", &e))?;
        for reference in references {
            let reference = reference.map_err(|e| storage("listing branches", &e))?;
            if let (Ok(name), Some(target)) = (reference.shorthand(), reference.target()) {
                branches.insert(name.to_owned(), target.to_string());
            }
        }
        Ok(branches)
    }

    fn commit(&self, commit: &str) -> Result<git2::Commit<'_>> {
        let oid = Oid::from_str(commit).map_err(|_| {
            RepositoryError::new(
                RepositoryErrorKind::InvalidInput,
                format!("`{commit}` is not a commit id"),
            )
        })?;
        self.repository.find_commit(oid).map_err(|_| {
            RepositoryError::new(
                RepositoryErrorKind::NotFound,
                format!("commit {commit} not found"),
            )
        })
    }

    /// The content of file `path` at `commit`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a path outside the repository or a malformed commit id; `NotFound`
    /// for an unknown commit, a missing file or a directory; `InvalidInput` for a file larger
    /// than [`MAX_FILE_BYTES`].
    pub fn read_file(&self, commit: &str, path: &str) -> Result<Vec<u8>> {
        let path = check_path(path)?;
        let tree = self
            .commit(commit)?
            .tree()
            .map_err(|e| storage("reading a commit", &e))?;
        let entry = tree.get_path(Path::new(&path)).map_err(|_| {
            RepositoryError::new(
                RepositoryErrorKind::NotFound,
                format!("{path} not found in commit {commit}"),
            )
        })?;
        if entry.kind() != Some(ObjectType::Blob) {
            return Err(RepositoryError::new(
                RepositoryErrorKind::NotFound,
                format!("{path} is not a file in commit {commit}"),
            ));
        }
        let blob = self
            .repository
            .find_blob(entry.id())
            .map_err(|e| storage("reading a file", &e))?;
        if blob.size() > MAX_FILE_BYTES {
            return Err(RepositoryError::new(
                RepositoryErrorKind::InvalidInput,
                format!(
                    "{path} holds {} bytes, more than the {MAX_FILE_BYTES} read",
                    blob.size()
                ),
            ));
        }
        Ok(blob.content().to_vec())
    }

    /// The files under `directory` (`""` for the whole tree) at `commit`, sorted, as paths from
    /// the repository root. A path that names a file lists that file.
    ///
    /// # Errors
    ///
    /// As [`read_file`](Mirror::read_file).
    pub fn list_files(&self, commit: &str, directory: &str) -> Result<Vec<String>> {
        let tree = self
            .commit(commit)?
            .tree()
            .map_err(|e| storage("reading a commit", &e))?;
        let (base, subtree) = if directory.trim_matches('/').is_empty() || directory == "." {
            (String::new(), tree)
        } else {
            let path = check_path(directory)?;
            let entry = tree.get_path(Path::new(&path)).map_err(|_| {
                RepositoryError::new(
                    RepositoryErrorKind::NotFound,
                    format!("{path} not found in commit {commit}"),
                )
            })?;
            match entry.kind() {
                Some(ObjectType::Blob) => return Ok(vec![path]),
                _ => (
                    format!("{path}/"),
                    self.repository
                        .find_tree(entry.id())
                        .map_err(|e| storage("reading a directory", &e))?,
                ),
            }
        };
        let mut files = Vec::new();
        subtree
            .walk(TreeWalkMode::PreOrder, |root, entry| {
                if entry.kind() == Some(ObjectType::Blob)
                    && let Ok(name) = entry.name()
                {
                    files.push(format!("{base}{root}{name}"));
                }
                TreeWalkResult::Ok
            })
            .map_err(|e| storage("listing files", &e))?;
        files.sort();
        Ok(files)
    }

    /// The repository's `.infrahub.yml` (or `.infrahub.yaml`) at `commit`, if it has one.
    ///
    /// # Errors
    ///
    /// `Manifest` for an invalid file (naming it, with the line and key); as
    /// [`read_file`](Mirror::read_file).
    pub fn manifest(&self, commit: &str) -> Result<Option<RepositoryConfig>> {
        for name in MANIFEST_NAMES {
            match self.read_file(commit, name) {
                Ok(bytes) => {
                    let text = String::from_utf8(bytes).map_err(|_| {
                        RepositoryError::new(
                            RepositoryErrorKind::Manifest,
                            format!("{name}: not UTF-8 text"),
                        )
                    })?;
                    return Ok(Some(RepositoryConfig::from_yaml(&text, name)?));
                }
                Err(error) if error.kind() == RepositoryErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Writes the files of `commit` into `destination` (created; it must not exist), for code
    /// that needs them on disk.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `destination` exists; `NotFound`; `Storage`.
    pub fn checkout(&self, commit: &str, destination: &Path) -> Result<PathBuf> {
        if destination.exists() {
            return Err(RepositoryError::new(
                RepositoryErrorKind::InvalidInput,
                format!("{} exists already", destination.display()),
            ));
        }
        let tree = self
            .commit(commit)?
            .tree()
            .map_err(|e| storage("reading a commit", &e))?;
        std::fs::create_dir_all(destination).map_err(|e| {
            RepositoryError::new(
                RepositoryErrorKind::Storage,
                format!("creating {}: {e}", destination.display()),
            )
        })?;
        let mut builder = git2::build::CheckoutBuilder::new();
        builder
            .target_dir(destination)
            .force()
            .recreate_missing(true);
        self.repository
            .checkout_tree(tree.as_object(), Some(&mut builder))
            .map_err(|e| storage("writing the files of a commit", &e))?;
        Ok(destination.to_path_buf())
    }
}

/// The files of one commit, readable from any thread (a template loader's needs): it holds
/// its own handle on the mirror's object database.
pub struct CommitReader {
    repository: std::sync::Mutex<Repository>,
    tree: Oid,
    commit: String,
}

impl fmt::Debug for CommitReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitReader")
            .field("commit", &self.commit)
            .finish_non_exhaustive()
    }
}

impl CommitReader {
    /// The commit read.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// The UTF-8 text of file `path`, `None` when the commit has no such file; an error
    /// message for a path outside the repository, a file that is not text or larger than
    /// [`MAX_FILE_BYTES`], or a failing object database.
    pub fn read_text(&self, path: &str) -> std::result::Result<Option<String>, String> {
        let path = check_path(path).map_err(|e| e.message().to_owned())?;
        let repository = self.repository.lock().unwrap_or_else(|p| p.into_inner());
        let tree = repository
            .find_tree(self.tree)
            .map_err(|e| format!("reading commit {}: {}", self.commit, e.message()))?;
        let Ok(entry) = tree.get_path(Path::new(&path)) else {
            return Ok(None);
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = repository
            .find_blob(entry.id())
            .map_err(|e| format!("reading {path}: {}", e.message()))?;
        if blob.size() > MAX_FILE_BYTES {
            return Err(format!(
                "{path} holds {} bytes, more than the {MAX_FILE_BYTES} read",
                blob.size()
            ));
        }
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| format!("{path}: not UTF-8 text"))
    }
}

/// Connects to `remote` and lists its branches with their commits, writing nothing: the
/// check a repository's location and credentials pass before the repository is recorded.
///
/// # Errors
///
/// `InvalidInput` for an unsupported location; `Authentication` when the remote refuses the
/// credentials; `Unavailable` when it cannot be reached or is not a Git repository.
pub fn probe(remote: &Remote) -> Result<BTreeMap<String, String>> {
    remote.check()?;
    let url = remote.url.trim();
    // A local path is reached through the file transport.
    let local;
    let url = if url.contains("://") {
        url
    } else {
        let path = Path::new(url);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| {
                    RepositoryError::new(
                        RepositoryErrorKind::Storage,
                        format!("the working directory: {e}"),
                    )
                })?
                .join(path)
        };
        local = format!("file://{}", absolute.display());
        local.as_str()
    };
    let mut detached = git2::Remote::create_detached(url).map_err(|e| {
        RepositoryError::new(
            RepositoryErrorKind::InvalidInput,
            format!("`{}`: {}", redact(url), redact_message(e.message(), url)),
        )
    })?;
    let connection = detached
        .connect_auth(git2::Direction::Fetch, Some(callbacks(remote)), None)
        .map_err(|e| remote_error("connecting to", url, &e))?;
    let heads = connection
        .list()
        .map_err(|e| remote_error("listing the branches of", url, &e))?;
    Ok(heads
        .iter()
        .filter_map(|head| {
            head.name()
                .strip_prefix("refs/heads/")
                .map(|name| (name.to_owned(), head.oid().to_string()))
        })
        .collect())
}

/// Callbacks handing `remote`'s credentials to libgit2, once.
fn callbacks(remote: &Remote) -> RemoteCallbacks<'static> {
    let mut callbacks = RemoteCallbacks::new();
    let (username, password) = (remote.username.clone(), remote.password.clone());
    let mut attempts = 0;
    callbacks.credentials(move |_url, from_url, _allowed| {
        attempts += 1;
        // libgit2 asks again after a refusal: give up instead of looping.
        if attempts > 1 {
            return Err(git2::Error::from_str("the credentials were refused"));
        }
        match (&username, &password) {
            (Some(user), Some(pass)) => git2::Cred::userpass_plaintext(user, pass),
            (None, Some(pass)) => git2::Cred::userpass_plaintext(from_url.unwrap_or("git"), pass),
            _ => Err(git2::Error::from_str(
                "the remote asks for credentials and none are set",
            )),
        }
    });
    callbacks
}

/// A failed exchange with the remote at `url`: `Authentication` when it refused the
/// credentials, `Unavailable` otherwise; the message names the URL without credentials.
fn remote_error(what: &str, url: &str, error: &git2::Error) -> RepositoryError {
    let message = error.message();
    let lower = message.to_ascii_lowercase();
    // An HTTP status is only read from an HTTP error: a path may contain "401".
    let http_refusal = error.class() == git2::ErrorClass::Http
        && (message.contains("401") || message.contains("403"));
    let kind = if error.code() == git2::ErrorCode::Auth
        || http_refusal
        || lower.contains("credentials")
        || lower.contains("authentication")
    {
        RepositoryErrorKind::Authentication
    } else {
        RepositoryErrorKind::Unavailable
    };
    RepositoryError::new(
        kind,
        format!("{what} {}: {}", redact(url), redact_message(message, url)),
    )
}

fn storage(what: &str, error: &git2::Error) -> RepositoryError {
    RepositoryError::new(
        RepositoryErrorKind::Storage,
        format!("{what}: {}", error.message()),
    )
}

/// `message` with any occurrence of `url` (credentials and all) replaced by its redacted form.
fn redact_message(message: &str, url: &str) -> String {
    message.replace(url, &redact(url))
}
