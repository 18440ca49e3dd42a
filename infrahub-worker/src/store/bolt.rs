//! The task store of a distributed deployment: records and logs in the deployment's Bolt
//! graph database (Neo4j 5, ArcadeDB), shared by every API server and worker.
//!
//! Each task is one vertex (`<prefix>Task`), each log line one vertex (`<prefix>TaskLog`),
//! both indexed. A change reads the record, applies the store rules and writes it back only
//! if its version is still the one read (a concurrent writer makes it start over), all in one
//! transaction. Writes for one task run in order (queued ones included); writes for different
//! tasks run in parallel lanes.

use std::sync::Arc;

use async_trait::async_trait;
use infrahub_graph::{BoltClient, BoltConfig, BoltTransaction, Timestamp};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use super::rules;
use super::{MAX_PAGE, TaskStore, log_line};
use crate::task::{
    LogPage, NewTask, RelatedNode, Severity, TaskFilter, TaskPage, TaskRecord, TaskState,
    TaskUpdate, WorkflowType,
};
use crate::{Error, ErrorKind, Result};

/// Parallel writers (a task's writes always use the same one).
const LANES: usize = 8;
/// How many times a change starts over after a concurrent writer changed the record.
const VERSION_RETRIES: u32 = 50;

/// The fields a read returns, as `RETURN` items over `t`.
const FIELDS: &str = "t.id AS id, t.title AS title, t.workflow AS workflow, t.wtype AS wtype, \
    t.dbc AS dbc, t.state AS state, t.progress AS progress, t.params AS params, \
    t.branch AS branch, t.rel AS rel, t.account AS account, t.result AS result, \
    t.error AS error, t.attempts AS attempts, t.created AS created, t.updated AS updated, \
    t.started AS started, t.logs AS logs, t.version AS version";

fn params(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn unavailable(error: &infrahub_graph::Error) -> Error {
    if error.kind() == infrahub_graph::ErrorKind::InvalidInput {
        Error::invalid(format!("task store: {error}"))
    } else {
        Error::unavailable(format!("task store: {error}"))
    }
}

fn workflow_type(text: &str) -> WorkflowType {
    match text {
        "internal" => WorkflowType::Internal,
        "user" => WorkflowType::User,
        _ => WorkflowType::Core,
    }
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn from_json_text(value: Option<&Value>) -> Option<Value> {
    value
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
}

/// A record and the version it was read at.
fn decode(row: &Map<String, Value>) -> Result<(TaskRecord, i64)> {
    let text = |key: &str| row.get(key).and_then(Value::as_str).map(str::to_owned);
    let int = |key: &str| row.get(key).and_then(Value::as_i64);
    let state = text("state")
        .ok_or_else(|| Error::unavailable("task store: a record without a state"))?
        .parse::<TaskState>()?;
    let related_nodes: Vec<RelatedNode> = from_json_text(row.get("rel"))
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let record = TaskRecord {
        id: text("id").ok_or_else(|| Error::unavailable("task store: a record without an id"))?,
        title: text("title").unwrap_or_default(),
        workflow: text("workflow").unwrap_or_default(),
        workflow_type: workflow_type(&text("wtype").unwrap_or_default()),
        database_change: row.get("dbc").and_then(Value::as_bool).unwrap_or(false),
        state,
        progress: row.get("progress").and_then(Value::as_f64),
        parameters: from_json_text(row.get("params")).unwrap_or(Value::Null),
        branch: text("branch"),
        related_nodes,
        account: text("account"),
        result: from_json_text(row.get("result")),
        error: text("error"),
        attempts: u32::try_from(int("attempts").unwrap_or(0)).unwrap_or(0),
        created_at: Timestamp::from_micros(int("created").unwrap_or(0)),
        updated_at: Timestamp::from_micros(int("updated").unwrap_or(0)),
        start_time: int("started").map(Timestamp::from_micros),
        log_count: u32::try_from(int("logs").unwrap_or(0)).unwrap_or(0),
    };
    Ok((record, int("version").unwrap_or(0)))
}

/// The properties a record is stored with (`null` ones are removed by `SET t += ...`).
fn properties(record: &TaskRecord) -> Value {
    json!({
        "id": record.id,
        "title": record.title,
        "tl": record.title.to_lowercase(),
        "workflow": record.workflow,
        "wtype": record.workflow_type.as_str(),
        "dbc": record.database_change,
        "state": record.state.as_str(),
        "progress": record.progress,
        "params": json_text(&record.parameters),
        "branch": record.branch,
        "rel": json_text(&serde_json::to_value(&record.related_nodes).unwrap_or(Value::Null)),
        "rel_ids": record.related_nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        "account": record.account,
        "result": record.result.as_ref().map(json_text),
        "error": record.error,
        "attempts": record.attempts,
        "created": record.created_at.as_micros(),
        "updated": record.updated_at.as_micros(),
        "started": record.start_time.map(Timestamp::as_micros),
        "logs": record.log_count,
    })
}

/// A write, run by the lane of its task.
enum Write {
    Update(TaskUpdate),
    Logs(Vec<(Severity, String)>),
    Cancel,
}

struct Queued {
    id: String,
    write: Write,
    reply: Option<oneshot::Sender<Result<Option<TaskRecord>>>>,
}

/// What the lanes and the store share.
struct Shared {
    client: BoltClient,
    task_label: String,
    log_label: String,
}

/// The [`TaskStore`] of a distributed deployment, on the Bolt graph database.
#[derive(Clone)]
pub struct BoltTaskStore {
    shared: Arc<Shared>,
    lanes: Arc<Vec<mpsc::UnboundedSender<Queued>>>,
}

impl std::fmt::Debug for BoltTaskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoltTaskStore")
            .field("endpoint", &self.shared.client.endpoint())
            .field("label", &self.shared.task_label)
            .finish_non_exhaustive()
    }
}

