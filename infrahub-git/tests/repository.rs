//! Mirrors of repositories the tests build with git2: from a local path, a `file://` URL and a
//! `git://` server the test starts on 127.0.0.1 (`git daemon`); reading files, listings and the
//! manifest of any commit, materialising a commit, following new commits and branches, and
//! refusing paths outside the repository, unsupported locations and unreachable remotes
//! without leaking credentials.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use git2::{Repository, Signature};
use infrahub_git::repository::{Mirror, Remote, RepositoryErrorKind, probe, redact};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("infrahub-git-{name}-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// Commits `files` (path, content) on `branch` of `repo`, on top of the branch's commit.
fn commit(repo: &Repository, branch: &str, files: &[(&str, &str)], message: &str) -> String {
    let workdir = repo.workdir().unwrap().to_path_buf();
    let mut index = repo.index().unwrap();
    for (path, content) in files {
        let full = workdir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, content).unwrap();
        index.add_path(Path::new(path)).unwrap();
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = Signature::now("test", "test@example.com").unwrap();
    let reference = format!("refs/heads/{branch}");
    let parent = repo
        .find_reference(&reference)
        .ok()
        .and_then(|r| r.target())
        .map(|oid| repo.find_commit(oid).unwrap());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = repo
        .commit(
            Some(&reference),
            &signature,
            &signature,
            message,
            &tree,
            &parents,
        )
        .unwrap();
    oid.to_string()
}

const MANIFEST: &str = "queries:\n  - {name: devices, file_path: queries/devices.gql}\n\
jinja2_transforms:\n  - {name: startup, query: devices, template_path: templates/startup.j2}\n\
schemas: [schemas]\n";

fn source() -> (PathBuf, Repository, String) {
    let dir = temp("source");
    let repo = Repository::init(&dir).unwrap();
    let first = commit(
        &repo,
        "main",
        &[
            (".infrahub.yml", MANIFEST),
            ("queries/devices.gql", "query { InfraDevice { count } }"),
            ("templates/startup.j2", "hostname {{ name }}"),
            ("schemas/base.yml", "version: '1.0'"),
            ("schemas/network/device.yml", "version: '1.0'"),
        ],
        "first",
    );
    (dir, repo, first)
}

#[test]
fn a_mirror_reads_every_commit_and_follows_the_remote() {
    let (dir, repo, first) = source();
    let mirror_dir = temp("mirror").join("mirror.git");
    let mirror = Mirror::open_or_clone(
        &mirror_dir,
        Remote::new(format!("file://{}", dir.display())),
    )
    .unwrap();
    assert_eq!(mirror.branches().unwrap()["main"], first);
    assert_eq!(
        mirror.read_file(&first, "templates/startup.j2").unwrap(),
        b"hostname {{ name }}"
    );
    assert_eq!(
        mirror.list_files(&first, "schemas").unwrap(),
        ["schemas/base.yml", "schemas/network/device.yml"]
    );
    assert_eq!(mirror.list_files(&first, "").unwrap().len(), 5);
    assert_eq!(
        mirror.list_files(&first, "schemas/base.yml").unwrap(),
        ["schemas/base.yml"]
    );
    let manifest = mirror.manifest(&first).unwrap().unwrap();
    assert_eq!(
        manifest.jinja2_transform("startup").unwrap().query,
        "devices"
    );

    // A new commit and a new branch are found by the next fetch; old commits stay readable.
    let second = commit(
        &repo,
        "main",
        &[("templates/startup.j2", "hostname {{ name | upper }}")],
        "second",
    );
    let feature = commit(
        &repo,
        "feature-1",
        &[("templates/extra.j2", "x")],
        "feature",
    );
    let branches = mirror.fetch().unwrap();
    assert_eq!(branches["main"], second);
    assert_eq!(branches["feature-1"], feature);
    assert_eq!(
        mirror.read_file(&first, "templates/startup.j2").unwrap(),
        b"hostname {{ name }}"
    );
    assert_eq!(
        mirror.read_file(&second, "templates/startup.j2").unwrap(),
        b"hostname {{ name | upper }}"
    );
    // A branch deleted on the remote goes from the mirror too.
    repo.find_reference("refs/heads/feature-1")
        .unwrap()
        .delete()
        .unwrap();
    assert!(!mirror.fetch().unwrap().contains_key("feature-1"));

    // Reopening the mirror keeps what it holds.
    drop(mirror);
    let reopened =
        Mirror::open_or_clone(&mirror_dir, Remote::new(dir.display().to_string())).unwrap();
    assert_eq!(reopened.branches().unwrap()["main"], second);

    // A commit's files on disk.
    let out = temp("checkout").join("files");
    reopened.checkout(&second, &out).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("templates/startup.j2")).unwrap(),
        "hostname {{ name | upper }}"
    );
    assert!(out.join("schemas/network/device.yml").exists());
    assert_eq!(
        reopened.checkout(&second, &out).unwrap_err().kind(),
        RepositoryErrorKind::InvalidInput
    );
}

