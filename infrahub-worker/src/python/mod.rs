//! Runs Python classes of Git repositories (transforms) with the official `infrahub-sdk`, in a
//! small pool of long-lived Python processes this process manages.
//!
//! Each process runs `runner.py` (compiled into this crate) and answers one JSON request at a
//! time on its standard output; user code's own prints go to its standard error. A request
//! that takes longer than its timeout kills its process (a new one starts on the next
//! request), as does a process that dies or answers garbage. Without Python, or without the
//! SDK, every request fails with a message saying so; nothing else is affected.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;

/// The Python side of the protocol.
const RUNNER: &str = include_str!("runner.py");
/// How long a new process may take to import the SDK.
const STARTUP: Duration = Duration::from_secs(60);
/// The largest answer read from a process (bytes).
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// Lines of a process's standard error kept for error messages.
const STDERR_LINES: usize = 20;

/// Why a Python call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PythonError {
    /// Python or the SDK is missing, or the process failed (not the user's code).
    Unavailable(String),
    /// The user's code raised: the message and the traceback.
    Code {
        /// `ExceptionType: message`.
        message: String,
        /// Python's traceback, when there is one.
        traceback: Option<String>,
    },
    /// The call took longer than its timeout; the process was stopped.
    Timeout(Duration),
}

impl std::fmt::Display for PythonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PythonError::Unavailable(message) => write!(f, "Python is not available: {message}"),
            PythonError::Code { message, .. } => f.write_str(message),
            PythonError::Timeout(limit) => {
                write!(f, "the Python code ran longer than {} s", limit.as_secs())
            }
        }
    }
}

impl std::error::Error for PythonError {}

/// What runs Python classes: the interpreter and the number of processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonOptions {
    /// The interpreter (`python3` by default, found on `PATH`); it needs `infrahub-sdk`.
    pub executable: PathBuf,
    /// How many Python processes run at once.
    pub processes: usize,
}

impl Default for PythonOptions {
    fn default() -> Self {
        PythonOptions {
            executable: PathBuf::from("python3"),
            processes: 2,
        }
    }
}

struct Process {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Process {
    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Reads one JSON line (bounded).
    async fn read(&mut self) -> Result<Value, String> {
        let mut line = Vec::new();
        loop {
            let buffer = self
                .stdout
                .fill_buf()
                .await
                .map_err(|e| format!("reading from Python: {e}"))?;
            if buffer.is_empty() {
                return Err("the Python process exited".to_owned());
            }
            let (chunk, done) = match buffer.iter().position(|b| *b == b'\n') {
                Some(at) => (&buffer[..at], Some(at + 1)),
                None => (buffer, None),
            };
            line.extend_from_slice(chunk);
            let consumed = done.unwrap_or(buffer.len());
            self.stdout.consume(consumed);
            if line.len() > MAX_ANSWER {
                return Err(format!("the answer exceeds {MAX_ANSWER} bytes"));
            }
            if done.is_some() {
                break;
            }
        }
        serde_json::from_slice(&line).map_err(|e| format!("a malformed answer from Python: {e}"))
    }
}

/// A pool of Python processes.
pub struct PythonRunner {
    options: PythonOptions,
    idle: Mutex<Vec<Process>>,
    slots: Semaphore,
    next_id: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for PythonRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonRunner")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl PythonRunner {
    /// A pool with `options`; processes start on first use.
    pub fn new(options: PythonOptions) -> Self {
        let processes = options.processes.max(1);
        PythonRunner {
            options,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(processes),
            next_id: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// The options.
    pub fn options(&self) -> &PythonOptions {
        &self.options
    }

    async fn spawn(&self) -> Result<Process, PythonError> {
        let mut child = Command::new(&self.options.executable)
            .arg("-u")
            .arg("-c")
            .arg(RUNNER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                PythonError::Unavailable(format!(
                    "starting `{}`: {e}; Python transforms need Python 3 with the infrahub-sdk package",
                    self.options.executable.display()
                ))
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(PythonError::Unavailable(
                "the Python process has no pipes".to_owned(),
            ));
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let keep = Arc::clone(&tail);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut tail = keep.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == STDERR_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.chars().take(500).collect());
            }
        });
        let mut process = Process {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            stderr: tail,
        };
        let ready = tokio::time::timeout(STARTUP, process.read()).await;
        match ready {
            Ok(Ok(hello)) if hello.get("ready") == Some(&Value::Bool(true)) => Ok(process),
            Ok(Ok(hello)) => Err(PythonError::Unavailable(
                hello
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("the runner did not start")
                    .to_owned(),
            )),
            Ok(Err(error)) => Err(PythonError::Unavailable(format!(
                "{error}; `{}` said: {}",
                self.options.executable.display(),
                process.stderr_tail()
            ))),
            Err(_) => Err(PythonError::Unavailable(format!(
                "`{}` did not start within {} s",
                self.options.executable.display(),
                STARTUP.as_secs()
            ))),
        }
    }

    /// Sends `request` (an object; `id` is set here) and returns the `result` of the answer.
    ///
    /// # Errors
    ///
    /// [`PythonError`]: the user's exception, a timeout (the process is stopped), or Python
    /// missing or failing.
    pub async fn call(&self, mut request: Value, timeout: Duration) -> Result<Value, PythonError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| PythonError::Unavailable("the runner is closed".to_owned()))?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut process = match idle {
            Some(process) => process,
            None => self.spawn().await?,
        };
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        request["id"] = json!(id);
        let mut line = serde_json::to_vec(&request)
            .map_err(|e| PythonError::Unavailable(format!("encoding the request: {e}")))?;
        line.push(b'\n');
        let exchange = async {
            process
                .stdin
                .write_all(&line)
                .await
                .map_err(|e| format!("writing to Python: {e}"))?;
            process
                .stdin
                .flush()
                .await
                .map_err(|e| format!("writing to Python: {e}"))?;
            process.read().await
        };
        let answer = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                let tail = process.stderr_tail();
                let _ = process.child.start_kill();
                return Err(PythonError::Unavailable(if tail.is_empty() {
                    error
                } else {
                    format!("{error}; its last output: {tail}")
                }));
            }
            Err(_) => {
                let _ = process.child.start_kill();
                return Err(PythonError::Timeout(timeout));
            }
        };
        if answer.get("id").and_then(Value::as_u64) != Some(id) {
            let _ = process.child.start_kill();
            return Err(PythonError::Unavailable(
                "the Python process answered another request".to_owned(),
            ));
        }
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(process);
        if answer.get("ok") == Some(&Value::Bool(true)) {
            return Ok(answer.get("result").cloned().unwrap_or(Value::Null));
        }
        Err(PythonError::Code {
            message: answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the Python code failed")
                .to_owned(),
            traceback: answer
                .get("traceback")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}