/// Whether `prefix` is usable in a label (letters, digits, `_`).
fn valid_prefix(prefix: &str) -> bool {
    prefix.len() <= 64
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !prefix.starts_with(|c: char| c.is_ascii_digit())
}

impl BoltTaskStore {
    /// Connects to the database of `config` (waiting for it as the graph store does) and
    /// creates the indexes. `prefix` starts both labels (`Infrahub` gives `InfrahubTask` and
    /// `InfrahubTaskLog`): letters, digits and `_`, so that tests can share one database.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad prefix; `Unavailable` when the database cannot be reached.
    pub async fn connect(config: &BoltConfig, prefix: &str) -> Result<Self> {
        if !valid_prefix(prefix) {
            return Err(Error::invalid(format!(
                "task label prefix `{prefix}`: letters, digits and `_` only, not starting with a digit"
            )));
        }
        let client = BoltClient::connect(config)
            .await
            .map_err(|e| unavailable(&e))?;
        let shared = Arc::new(Shared {
            client,
            task_label: format!("{prefix}Task"),
            log_label: format!("{prefix}TaskLog"),
        });
        shared.ensure_indexes().await?;
        let mut lanes = Vec::with_capacity(LANES);
        for _ in 0..LANES {
            let (sender, mut receiver) = mpsc::unbounded_channel::<Queued>();
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                while let Some(queued) = receiver.recv().await {
                    let result = shared.write(&queued.id, queued.write).await;
                    match queued.reply {
                        Some(reply) => {
                            let _ = reply.send(result);
                        }
                        None => {
                            if let Err(error) = result {
                                tracing::warn!(%error, task = %queued.id, "task store: a queued write was refused");
                            }
                        }
                    }
                }
            });
            lanes.push(sender);
        }
        Ok(BoltTaskStore {
            shared,
            lanes: Arc::new(lanes),
        })
    }

    fn lane(&self, id: &str) -> &mpsc::UnboundedSender<Queued> {
        let hash = id.bytes().fold(0_usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.lanes[hash % self.lanes.len()]
    }

    fn queue(&self, id: &str, write: Write) {
        let queued = Queued {
            id: id.to_owned(),
            write,
            reply: None,
        };
        if self.lane(id).send(queued).is_err() {
            tracing::warn!("task store: the writer stopped; a queued write is lost");
        }
    }

    async fn send(&self, id: &str, write: Write) -> Result<Option<TaskRecord>> {
        let (reply, answer) = oneshot::channel();
        self.lane(id)
            .send(Queued {
                id: id.to_owned(),
                write,
                reply: Some(reply),
            })
            .map_err(|_| Error::unavailable("task store: the writer stopped"))?;
        answer
            .await
            .map_err(|_| Error::unavailable("task store: the writer stopped"))?
    }
}