#[test]
fn reads_outside_the_repository_and_unknown_things_are_refused() {
    let (dir, _repo, first) = source();
    let mirror = Mirror::open_or_clone(
        &temp("refuse").join("m.git"),
        Remote::new(dir.display().to_string()),
    )
    .unwrap();
    for path in [
        "../secret",
        "/etc/passwd",
        "templates/../../x",
        "a\0b",
        "",
        "templates\\x",
    ] {
        assert_eq!(
            mirror.read_file(&first, path).unwrap_err().kind(),
            RepositoryErrorKind::InvalidInput,
            "{path:?}"
        );
    }
    assert_eq!(
        mirror.list_files(&first, "../").unwrap_err().kind(),
        RepositoryErrorKind::InvalidInput
    );
    assert_eq!(
        mirror.read_file(&first, "missing.txt").unwrap_err().kind(),
        RepositoryErrorKind::NotFound
    );
    assert_eq!(
        mirror.read_file(&first, "templates").unwrap_err().kind(),
        RepositoryErrorKind::NotFound
    );
    assert_eq!(
        mirror.read_file("not-a-sha", "x").unwrap_err().kind(),
        RepositoryErrorKind::InvalidInput
    );
    assert_eq!(
        mirror
            .read_file("0123456789012345678901234567890123456789", "x")
            .unwrap_err()
            .kind(),
        RepositoryErrorKind::NotFound
    );
}

#[test]
fn an_invalid_manifest_is_refused_naming_the_file_and_line() {
    let (dir, repo, _) = source();
    let broken = commit(
        &repo,
        "main",
        &[(
            ".infrahub.yml",
            "queries:\n  - {name: q, file_path: ../outside.gql}\n",
        )],
        "broken",
    );
    let mirror = Mirror::open_or_clone(
        &temp("manifest").join("m.git"),
        Remote::new(dir.display().to_string()),
    )
    .unwrap();
    let error = mirror.manifest(&broken).unwrap_err();
    assert_eq!(error.kind(), RepositoryErrorKind::Manifest);
    assert!(
        error
            .message()
            .starts_with(".infrahub.yml: `queries[0].file_path`: `../outside.gql` leads outside"),
        "{error}"
    );
}

#[test]
fn unsupported_or_unreachable_remotes_fail_clearly_without_credentials() {
    let directory = temp("unreachable").join("m.git");
    let error =
        Mirror::open_or_clone(&directory, Remote::new("ssh://git@example.com/x.git")).unwrap_err();
    assert_eq!(error.kind(), RepositoryErrorKind::InvalidInput);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let remote = Remote {
        url: format!("http://alice:hunter2@127.0.0.1:{port}/repo.git"),
        username: Some("alice".into()),
        password: Some("s3cret-token".into()),
    };
    let error = Mirror::open_or_clone(&directory, remote.clone()).unwrap_err();
    assert_eq!(error.kind(), RepositoryErrorKind::Unavailable, "{error}");
    let text = format!("{error} {remote:?}");
    assert!(
        !text.contains("hunter2") && !text.contains("s3cret-token"),
        "{text}"
    );
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/repo.git")),
        "{text}"
    );
    assert!(
        !directory.exists(),
        "a failed first fetch leaves no mirror behind"
    );
    assert_eq!(redact("https://u:p@host/a/b.git"), "https://host/a/b.git");
    assert_eq!(redact("https://host/a"), "https://host/a");
}

