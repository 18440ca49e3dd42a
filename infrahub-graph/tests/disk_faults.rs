//! What the embedded store acknowledges survives `kill -9` also after failed writes: after a
//! changeset that failed its checks, and after the disk filled up and was freed again.
//!
//! Each test runs a child process (this test binary, re-run with `INFRAHUB_FAULT_CHILD` set to
//! the scenario and `INFRAHUB_FAULT_DIR` to the store's directory) that writes and reports every
//! acknowledged changeset on stdout; the parent kills it with SIGKILL, reopens the store and
//! checks that every acknowledged changeset is there.
//!
//! The disk-full scenario mounts a small tmpfs, which needs root (CAP_SYS_ADMIN). Without it
//! the test says that it skips, unless `INFRAHUB_TEST_REQUIRE_SERVICES=1` (CI), where it fails.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use infrahub_graph::{
    AttributeValue, BranchView, Changeset, CreateBranchOptions, EmbeddedGraph,
    EmbeddedGraphOptions, ErrorKind, GraphStore, NodeId, Op, Scope, Selection, new_node_id,
};
use serde_json::json;

const SCENARIO: &str = "INFRAHUB_FAULT_CHILD";
const DIR: &str = "INFRAHUB_FAULT_DIR";
const KIND: &str = "FaultNode";

fn open(dir: &Path) -> EmbeddedGraph {
    EmbeddedGraph::open(dir, EmbeddedGraphOptions::default())
        .unwrap_or_else(|e| panic!("opening {}: {e}", dir.display()))
}