impl Shared {
    async fn ensure_indexes(&self) -> Result<()> {
        let (task, log) = (&self.task_label, &self.log_label);
        let lower = task.to_lowercase();
        let statements = [
            format!(
                "CREATE CONSTRAINT {lower}_id IF NOT EXISTS FOR (t:{task}) REQUIRE t.id IS UNIQUE"
            ),
            format!("CREATE INDEX {lower}_created IF NOT EXISTS FOR (t:{task}) ON (t.created)"),
            format!("CREATE INDEX {lower}_state IF NOT EXISTS FOR (t:{task}) ON (t.state)"),
            format!("CREATE INDEX {lower}_branch IF NOT EXISTS FOR (t:{task}) ON (t.branch)"),
            format!("CREATE INDEX {lower}_workflow IF NOT EXISTS FOR (t:{task}) ON (t.workflow)"),
            format!(
                "CREATE INDEX {}_task IF NOT EXISTS FOR (l:{log}) ON (l.task, l.idx)",
                log.to_lowercase()
            ),
        ];
        for statement in statements {
            if let Err(error) = self.client.run(&statement, Map::new()).await {
                // One another process created meanwhile, or one the server cannot make: the
                // store stays correct without it (the create checks for an existing id).
                tracing::warn!("task store schema statement `{statement}` failed: {error}");
            }
        }
        Ok(())
    }

    /// `fields` of task `id` (no row when there is no such task).
    async fn by_id(&self, id: &str, fields: &str) -> Result<Vec<Map<String, Value>>> {
        let statement = format!("MATCH (t:{} {{id: $id}}) RETURN {fields}", self.task_label);
        self.client
            .run(&statement, params(json!({"id": id})))
            .await
            .map_err(|e| unavailable(&e))
    }

    async fn read(
        &self,
        tx: &mut BoltTransaction,
        id: &str,
    ) -> infrahub_graph::Result<Option<Map<String, Value>>> {
        let statement = format!("MATCH (t:{} {{id: $id}}) RETURN {FIELDS}", self.task_label);
        let mut rows = tx.run(&statement, params(json!({"id": id}))).await?;
        Ok(rows.pop())
    }

    /// Runs `write` on task `id`: read, apply the rules, write back if unchanged meanwhile.
    async fn write(self: &Arc<Self>, id: &str, write: Write) -> Result<Option<TaskRecord>> {
        let write = Arc::new(write);
        for _ in 0..VERSION_RETRIES {
            let (write, shared, task) = (Arc::clone(&write), Arc::clone(self), id.to_owned());
            let outcome = self
                .client
                .transaction(move |tx| {
                    let (write, shared, task) =
                        (Arc::clone(&write), Arc::clone(&shared), task.clone());
                    Box::pin(async move { shared.write_once(tx, &task, &write).await })
                })
                .await
                .map_err(|e| unavailable(&e))?;
            match outcome {
                Outcome::Done(result) => return result.map(|r| r.map(|r| *r)),
                Outcome::Raced => {}
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("task `{id}` kept changing under this write"),
        ))
    }

