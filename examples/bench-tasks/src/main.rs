//! Benchmarks infrahub-worker's task runtime: submit-to-start latency (p50/p99 of sequential
//! submissions), no-op tasks per second through 1 and 2 workers, embedded (in-process bus) and
//! on RabbitMQ, and filtered, counted pages of a task list of a million records.
//!
//! ```text
//! cargo run --release -p example-bench-tasks -- [--records N] [--tasks N] [--skip-amqp]
//! ```
//!
//! `--records` (default 1,000,000; 0 skips) sizes the task list, `--tasks` (default 20,000;
//! RabbitMQ runs a quarter of it) the throughput runs. RabbitMQ is the broker at
//! `INFRAHUB_TEST_AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`); it is skipped
//! with a note when it does not answer. Every store is a redb file in a fresh directory under
//! the system's temporary directory, removed at the end.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use infrahub_bus::{AmqpBus, BusBackend, BusConfig};
use infrahub_worker::{
    Catalogue, EmbeddedTaskStore, NewTask, RelatedNode, RuntimeConfig, Submission, TaskContext,
    TaskFilter, TaskRuntime, TaskState, TaskStore, TaskUpdate, Workflow, WorkflowDefinition,
    WorkflowType,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The no-op workflow's name.
const NOOP: &str = "bench-noop";
/// Sequential submissions measured for the latency (after as many again for warm-up / 20).
const LATENCY_SAMPLES: usize = 2_000;
/// Concurrent submitters of the throughput runs.
const SUBMITTERS: usize = 32;
/// Concurrent callers filling the million-record store.
const FILLERS: usize = 1_024;
/// Runs of each page query.
const PAGE_RUNS: usize = 50;
/// Workflow names of the filled store.
const WORKFLOWS: [&str; 20] = [
    "branch-create",
    "branch-rebase",
    "branch-merge",
    "branch-merge-mutation",
    "branch-delete",
    "branch-validate",
    "diff-update",
    "diff-refresh",
    "git-repository-sync",
    "git-repository-import",
    "transform-jinja2",
    "transform-python",
    "check-run",
    "generator-run",
    "webhook-send",
    "artifact-generate",
    "schema-validate",
    "proposed-change-pipeline",
    "ipam-reconcile",
    "anonymous-telemetry",
];
/// Distinct branches, related nodes of the filled store.
const BRANCHES: u64 = 50;
const NODES: u64 = 10_000;

/// Does nothing; tells `starts` (when given) the instant it was entered.
struct NoOp {
    starts: Option<mpsc::UnboundedSender<(String, Instant)>>,
}

#[async_trait::async_trait]
impl Workflow for NoOp {
    fn definition(&self) -> WorkflowDefinition {
        WorkflowDefinition {
            name: NOOP.into(),
            workflow_type: WorkflowType::User,
            database_change: false,
            max_attempts: 1,
        }
    }

    async fn run(
        &self,
        context: &TaskContext,
        _parameters: Value,
    ) -> infrahub_worker::Result<Value> {
        let entered = Instant::now();
        if let Some(starts) = &self.starts {
            let _ = starts.send((context.id().to_owned(), entered));
        }
        Ok(Value::Null)
    }
}

fn catalogue(starts: Option<mpsc::UnboundedSender<(String, Instant)>>) -> Catalogue {
    let mut catalogue = Catalogue::new();
    catalogue.register(Arc::new(NoOp { starts }));
    catalogue
}

fn noop_submission(n: usize) -> Submission {
    Submission {
        workflow: NOOP.into(),
        parameters: json!({ "n": n }),
        branch: Some("main".into()),
        ..Submission::default()
    }
}

/// A fresh directory under the temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "bench-tasks-{label}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn file(&self) -> PathBuf {
        self.0.join("tasks.redb")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where tasks are queued.
#[derive(Clone)]
enum Backend {
    /// The runtime's own in-process bus.
    Embedded,
    /// RabbitMQ; each run gets its own namespace.
    Amqp(Box<BusConfig>),
}

impl Backend {
    fn label(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Amqp(_) => "rabbitmq",
        }
    }
}

/// The runtime over `store` and `backend` (the AMQP namespaces used go to `namespaces`).
async fn runtime(
    backend: &Backend,
    store: Arc<EmbeddedTaskStore>,
    catalogue: Catalogue,
    namespaces: &mut Vec<BusConfig>,
) -> anyhow::Result<TaskRuntime> {
    Ok(match backend {
        Backend::Embedded => TaskRuntime::in_process(store, catalogue, RuntimeConfig::default())?,
        Backend::Amqp(config) => {
            let mut config = BusConfig::clone(config);
            config.namespace = format!("{}-{}", config.namespace, namespaces.len());
            let bus = infrahub_bus::connect(&config).await?;
            namespaces.push(config);
            TaskRuntime::new(store, bus, catalogue, RuntimeConfig::default())
        }
    })
}