/// A changeset creating node `id` whose `number` attribute holds `number` (and `padding`
/// bytes of filler text).
fn create(id: NodeId, number: u64, padding: usize) -> Changeset {
    let mut changeset = Changeset::new("main");
    changeset.push(Op::CreateNode {
        id,
        kind: KIND.into(),
        labels: vec![],
        scope: Scope::Branch,
    });
    changeset.push(Op::SetAttribute {
        node: id,
        name: "number".into(),
        value: AttributeValue::new(json!(number)),
        scope: Scope::Branch,
        indexed: true,
    });
    if padding > 0 {
        changeset.push(Op::SetAttribute {
            node: id,
            name: "padding".into(),
            value: AttributeValue::new(json!("p".repeat(padding))),
            scope: Scope::Branch,
            indexed: false,
        });
    }
    changeset
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn create_main(store: &EmbeddedGraph) {
    let options = CreateBranchOptions {
        is_default: true,
        ..Default::default()
    };
    match store.create_branch("main", options).await {
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
        Err(err) => panic!("creating main: {err}"),
    }
}

fn ack(id: NodeId, number: u64) {
    println!("ACK {id} {number}");
}

/// A running child and the lines it prints.
struct ChildRun {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl ChildRun {
    fn start(test: &str, scenario: &str, dir: &Path) -> ChildRun {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new(exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(SCENARIO, scenario)
            .env(DIR, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning the child: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        ChildRun {
            child,
            stdin,
            lines,
        }
    }

    /// Collects acknowledgements until the child prints `marker`.
    fn until(&mut self, marker: &str, acked: &mut BTreeMap<NodeId, u64>, notes: &mut Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the child did not print {marker}"));
            // libtest prints the test's name without a newline before the child's first line.
            if line.ends_with(marker) {
                return;
            }
            let start = line.find("ACK ").unwrap_or(0);
            let parts: Vec<&str> = line[start..].split(' ').collect();
            match parts.as_slice() {
                ["ACK", id, number] => {
                    let id = id.parse::<NodeId>().unwrap_or_else(|e| panic!("{e}"));
                    let number = number.parse::<u64>().unwrap_or_else(|e| panic!("{e}"));
                    acked.insert(id, number);
                }
                _ => notes.push(line),
            }
        }
    }

    fn tell(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap_or_else(|e| panic!("writing to the child: {e}"));
    }

    fn kill(mut self) {
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("killing the child: {e}"));
        let _ = self.child.wait();
    }
}

/// Every acknowledged node is in the reopened store with its number.
fn verify(dir: &Path, acked: &BTreeMap<NodeId, u64>) {
    let store = open(dir);
    let view = BranchView::now("main");
    let ids: Vec<NodeId> = acked.keys().copied().collect();
    let nodes = runtime()
        .block_on(store.get_nodes(&view, &ids, &Selection::all_attributes()))
        .unwrap_or_else(|e| panic!("reading back: {e}"));
    let found: BTreeMap<NodeId, u64> = nodes
        .iter()
        .filter_map(|node| {
            let number = node.attributes.get("number")?.value.value.as_u64()?;
            Some((node.id, number))
        })
        .collect();
    let missing: Vec<&NodeId> = acked.keys().filter(|id| !found.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged changesets are missing after kill -9 and restart",
        missing.len(),
        acked.len()
    );
    assert_eq!(&found, acked, "numbers read back differ");
}

fn wait_line() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

// ---------------------------------------------------------------------------------------------
// A failed changeset between acknowledged ones.

const FAILED_TEST: &str = "writes_after_a_failed_changeset_survive_kill_9";

fn failed_child(dir: &Path) {
    runtime().block_on(async {
        let store = open(dir);
        create_main(&store).await;
        let first = new_node_id();
        store
            .commit(create(first, 1, 0))
            .await
            .unwrap_or_else(|e| panic!("first commit: {e}"));
        ack(first, 1);
        // The same node again: refused, in a batch of its own.
        let error = store
            .commit(create(first, 2, 0))
            .await
            .err()
            .unwrap_or_else(|| panic!("creating a node twice was accepted"));
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        for number in 3..=5 {
            let id = new_node_id();
            store
                .commit(create(id, number, 0))
                .await
                .unwrap_or_else(|e| panic!("commit {number}: {e}"));
            ack(id, number);
        }
        println!("DONE");
        wait_line();
    });
}

#[test]
fn writes_after_a_failed_changeset_survive_kill_9() {
    if let (Ok(scenario), Ok(dir)) = (std::env::var(SCENARIO), std::env::var(DIR)) {
        if scenario == "failed" {
            failed_child(Path::new(&dir));
        }
        return;
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("infrahub-fault-{}", uuid::Uuid::new_v4()));
    let mut acked = BTreeMap::new();
    let mut notes = Vec::new();
    let mut child = ChildRun::start(FAILED_TEST, "failed", &dir);
    child.until("DONE", &mut acked, &mut notes);
    // Killed before the idle checkpoint (two seconds) could empty the journal.
    child.kill();
    assert_eq!(acked.len(), 4);
    verify(&dir, &acked);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// The disk fills up, then space is freed.

const DISK_FULL_TEST: &str = "writes_acknowledged_after_a_full_disk_survive_kill_9";

/// Fills the filesystem of `dir` with file `filler` until it refuses more.
fn fill_disk(filler: &Path) {
    let mut file = std::fs::File::create(filler).unwrap_or_else(|e| panic!("{e}"));
    for chunk in [1 << 20, 4096, 64] {
        let bytes = vec![0xA5u8; chunk];
        while file.write_all(&bytes).is_ok() {}
    }
    let _ = file.sync_all();
}

fn disk_full_child(dir: &Path) {
    runtime().block_on(async {
        let store = open(&dir.join("store"));
        create_main(&store).await;
        let mut number = 0u64;
        let mut commit = |padding: usize| {
            number += 1;
            let id = new_node_id();
            let store = store.clone();
            let current = number;
            async move {
                match store.commit(create(id, current, padding)).await {
                    Ok(_) => {
                        ack(id, current);
                        Ok(())
                    }
                    Err(err) => Err(err),
                }
            }
        };
        for _ in 0..20 {
            commit(100)
                .await
                .unwrap_or_else(|e| panic!("before the disk filled: {e}"));
        }
        fill_disk(&dir.join("filler"));
        // A record larger than the journal's preallocated space: the journal must grow, and
        // cannot.
        match commit(20 << 20).await {
            Ok(()) => println!("NOTE a 20 MiB changeset was accepted on a full disk"),
            Err(err) => println!("NOTE refused on a full disk: {err}"),
        }
        // Small records fit in the journal's preallocated space until it is used up; the
        // checkpoint that would empty it cannot write the database, which then refuses every
        // operation until it is reopened: the store refuses writes until it recovered.
        let mut first_refusal = true;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match commit(20_000).await {
                Ok(()) => {}
                Err(err) => {
                    let message = err.to_string();
                    if first_refusal {
                        println!("NOTE first refusal: {message}");
                        first_refusal = false;
                    }
                    if message.contains("refuses writes until it recovers") {
                        println!("NOTE store refusal: {message}");
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        println!("FULL");
        wait_line();
        // Space is back: every write succeeds again, at once or after the store recovered.
        for _ in 0..100 {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match commit(100).await {
                    Ok(()) => break,
                    Err(err) if Instant::now() < deadline => {
                        println!("NOTE still refused: {err}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(err) => panic!("writes still refused after space was freed: {err}"),
                }
            }
        }
        println!("DONE");
        wait_line();
    });
}

/// A tmpfs of `size` mounted at a new directory, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let path = std::env::temp_dir().join(format!("infrahub-diskfull-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !output.status.success() {
            let _ = std::fs::remove_dir(&path);
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
        }
        Ok(Tmpfs { path })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[test]
fn writes_acknowledged_after_a_full_disk_survive_kill_9() {
    if let (Ok(scenario), Ok(dir)) = (std::env::var(SCENARIO), std::env::var(DIR)) {
        if scenario == "disk-full" {
            disk_full_child(Path::new(&dir));
        }
        return;
    }
    let tmpfs = match Tmpfs::mount("48m") {
        Ok(tmpfs) => tmpfs,
        Err(why) if std::env::var("INFRAHUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("cannot mount a tmpfs for the disk-full test (run as root): {why}")
        }
        Err(why) => {
            eprintln!("skipping the disk-full test: cannot mount a tmpfs ({why})");
            return;
        }
    };
    let mut acked = BTreeMap::new();
    let mut notes = Vec::new();
    let mut child = ChildRun::start(DISK_FULL_TEST, "disk-full", &tmpfs.path);
    child.until("FULL", &mut acked, &mut notes);
    let before = acked.len();
    std::fs::remove_file(tmpfs.path.join("filler")).unwrap_or_else(|e| panic!("{e}"));
    child.tell("go");
    child.until("DONE", &mut acked, &mut notes);
    child.kill();
    for note in &notes {
        println!("{note}");
    }
    assert!(
        notes
            .iter()
            .any(|n| n.contains("NOTE refused on a full disk")),
        "the large changeset was not refused: {notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("NOTE first refusal")),
        "the full disk refused nothing: {notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("NOTE store refusal")),
        "the store did not refuse writes after its database failed: {notes:?}"
    );
    assert_eq!(acked.len(), before + 100);
    verify(&tmpfs.path.join("store"), &acked);
}