    async fn write_once(
        &self,
        tx: &mut BoltTransaction,
        id: &str,
        write: &Write,
    ) -> infrahub_graph::Result<Outcome> {
        let Some(row) = self.read(tx, id).await? else {
            return Ok(Outcome::Done(Err(Error::not_found(id))));
        };
        let (mut record, version) = match decode(&row) {
            Ok(decoded) => decoded,
            Err(error) => return Ok(Outcome::Done(Err(error))),
        };
        let now = Timestamp::now();
        let mut lines = Vec::new();
        let applied = match write {
            Write::Update(update) => rules::apply_update(&mut record, update.clone(), now),
            Write::Cancel => rules::apply_cancel(&mut record, now),
            Write::Logs(new) => {
                lines = rules::accept_logs(&mut record, new.clone(), now);
                Ok(())
            }
        };
        if let Err(error) = applied {
            return Ok(Outcome::Done(Err(error)));
        }
        let statement = format!(
            "MATCH (t:{} {{id: $id}}) WHERE t.version = $version \
             SET t += $props, t.version = $version + 1 RETURN count(t) AS n",
            self.task_label
        );
        // `+=` removes the properties that became null.
        let props = properties(&record);
        let rows = tx
            .run(
                &statement,
                params(json!({"id": id, "version": version, "props": props})),
            )
            .await?;
        let changed = rows
            .first()
            .and_then(|r| r.get("n"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if changed == 0 {
            return Ok(Outcome::Raced);
        }
        if !lines.is_empty() {
            let lines: Vec<Value> = lines
                .into_iter()
                .map(|(index, severity, message)| {
                    json!({"task": id, "idx": index, "message": message,
                           "severity": severity.as_str(), "ts": now.as_micros()})
                })
                .collect();
            let statement = format!(
                "UNWIND $lines AS line CREATE (l:{}) SET l = line",
                self.log_label
            );
            tx.run(&statement, params(json!({"lines": lines}))).await?;
            return Ok(Outcome::Done(Ok(None)));
        }
        Ok(Outcome::Done(Ok(Some(Box::new(record)))))
    }
}

enum Outcome {
    Done(Result<Option<Box<TaskRecord>>>),
    Raced,
}

fn severity(text: &str) -> Severity {
    match text {
        "debug" => Severity::Debug,
        "warning" => Severity::Warning,
        "error" => Severity::Error,
        "critical" => Severity::Critical,
        _ => Severity::Info,
    }
}

fn record_of(result: Option<TaskRecord>, id: &str) -> Result<TaskRecord> {
    result.ok_or_else(|| Error::not_found(id))
}

#[async_trait]
impl TaskStore for BoltTaskStore {
    async fn create(&self, task: NewTask) -> Result<TaskRecord> {
        let record = rules::new_record(task, Timestamp::now())?;
        let shared = &self.shared;
        let mut props = properties(&record);
        if let Value::Object(map) = &mut props {
            map.retain(|_, v| !v.is_null());
            map.insert("version".to_owned(), json!(0));
        }
        let statement = format!(
            "OPTIONAL MATCH (e:{label} {{id: $id}}) WITH count(e) AS existing \
             WHERE existing = 0 CREATE (t:{label}) SET t = $props RETURN count(t) AS n",
            label = shared.task_label
        );
        let rows = shared
            .client
            .run(&statement, params(json!({"id": record.id, "props": props})))
            .await
            .map_err(|e| {
                if e.kind() == infrahub_graph::ErrorKind::AlreadyExists {
                    rules::already_exists(&record.id)
                } else {
                    unavailable(&e)
                }
            })?;
        let created = rows
            .first()
            .and_then(|r| r.get("n"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if created == 0 {
            return Err(rules::already_exists(&record.id));
        }
        Ok(record)
    }

    async fn update(&self, id: &str, update: TaskUpdate) -> Result<TaskRecord> {
        record_of(self.send(id, Write::Update(update)).await?, id)
    }

    async fn append_logs(&self, id: &str, lines: Vec<(Severity, String)>) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.send(id, Write::Logs(lines)).await.map(|_| ())
    }

    fn queue_logs(&self, id: &str, lines: Vec<(Severity, String)>) {
        if !lines.is_empty() {
            self.queue(id, Write::Logs(lines));
        }
    }

    fn queue_update(&self, id: &str, update: TaskUpdate) {
        self.queue(id, Write::Update(update));
    }

    async fn cancel(&self, id: &str) -> Result<TaskRecord> {
        record_of(self.send(id, Write::Cancel).await?, id)
    }

    async fn get(&self, id: &str) -> Result<Option<TaskRecord>> {
        let rows = self.shared.by_id(id, FIELDS).await?;
        rows.first()
            .map(decode)
            .transpose()
            .map(|r| r.map(|(record, _)| record))
    }

    async fn state(&self, id: &str) -> Result<Option<TaskState>> {
        let rows = self.shared.by_id(id, "t.state AS state").await?;
        rows.first()
            .and_then(|r| r.get("state"))
            .and_then(Value::as_str)
            .map(str::parse)
            .transpose()
    }

    async fn list(&self, filter: &TaskFilter, offset: usize, limit: usize) -> Result<TaskPage> {
        let limit = limit.min(MAX_PAGE);
        let mut conditions = Vec::new();
        let mut values = Map::new();
        if let Some(ids) = &filter.ids {
            conditions.push("t.id IN $ids");
            values.insert("ids".into(), json!(ids));
        }
        if let Some(states) = &filter.states {
            conditions.push("t.state IN $states");
            values.insert(
                "states".into(),
                json!(states.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            );
        }
        if let Some(workflows) = &filter.workflows {
            conditions.push("t.workflow IN $workflows");
            values.insert("workflows".into(), json!(workflows));
        }
        if let Some(branch) = &filter.branch {
            conditions.push("t.branch = $branch");
            values.insert("branch".into(), json!(branch));
        }
        if let Some(node) = &filter.related_node {
            conditions.push("$node IN t.rel_ids");
            values.insert("node".into(), json!(node));
        }
        if let Some(q) = &filter.q {
            conditions.push("t.tl CONTAINS $q");
            values.insert("q".into(), json!(q.to_lowercase()));
        }
        if let Some(dbc) = filter.database_change {
            conditions.push("t.dbc = $dbc");
            values.insert("dbc".into(), json!(dbc));
        }
        if let Some(since) = filter.since {
            conditions.push("t.created >= $since");
            values.insert("since".into(), json!(since.as_micros()));
        }
        if let Some(until) = filter.until {
            conditions.push("t.created < $until");
            values.insert("until".into(), json!(until.as_micros()));
        }
        let clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let label = &self.shared.task_label;
        let count_statement = format!("MATCH (t:{label}) {clause} RETURN count(t) AS n");
        let page_statement = format!(
            "MATCH (t:{label}) {clause} RETURN {FIELDS} \
             ORDER BY t.created DESC, t.id DESC SKIP $offset LIMIT $limit"
        );
        let mut page_values = values.clone();
        page_values.insert("offset".into(), json!(offset));
        page_values.insert("limit".into(), json!(limit));
        let (count_rows, rows) = self
            .shared
            .client
            .transaction(move |tx| {
                let (count_statement, page_statement) =
                    (count_statement.clone(), page_statement.clone());
                let (values, page_values) = (values.clone(), page_values.clone());
                Box::pin(async move {
                    let count = tx.run(&count_statement, values).await?;
                    let rows = if limit == 0 {
                        Vec::new()
                    } else {
                        tx.run(&page_statement, page_values).await?
                    };
                    Ok((count, rows))
                })
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let count = count_rows
            .first()
            .and_then(|r| r.get("n"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let tasks = rows
            .iter()
            .map(|row| decode(row).map(|(record, _)| record))
            .collect::<Result<Vec<_>>>()?;
        Ok(TaskPage { count, tasks })
    }

    async fn logs(&self, id: &str, offset: usize, limit: usize) -> Result<LogPage> {
        let limit = limit.min(MAX_PAGE);
        let Some(record) = self.get(id).await? else {
            return Ok(LogPage::default());
        };
        let statement = format!(
            "MATCH (l:{} {{task: $id}}) WHERE l.idx >= $offset \
             RETURN l.idx AS idx, l.message AS message, l.severity AS severity, l.ts AS ts \
             ORDER BY l.idx LIMIT $limit",
            self.shared.log_label
        );
        let rows = self
            .shared
            .client
            .run(
                &statement,
                params(json!({"id": id, "offset": offset, "limit": limit})),
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let logs = rows
            .iter()
            .map(|row| {
                log_line(
                    id,
                    row.get("idx")
                        .and_then(Value::as_u64)
                        .and_then(|i| u32::try_from(i).ok())
                        .unwrap_or(0),
                    severity(row.get("severity").and_then(Value::as_str).unwrap_or("")),
                    row.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    Timestamp::from_micros(row.get("ts").and_then(Value::as_i64).unwrap_or(0)),
                )
            })
            .collect();
        Ok(LogPage {
            count: u64::from(record.log_count),
            logs,
        })
    }

    async fn delete_before(&self, before: Timestamp, states: &[TaskState]) -> Result<u64> {
        let (task, log) = (&self.shared.task_label, &self.shared.log_label);
        let find = format!(
            "MATCH (t:{task}) WHERE t.created < $before AND t.state IN $states RETURN t.id AS id"
        );
        let rows = self
            .shared
            .client
            .run(
                &find,
                params(json!({
                    "before": before.as_micros(),
                    "states": states.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                })),
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let ids: Vec<String> = rows
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        for chunk in ids.chunks(1000) {
            let chunk = json!(chunk);
            let logs = format!("MATCH (l:{log}) WHERE l.task IN $ids DELETE l");
            let tasks = format!("MATCH (t:{task}) WHERE t.id IN $ids DELETE t");
            self.shared
                .client
                .transaction(move |tx| {
                    let (logs, tasks, chunk) = (logs.clone(), tasks.clone(), chunk.clone());
                    Box::pin(async move {
                        tx.run(&logs, params(json!({"ids": chunk.clone()}))).await?;
                        tx.run(&tasks, params(json!({"ids": chunk}))).await?;
                        Ok(())
                    })
                })
                .await
                .map_err(|e| unavailable(&e))?;
        }
        Ok(ids.len() as u64)
    }
}
