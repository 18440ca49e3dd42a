//! The `infrahub` command.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use infrahub_server::config::Settings;

/// mimalloc: the server allocates many small, short-lived values per request; the system
/// allocator spends a third of the CPU of a large query in malloc/free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Infrahub: infrastructure data management with branches, diffs and time travel.
#[derive(Debug, Parser)]
#[command(name = "infrahub", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server.
    Server {
        #[command(subcommand)]
        command: ServerCommand,
    },
    /// Run a task worker of a distributed deployment.
    Worker {
        #[command(subcommand)]
        command: WorkerCommand,
    },
    /// Work with schema files offline.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Validate schema files on top of the built-in schema; print a summary, or with `--json`
    /// the processed schema as `GET /api/schema` serves it.
    Check {
        /// Print the processed schema as JSON.
        #[arg(long)]
        json: bool,
        /// Schema files (YAML or JSON), loaded together.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ServerCommand {
    /// Start the server (embedded storage, bus and cache unless configured otherwise).
    Start {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        listen: IpAddr,
        /// Port to listen on.
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Configuration file (default: `INFRAHUB_CONFIG`, else none).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum WorkerCommand {
    /// Start a worker: it runs the tasks API servers submit, on the shared graph database and
    /// message broker the configuration names (`database.db_type = neo4j`, `broker.driver`).
    Start {
        /// Configuration file (default: `INFRAHUB_CONFIG`, else none).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server {
            command:
                ServerCommand::Start {
                    listen,
                    port,
                    config,
                },
        } => start(listen, port, config),
        Command::Worker {
            command: WorkerCommand::Start { config },
        } => start_worker(config),
        Command::Schema {
            command: SchemaCommand::Check { json, files },
        } => schema_check(json, &files),
    }
}

fn schema_check(json: bool, paths: &[PathBuf]) -> anyhow::Result<()> {
    use infrahub_core::schema::{
        ProcessOptions, SchemaError, SchemaFile, check_namespaces, core_schema,
    };
    let render = |errors: Vec<SchemaError>| {
        anyhow::anyhow!(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    let options = ProcessOptions::default();
    let mut files = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.display().to_string();
        let file = SchemaFile::from_yaml(&text, Some(&name)).map_err(render)?;
        check_namespaces(&file).map_err(render)?;
        files.push(file);
    }
    let merged = SchemaFile::merge(files).map_err(render)?;
    let schema = core_schema(&options)
        .and_then(|core| core.with_file(&merged, &options))
        .map_err(render)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&schema.api_json(None))?);
    } else {
        let (nodes, generics, profiles, templates) = schema.counts();
        println!(
            "schema is valid: {nodes} nodes, {generics} generics, {profiles} profiles, {templates} templates"
        );
        println!("hash: {}", schema.hash());
    }
    Ok(())
}

/// Sets up logging and loads the configuration.
fn load_settings(config: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("INFRAHUB_LOG_FILTER")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let settings = Settings::load(config, &env).context("invalid configuration")?;
    tracing::debug!(settings = %settings.redacted_json(), "configuration loaded");
    Ok(settings)
}

/// The settings, the async runtime and the shutdown signal of a long-running command.
fn prepare(
    config: Option<PathBuf>,
) -> anyhow::Result<(
    Settings,
    tokio::runtime::Runtime,
    tokio::sync::oneshot::Receiver<()>,
)> {
    let settings = load_settings(config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let shutdown = shutdown_signal(settings.api.shutdown_timeout)?;
    Ok((settings, runtime, shutdown))
}

fn start_worker(config: Option<PathBuf>) -> anyhow::Result<()> {
    let (settings, runtime, shutdown) = prepare(config)?;
    runtime.block_on(async move {
        let deployment_id = infrahub_server::deployment_id(&settings.main.data_dir)?;
        let state =
            infrahub_server::build_state_as(settings, deployment_id, infrahub_server::Role::Worker)
                .await?;
        state.mark_ready();
        tracing::info!(identity = state.cluster.identity(), "task worker started");
        let _ = shutdown.await;
        tracing::info!("task worker stopping: tasks in flight are redelivered to other workers");
        drop(state);
        anyhow::Ok(())
    })
}

fn start(listen: IpAddr, port: u16, config: Option<PathBuf>) -> anyhow::Result<()> {
    let (settings, runtime, shutdown) = prepare(config)?;
    runtime.block_on(async move {
        let listener = infrahub_server::bind(SocketAddr::new(listen, port)).await?;
        infrahub_server::serve(settings, listener, async move {
            let _ = shutdown.await;
        })
        .await?;
        anyhow::Ok(())
    })
}

/// Seconds past the shutdown timeout after which the process exits even if the server did not
/// finish closing (the store's journal keeps every acknowledged write).
const EXIT_MARGIN: Duration = Duration::from_secs(5);

/// Waits for SIGTERM or Ctrl-C on a thread of its own, so that a signal is seen however busy
/// the server's workers are. The first signal completes the returned receiver (the server
/// stops accepting connections and drains); a second signal, or the server not having
/// stopped `shutdown_timeout` seconds (plus a margin) later, exits the process at once.
fn shutdown_signal(shutdown_timeout: u64) -> anyhow::Result<tokio::sync::oneshot::Receiver<()>> {
    let (notify, received) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal thread's runtime")?;
    std::thread::Builder::new()
        .name("infrahub-signals".into())
        .spawn(move || {
            runtime.block_on(next_signal());
            tracing::info!(
                seconds = shutdown_timeout,
                "shutting down: requests in flight get the shutdown timeout to finish"
            );
            let _ = notify.send(());
            let deadline = Duration::from_secs(shutdown_timeout) + EXIT_MARGIN;
            runtime.block_on(async {
                tokio::select! {
                    () = next_signal() => tracing::warn!("second signal: exiting now"),
                    () = tokio::time::sleep(deadline) => {
                        tracing::warn!("the server did not stop in time: exiting now");
                    }
                }
            });
            std::process::exit(1);
        })
        .context("starting the signal thread")?;
    Ok(received)
}

async fn next_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