/// A `git daemon` serving `base` on a free 127.0.0.1 port; killed when dropped.
struct Daemon(Child, u16);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn git_daemon(base: &Path) -> Option<Daemon> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
            &base.display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let daemon = Daemon(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(daemon);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_network_remote_served_by_git_daemon() {
    let (dir, repo, first) = source();
    let Some(daemon) = git_daemon(dir.parent().unwrap()) else {
        assert!(
            std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "`git daemon` could not be started"
        );
        eprintln!("skipping: `git daemon` could not be started");
        return;
    };
    let name = dir.file_name().unwrap().to_str().unwrap();
    let url = format!("git://127.0.0.1:{}/{name}", daemon.1);
    let mirror = Mirror::open_or_clone(&temp("daemon").join("m.git"), Remote::new(url)).unwrap();
    assert_eq!(mirror.branches().unwrap()["main"], first);
    let second = commit(
        &repo,
        "main",
        &[("objects/sites.yml", "kind: LocationSite")],
        "objects",
    );
    assert_eq!(mirror.fetch().unwrap()["main"], second);
    assert_eq!(
        mirror.read_file(&second, "objects/sites.yml").unwrap(),
        b"kind: LocationSite"
    );
}

#[test]
fn references_resolve_to_commits_and_changes_between_commits_are_listed() {
    let (dir, repo, first) = source();
    let second = commit(
        &repo,
        "main",
        &[
            ("templates/startup.j2", "hostname {{ name | upper }}"),
            ("templates/new.j2", "new"),
        ],
        "second",
    );
    let head = repo
        .find_commit(git2::Oid::from_str(&first).unwrap())
        .unwrap();
    repo.tag_lightweight("v1.0", head.as_object(), false)
        .unwrap();
    let signature = Signature::now("test", "test@example.com").unwrap();
    repo.tag(
        "v1.0-annotated",
        head.as_object(),
        &signature,
        "release",
        false,
    )
    .unwrap();
    let url = format!("file://{}", dir.display());

    // Probing lists the branches and writes nothing.
    let heads = probe(&Remote::new(url.clone())).unwrap();
    assert_eq!(heads["main"], second);
    let heads = probe(&Remote::new(dir.display().to_string())).unwrap();
    assert_eq!(heads["main"], second, "a local path works too");
    let missing = temp("probe-missing");
    let error = probe(&Remote::new(format!("file://{}", missing.display()))).unwrap_err();
    assert_eq!(error.kind(), RepositoryErrorKind::Unavailable, "{error}");
    assert!(
        std::fs::read_dir(&missing).unwrap().next().is_none(),
        "probing writes nothing"
    );
    assert_eq!(
        probe(&Remote::new("ssh://git@example.com/x.git"))
            .unwrap_err()
            .kind(),
        RepositoryErrorKind::InvalidInput
    );

    let mirror = Mirror::open_or_clone(&temp("resolve").join("m.git"), Remote::new(url)).unwrap();
    assert_eq!(mirror.resolve("main").unwrap(), second);
    assert_eq!(mirror.resolve("v1.0").unwrap(), first);
    assert_eq!(mirror.resolve("v1.0-annotated").unwrap(), first);
    assert_eq!(mirror.resolve(&first).unwrap(), first);
    assert_eq!(mirror.resolve(&first[..10]).unwrap(), first);
    for bad in ["", "-x", "a..b", "a b", "refs:x"] {
        assert_eq!(
            mirror.resolve(bad).unwrap_err().kind(),
            RepositoryErrorKind::InvalidInput,
            "{bad:?}"
        );
    }
    for unknown in [
        "nope",
        "0000000000000000000000000000000000000000",
        "deadbeef",
    ] {
        assert_eq!(
            mirror.resolve(unknown).unwrap_err().kind(),
            RepositoryErrorKind::NotFound,
            "{unknown:?}"
        );
    }

    // A commit's files from another thread.
    let reader = mirror.commit_reader(&first).unwrap();
    let text = std::thread::spawn(move || reader.read_text("templates/startup.j2"))
        .join()
        .unwrap();
    assert_eq!(text.unwrap().as_deref(), Some("hostname {{ name }}"));
    let reader = mirror.commit_reader(&second).unwrap();
    assert_eq!(reader.read_text("templates/none.j2").unwrap(), None);
    assert_eq!(reader.read_text("templates").unwrap(), None);
    assert!(reader.read_text("../etc/passwd").is_err());
    assert_eq!(
        mirror.commit_reader("not-a-commit").unwrap_err().kind(),
        RepositoryErrorKind::InvalidInput
    );

    assert_eq!(
        mirror.changed_files(&first, &second).unwrap(),
        [
            ("templates/new.j2".to_owned(), "added"),
            ("templates/startup.j2".to_owned(), "updated")
        ]
    );
    assert_eq!(
        mirror.changed_files(&second, &first).unwrap(),
        [
            ("templates/new.j2".to_owned(), "removed"),
            ("templates/startup.j2".to_owned(), "updated")
        ]
    );
}

#[test]
fn merges_are_written_in_the_mirror_and_pushed_forward_only() {
    let (_dir, repo, first) = source();
    // A feature branch and the main branch both move on, touching different files.
    let base = repo.find_commit(first.parse().unwrap()).unwrap();
    repo.branch("feature", &base, false).unwrap();
    let feature = commit(
        &repo,
        "feature",
        &[("templates/startup.j2", "hostname {{ name }}!")],
        "feature",
    );
    let main = commit(
        &repo,
        "main",
        &[(
            "queries/devices.gql",
            "query { InfraDevice { count } } # main",
        )],
        "main",
    );
    // Pushes go to a bare repository, as to a Git server (libgit2 does not push to a
    // repository with a working tree).
    let bare_dir = temp("bare");
    let bare = Repository::init_bare(&bare_dir).unwrap();
    let bare_url = format!("file://{}", bare_dir.display());
    let publish = || {
        repo.remote_anonymous(&bare_url)
            .unwrap()
            .push(
                &[
                    "+refs/heads/main:refs/heads/main",
                    "+refs/heads/feature:refs/heads/feature",
                ],
                None,
            )
            .unwrap();
    };
    publish();
    let mirror = Mirror::open_or_clone(&temp("mirror"), Remote::new(bare_url.clone())).unwrap();
    let head = |name: &str| {
        bare.find_reference(&format!("refs/heads/{name}"))
            .unwrap()
            .target()
            .unwrap()
            .to_string()
    };

    // Each holding the other's ancestor: no merge commit.
    assert_eq!(mirror.merge(&main, &first, "m").unwrap(), main);
    assert_eq!(
        mirror.merge(&first, &main, "m").unwrap(),
        main,
        "a fast-forward"
    );
    // Diverged: a merge commit with both changes.
    let merged = mirror.merge(&main, &feature, "Merge feature").unwrap();
    assert_ne!(merged, main);
    assert_eq!(
        mirror.read_file(&merged, "templates/startup.j2").unwrap(),
        b"hostname {{ name }}!"
    );
    assert_eq!(
        mirror.read_file(&merged, "queries/devices.gql").unwrap(),
        b"query { InfraDevice { count } } # main"
    );

    // Pushed: the remote's main moves to the merge, a new branch is created.
    mirror.push(&merged, "main").unwrap();
    assert_eq!(head("main"), merged);
    mirror.push(&first, "from-infrahub").unwrap();
    assert_eq!(head("from-infrahub"), first);
    assert_eq!(
        mirror.branches().unwrap().get("from-infrahub"),
        Some(&first)
    );
    // Never backwards.
    let error = mirror.push(&first, "main").unwrap_err();
    assert_eq!(error.kind(), RepositoryErrorKind::Conflict, "{error}");
    assert_eq!(head("main"), merged);
    let error = mirror.push(&first, "no..good").unwrap_err();
    assert_eq!(error.kind(), RepositoryErrorKind::InvalidInput);

    // Both sides changing one file: a conflict naming it, nothing written.
    let left = commit(
        &repo,
        "feature",
        &[("templates/startup.j2", "left")],
        "left",
    );
    let right = commit(&repo, "main", &[("templates/startup.j2", "right")], "right");
    publish();
    mirror.fetch().unwrap();
    let error = mirror.merge(&right, &left, "m").unwrap_err();
    assert_eq!(error.kind(), RepositoryErrorKind::Conflict);
    assert!(error.message().contains("templates/startup.j2"), "{error}");
}