/// RabbitMQ's configuration from an `amqp://user:pass@host:port/vhost` URL.
fn amqp_config(url: &str) -> anyhow::Result<BusConfig> {
    let base = BusConfig::from_url(url)?;
    anyhow::ensure!(
        base.backend == BusBackend::Amqp,
        "an amqp:// URL in INFRAHUB_TEST_AMQP_URL"
    );
    Ok(BusConfig {
        namespace: format!("bench-tasks-{}", std::process::id()),
        maximum_concurrent_messages: 8,
        connect_timeout: Duration::from_secs(3),
        ..base
    })
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The process's resident set size in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Submits `LATENCY_SAMPLES` no-op tasks one at a time (each waited for before the next):
/// submit-to-start and submit-call times, sorted.
async fn latency(
    backend: &Backend,
    namespaces: &mut Vec<BusConfig>,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let scratch = Scratch::new("latency")?;
    let store = Arc::new(EmbeddedTaskStore::open(&scratch.file())?);
    let (starts, mut started) = mpsc::unbounded_channel();
    let runtime = runtime(backend, store, catalogue(Some(starts)), namespaces).await?;
    let _worker = runtime.start_worker().await?;
    let warm_up = LATENCY_SAMPLES / 20;
    let mut to_start = Vec::with_capacity(LATENCY_SAMPLES);
    let mut calls = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..warm_up + LATENCY_SAMPLES {
        let submitted = Instant::now();
        let task = runtime.submit(noop_submission(n)).await?;
        let call = submitted.elapsed();
        let (id, entered) = tokio::time::timeout(Duration::from_secs(10), started.recv())
            .await
            .context("the task did not start within 10 s")?
            .context("the workflow went away")?;
        if id != task.id {
            bail!("task {id} started, {} expected", task.id);
        }
        let done = runtime.wait(&task.id, Duration::from_secs(10)).await?;
        if done.state != TaskState::Completed {
            bail!("task {} ended {}", done.id, done.state);
        }
        if n >= warm_up {
            to_start.push(entered.duration_since(submitted));
            calls.push(call);
        }
    }
    to_start.sort();
    calls.sort();
    Ok((to_start, calls))
}

/// Submits `tasks` no-op tasks from `SUBMITTERS` concurrent submitters to `workers` workers and
/// waits until every one is `COMPLETED`: tasks/s end to end, and submissions/s.
async fn throughput(
    backend: &Backend,
    tasks: usize,
    workers: usize,
    namespaces: &mut Vec<BusConfig>,
) -> anyhow::Result<(f64, f64)> {
    let scratch = Scratch::new("throughput")?;
    let store = Arc::new(EmbeddedTaskStore::open(&scratch.file())?);
    let runtime = runtime(backend, Arc::clone(&store), catalogue(None), namespaces).await?;
    let mut handles = Vec::new();
    for _ in 0..workers {
        handles.push(runtime.start_worker().await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let begun = Instant::now();
    let mut submitters = Vec::new();
    for _ in 0..SUBMITTERS {
        let runtime = runtime.clone();
        let next = Arc::clone(&next);
        submitters.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= tasks {
                    return anyhow::Ok(());
                }
                runtime.submit(noop_submission(n)).await?;
            }
        }));
    }
    for submitter in submitters {
        submitter.await??;
    }
    let submitted = begun.elapsed();
    let completed = TaskFilter {
        states: Some(vec![TaskState::Completed]),
        ..TaskFilter::default()
    };
    let mut last = (0, Instant::now());
    loop {
        let done = store.list(&completed, 0, 0).await?.count;
        if done >= tasks as u64 {
            break;
        }
        if done != last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(30) {
            let page = store.list(&TaskFilter::default(), 0, 0).await?;
            bail!(
                "stalled at {done} of {tasks} completed ({} recorded)",
                page.count
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = begun.elapsed();
    drop(handles);
    Ok((
        tasks as f64 / elapsed.as_secs_f64(),
        tasks as f64 / submitted.as_secs_f64(),
    ))
}

/// A pseudo-random number of `n` (splitmix64).
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn node_id(n: u64) -> String {
    format!("18a1c3e0-0000-4000-8000-{n:012x}")
}

/// Record `n` of the filled store and the state it ends in.
fn filled_task(n: u64) -> (NewTask, TaskState) {
    let h = mix(n);
    let workflow = WORKFLOWS[(h % WORKFLOWS.len() as u64) as usize];
    let branch = format!("branch-{}", (h >> 8) % BRANCHES);
    let state = match (h >> 16) % 20 {
        0..=13 => TaskState::Completed,
        14 | 15 => TaskState::Failed,
        16 => TaskState::Running,
        17 => TaskState::Cancelled,
        _ => TaskState::Pending,
    };
    let related_nodes = if (h >> 40).is_multiple_of(4) {
        vec![RelatedNode {
            id: node_id((h >> 24) % NODES),
            kind: "InfraDevice".into(),
        }]
    } else {
        Vec::new()
    };
    let task = NewTask {
        id: None,
        title: format!("{workflow} on {branch}"),
        workflow: workflow.into(),
        workflow_type: WorkflowType::Core,
        database_change: h.is_multiple_of(3),
        state: TaskState::Pending,
        parameters: json!({ "branch": branch, "n": n }),
        branch: Some(branch),
        related_nodes,
        account: Some("admin".into()),
    };
    (task, state)
}

/// Times `PAGE_RUNS` runs of a page: p50, p99, the count and the page's length.
async fn time_page(
    store: &EmbeddedTaskStore,
    filter: &TaskFilter,
    offset: usize,
) -> anyhow::Result<(Duration, Duration, u64, usize)> {
    let mut times = Vec::with_capacity(PAGE_RUNS);
    let mut last = (0, 0);
    for _ in 0..PAGE_RUNS {
        let begun = Instant::now();
        let page = store.list(filter, offset, 50).await?;
        times.push(begun.elapsed());
        last = (page.count, page.tasks.len());
    }
    times.sort();
    Ok((
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        last.0,
        last.1,
    ))
}

/// Fills a store with `records` tasks, reopens it and times filtered pages.
async fn million(records: usize) -> anyhow::Result<()> {
    let scratch = Scratch::new("million")?;
    let path = scratch.file();
    let rss_start = rss_mib();
    let store = Arc::new(EmbeddedTaskStore::open(&path)?);
    let next = Arc::new(AtomicUsize::new(0));
    let sample_ids = Arc::new(Mutex::new(Vec::new()));
    let updates = Arc::new(AtomicUsize::new(0));
    // About 1,000 ids kept for the `ids` filter.
    let sample_every = (records / 1_000).max(1);
    let begun = Instant::now();
    let mut fillers = Vec::new();
    for _ in 0..FILLERS {
        let store = Arc::clone(&store);
        let next = Arc::clone(&next);
        let sample_ids = Arc::clone(&sample_ids);
        let updates = Arc::clone(&updates);
        fillers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= records {
                    return anyhow::Ok(());
                }
                let (task, state) = filled_task(n as u64);
                let task = store.create(task).await?;
                if state != TaskState::Pending {
                    store
                        .update(
                            &task.id,
                            TaskUpdate {
                                state: Some(state),
                                error: (state == TaskState::Failed).then(|| "boom".into()),
                                result: (state == TaskState::Completed)
                                    .then(|| json!({"ok": true})),
                                ..TaskUpdate::default()
                            },
                        )
                        .await?;
                    updates.fetch_add(1, Ordering::Relaxed);
                }
                if n.is_multiple_of(sample_every) {
                    sample_ids
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .push(task.id);
                }
            }
        }));
    }
    for filler in fillers {
        filler.await??;
    }
    let filled = begun.elapsed();
    let updates = updates.load(Ordering::Relaxed);
    println!(
        "1M list  fill {records} creates + {updates} state updates, {FILLERS} callers: {:.1} s ({:.0} creates/s, {:.0} writes/s)",
        filled.as_secs_f64(),
        records as f64 / filled.as_secs_f64(),
        (records + updates) as f64 / filled.as_secs_f64()
    );
    let size = std::fs::metadata(&path)?.len();
    println!(
        "1M list  file size: {:.1} MiB ({:.0} B/task)",
        size as f64 / 1024.0 / 1024.0,
        size as f64 / records as f64
    );
    println!(
        "1M list  RSS after filling: {:.1} MiB (at start {rss_start:.1} MiB)",
        rss_mib()
    );
    drop(store);
    // The writer thread holds the file until it sees the store gone.
    let waited = Instant::now();
    let (store, reopen) = loop {
        let begun = Instant::now();
        match EmbeddedTaskStore::open(&path) {
            Ok(store) => break (store, begun.elapsed()),
            Err(error) if waited.elapsed() < Duration::from_secs(30) => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(error) => return Err(error.into()),
        }
    };
    println!(
        "1M list  reopen (index load of {records}): {:.0} ms",
        ms(reopen)
    );
    println!("1M list  RSS after reopening: {:.1} MiB", rss_mib());

    let ids: Vec<String> = sample_ids
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .step_by(20)
        .take(50)
        .cloned()
        .collect();
    let filters: Vec<(&str, TaskFilter, usize)> = vec![
        (
            "state COMPLETED",
            TaskFilter {
                states: Some(vec![TaskState::Completed]),
                ..TaskFilter::default()
            },
            0,
        ),
        (
            "state RUNNING+PENDING",
            TaskFilter {
                states: Some(vec![TaskState::Running, TaskState::Pending]),
                ..TaskFilter::default()
            },
            0,
        ),
        (
            "branch",
            TaskFilter {
                branch: Some("branch-17".into()),
                ..TaskFilter::default()
            },
            0,
        ),
        (
            "workflow",
            TaskFilter {
                workflows: Some(vec![WORKFLOWS[3].into()]),
                ..TaskFilter::default()
            },
            0,
        ),
        (
            "branch + state + db change",
            TaskFilter {
                branch: Some("branch-17".into()),
                states: Some(vec![TaskState::Running, TaskState::Pending]),
                database_change: Some(true),
                ..TaskFilter::default()
            },
            0,
        ),
        (
            "related node",
            TaskFilter {
                related_node: Some(node_id(4_242)),
                ..TaskFilter::default()
            },
            0,
        ),
        (
            "50 ids",
            TaskFilter {
                ids: Some(ids),
                ..TaskFilter::default()
            },
            0,
        ),
        ("no filter", TaskFilter::default(), 0),
        ("no filter, offset half", TaskFilter::default(), records / 2),
        (
            "q (title)",
            TaskFilter {
                q: Some("check-run on branch-17".into()),
                ..TaskFilter::default()
            },
            0,
        ),
        (
            "q + branch",
            TaskFilter {
                q: Some("check-run".into()),
                branch: Some("branch-17".into()),
                ..TaskFilter::default()
            },
            0,
        ),
    ];
    for (label, filter, offset) in &filters {
        let (p50, p99, count, len) = time_page(&store, filter, *offset).await?;
        let met = if p99 < Duration::from_millis(50) {
            "p99 < 50 ms"
        } else if p50 < Duration::from_millis(50) {
            "p50 < 50 ms"
        } else {
            "over 50 ms"
        };
        println!(
            "1M list  page of 50, {label:<28} p50 {:>8.2} ms, p99 {:>8.2} ms  (count {count}, {len} on the page; {met})",
            ms(p50),
            ms(p99)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut records = 1_000_000;
    let mut tasks = 20_000;
    let mut skip_amqp = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--records" => records = args.next().context("--records N")?.parse()?,
            "--tasks" => tasks = args.next().context("--tasks N")?.parse()?,
            "--skip-amqp" => skip_amqp = true,
            other => bail!("unknown argument `{other}`: --records N, --tasks N, --skip-amqp"),
        }
    }
    let mut backends = vec![Backend::Embedded];
    if skip_amqp {
        println!("rabbitmq skipped (--skip-amqp)");
    } else {
        let url = std::env::var("INFRAHUB_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        let config = amqp_config(&url)?;
        match infrahub_bus::connect(&config).await {
            Ok(bus) => {
                drop(bus);
                backends.push(Backend::Amqp(Box::new(config)));
            }
            Err(error) => println!("rabbitmq skipped: {url} did not answer ({error})"),
        }
    }
    let mut namespaces = Vec::new();
    for backend in &backends {
        let label = backend.label();
        let (to_start, calls) = latency(backend, &mut namespaces).await?;
        println!(
            "{label:<8} submit-to-start, {LATENCY_SAMPLES} sequential: p50 {:.3} ms, p99 {:.3} ms (submit call p50 {:.3} ms, p99 {:.3} ms)",
            ms(percentile(&to_start, 0.50)),
            ms(percentile(&to_start, 0.99)),
            ms(percentile(&calls, 0.50)),
            ms(percentile(&calls, 0.99)),
        );
        let count = match backend {
            Backend::Embedded => tasks,
            Backend::Amqp(_) => tasks / 4,
        };
        for workers in [1, 2] {
            let (rate, submit_rate) = throughput(backend, count, workers, &mut namespaces).await?;
            println!(
                "{label:<8} no-op tasks, {count} from {SUBMITTERS} submitters, {workers} worker(s): {rate:.0} tasks/s completed ({submit_rate:.0} submits/s)"
            );
        }
    }
    for config in &namespaces {
        AmqpBus::delete_namespace(config).await?;
    }
    if records > 0 {
        million(records).await?;
    }
    Ok(())
}
