//! [`Neo4jGraph`]: the versioned graph on a Bolt database, laid out as
//! docs/adr/0004-bolt-store-layout.md describes.

mod raw;
mod select;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use self::raw::{Raw, RawVersion, Spec, Write, Writer, visible};
use super::config::BoltConfig;
use super::connection::{BoltClient, BoltTransaction};
use super::dialect::Dialect;
use crate::branch::{BranchRecord, BranchView, CreateBranchOptions, Epoch, GLOBAL_BRANCH};
use crate::change::{BranchOperation, Change, MergeOptions, RebaseOptions};
use crate::changeset::{Changeset, Commit, Condition, Op, UniqueField};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AttributeValue, LinkProperties, NodeData, NodeId, Slot, Status, Version, VersionData,
};
use crate::query::{NodeQuery, QueryResult, Selection};
use crate::store::GraphStore;
use crate::time::Timestamp;

/// The versioned graph on a Bolt database (Neo4j 5, Memgraph, ArcadeDB), shared by every
/// process connected to it: commits are ordered by the database (the `Root` vertex), each
/// changeset is one transaction, each logical read one statement.
///
/// # Examples
///
/// ```no_run
/// # async fn example() -> infrahub_graph::Result<()> {
/// use infrahub_graph::{BoltConfig, GraphStore, Neo4jGraph};
///
/// let config = BoltConfig::from_url("bolt://neo4j:secret@127.0.0.1:7687/infrahub")?;
/// let store = Neo4jGraph::connect(config).await?;
/// let branches = store.list_branches().await?;
/// # let _ = branches;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Neo4jGraph {
    client: Arc<BoltClient>,
    /// Held by every write transaction of this process. They all update `Root.last_commit`, so
    /// concurrent ones would only fail on the server with write conflicts and retry; queueing
    /// them here leaves the retries to writers in other processes.
    writes: Arc<tokio::sync::Mutex<()>>,
    /// The default branch's name once known: it never changes once created (the default
    /// branch is the first one and cannot be deleted), so reads name it without asking.
    default: Arc<std::sync::OnceLock<String>>,
}

fn params(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Storage, format!("bolt store: {}", what.into()))
}

fn not_found_branch(name: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("branch `{name}` does not exist"),
    )
}

impl Neo4jGraph {
    /// Connects (waiting for the server as `config.startup_wait` says), creates the indexes
    /// and constraints the store needs when missing, and the `Root` vertex.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Storage`] when the server cannot be reached or refuses the schema;
    /// [`ErrorKind::InvalidInput`] for settings that cannot be honoured.
    pub async fn connect(config: BoltConfig) -> Result<Self> {
        let client = BoltClient::connect(&config).await?;
        for statement in Dialect::default().schema() {
            if let Err(err) = client.run(&statement, Map::new()).await {
                // An index another process created meanwhile, or one the server cannot make:
                // reads stay correct without it.
                tracing::warn!("bolt store schema statement `{statement}` failed: {err}");
            }
        }
        client
            .run(
                &format!(
                    "MERGE (r:Root {{uuid: 'root'}}) \
                     ON CREATE SET r.last_commit = 0, r.graph_version = {GRAPH_VERSION}"
                ),
                Map::new(),
            )
            .await?;
        migrate(&client).await?;
        Ok(Neo4jGraph {
            client: Arc::new(client),
            writes: Arc::new(tokio::sync::Mutex::new(())),
            default: Arc::default(),
        })
    }

    /// How many statements the store has sent to the database since it connected (see
    /// [`BoltClient::statements`]): a logical read is one, a commit two.
    pub fn statements(&self) -> u64 {
        self.client.statements()
    }

    /// The default branch's name, asked of the database until it has one.
    async fn default_name(&self) -> Result<Option<String>> {
        if let Some(name) = self.default.get() {
            return Ok(Some(name.clone()));
        }
        let rows = self
            .client
            .read(
                "MATCH (b:Branch) WHERE b.is_default = true RETURN b.name AS name",
                Map::new(),
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str)
            .map(|name| self.default.get_or_init(|| name.to_string()).clone()))
    }

    /// The clauses opening a statement that reads through `view` ([`raw::stored_head`]), its
    /// parameters added to `params`; not found when there is no default branch yet (hence no
    /// branch at all).
    async fn view_head(
        &self,
        view: &BranchView,
        params: &mut Map<String, Value>,
    ) -> Result<(&'static str, String)> {
        let default = self
            .default_name()
            .await?
            .ok_or_else(|| not_found_branch(&view.branch))?;
        let head = raw::stored_head(
            &view.branch,
            &default,
            view.at.map(Timestamp::as_micros),
            params,
        );
        Ok((head, default))
    }

    /// Fails with not found when branch `name` does not exist: asked when a read through a
    /// [`raw::stored_head`] came back empty, which it also does for a missing branch.
    async fn check_branch(&self, name: &str) -> Result<()> {
        let rows = self
            .client
            .read(
                "MATCH (b:Branch {name: $name}) RETURN b.name AS name",
                params(json!({ "name": name })),
            )
            .await?;
        if rows.is_empty() {
            return Err(not_found_branch(name));
        }
        Ok(())
    }
}

/// The view a statement opened by [`raw::stored_head`] read through, from the variable one
/// of its rows returns ([`raw::VIEW_VARS`]).
fn returned_spec(row: &Map<String, Value>, view: &BranchView, default: &str) -> Result<Spec> {
    let instants: Option<Vec<i64>> = row
        .get(raw::VIEW_VARS)
        .and_then(Value::as_array)
        .and_then(|list| list.iter().map(Value::as_i64).collect());
    let Some([at, epoch_start, default_at]) = instants.as_deref() else {
        return Err(corrupt("a read answered without its view"));
    };
    Ok(Spec {
        branch: view.branch.clone(),
        default: default.to_string(),
        at: *at,
        epoch_start: *epoch_start,
        default_at: *default_at,
    })
}

/// The layout version a new database gets (`Root.graph_version`); [`migrate`] brings older
/// ones forward. 2: nodes link to `Label` vertices; 3: nodes link to their `Attribute`
/// vertices (`HAS_ATTRIBUTE`); 4: the change log (`Change` vertices); 5: branches carry their
/// epochs as lists (`epoch_starts`, `epoch_froms`).
const GRAPH_VERSION: i64 = 5;

/// Brings a database written by an earlier layout version to [`GRAPH_VERSION`]. Each step is
/// idempotent, so servers starting together may run it at once.
async fn migrate(client: &BoltClient) -> Result<()> {
    let rows = client
        .run(
            "MATCH (r:Root {uuid: 'root'}) RETURN r.graph_version AS version",
            Map::new(),
        )
        .await?;
    let version = rows
        .first()
        .and_then(|r| r.get("version"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if version > GRAPH_VERSION {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the graph database has layout version {version}, newer than this server's \
                 {GRAPH_VERSION}: upgrade the server"
            ),
        ));
    }
    if version < 2 {
        tracing::info!("bolt store: linking nodes to their labels (layout version 2)");
        client
            .run(
                "MATCH (n:Node) UNWIND coalesce(n.labels, []) AS name \
                 MERGE (l:Label {name: name}) MERGE (n)-[:HAS_LABEL]->(l)",
                Map::new(),
            )
            .await?;
    }
    if version < 3 {
        tracing::info!("bolt store: linking nodes to their attributes (layout version 3)");
        client
            .run(
                "MATCH (a:Attribute) MATCH (n:Node {uuid: a.node}) \
                 MERGE (n)-[:HAS_ATTRIBUTE]->(a)",
                Map::new(),
            )
            .await?;
    }
    if version < 4 {
        tracing::info!("bolt store: writing the change log (layout version 4)");
        for (pattern, ends) in [
            ("(n:Node)-[e:IS_PART_OF]->(:Root)", "[n.uuid]"),
            (
                "(n:Node)-[:HAS_ATTRIBUTE]->(:Attribute)-[e:HAS_VALUE]->()",
                "[n.uuid]",
            ),
            ("(n:Node)-[e:IS_RELATED]->(m:Node)", "[n.uuid, m.uuid]"),
        ] {
            client
                .run(
                    &format!(
                        "MATCH {pattern} UNWIND {ends} AS id \
                         WITH e.branch AS branch, e.from AS at, collect(DISTINCT id) AS nodes \
                         CREATE (:Change {{branch: branch, at: at, nodes: nodes}})"
                    ),
                    Map::new(),
                )
                .await?;
        }
    }
    if version < 5 {
        tracing::info!("bolt store: writing branch epochs as lists (layout version 5)");
        let rows = client
            .run(
                "MATCH (b:Branch) WHERE b.epoch_starts IS NULL RETURN properties(b) AS b",
                Map::new(),
            )
            .await?;
        for row in &rows {
            let record = record_of(row)?;
            client
                .run(
                    "MATCH (b:Branch {name: $name}) WHERE b.epoch_starts IS NULL \
                     SET b.epoch_starts = $epoch_starts, b.epoch_froms = $epoch_froms",
                    params(record_params(&record)),
                )
                .await?;
        }
    }
    if version < GRAPH_VERSION {
        client
            .run(
                &format!(
                    "MATCH (r:Root {{uuid: 'root'}}) WHERE r.graph_version < {GRAPH_VERSION} \
                     SET r.graph_version = {GRAPH_VERSION}"
                ),
                Map::new(),
            )
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Branch records

fn record_of(row: &Map<String, Value>) -> Result<BranchRecord> {
    let b = row
        .get("b")
        .and_then(Value::as_object)
        .ok_or_else(|| corrupt("branch row without `b`"))?;
    let text = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default();
    let int = |k: &str| b.get(k).and_then(Value::as_i64).unwrap_or_default();
    let epochs: Vec<(i64, i64)> = serde_json::from_str(text("epochs")).unwrap_or_default();
    let properties: Map<String, Value> =
        serde_json::from_str(text("properties")).unwrap_or_default();
    Ok(BranchRecord {
        name: text("name").to_string(),
        id: text("id").parse().unwrap_or_default(),
        is_default: b
            .get("is_default")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        created_at: Timestamp::from_micros(int("created_at")),
        branched_from: Timestamp::from_micros(int("branched_from")),
        epochs: epochs
            .into_iter()
            .map(|(start, from)| Epoch {
                start: Timestamp::from_micros(start),
                branched_from: Timestamp::from_micros(from),
            })
            .collect(),
        properties,
    })
}

/// The properties of a branch's vertex. Its epochs are written twice: as JSON (`epochs`, read
/// back into the record) and as two parallel lists, `epoch_starts` and `epoch_froms`, never
/// empty (the creation instant and base when the record has no epoch, as
/// [`BranchRecord::epoch_at`] falls back to), which [`raw::stored_head`] reads inside a
/// statement.
fn record_params(record: &BranchRecord) -> Value {
    let epochs: Vec<(i64, i64)> = record
        .epochs
        .iter()
        .map(|e| (e.start.as_micros(), e.branched_from.as_micros()))
        .collect();
    let (epoch_starts, epoch_froms): (Vec<i64>, Vec<i64>) = if epochs.is_empty() {
        (
            vec![record.created_at.as_micros()],
            vec![record.branched_from.as_micros()],
        )
    } else {
        epochs.iter().copied().unzip()
    };
    json!({
        "epoch_starts": epoch_starts,
        "epoch_froms": epoch_froms,
        "name": record.name,
        "id": record.id.to_string(),
        "is_default": record.is_default,
        "created_at": record.created_at.as_micros(),
        "branched_from": record.branched_from.as_micros(),
        "epochs": serde_json::to_string(&epochs).unwrap_or_default(),
        "properties": Value::Object(record.properties.clone()).to_string(),
    })
}

/// The clause advancing `Root` `r` to `max($now, last_commit + 1)`: the write that orders
/// commits across every process sharing the database.
const ADVANCE_ROOT: &str = "SET r.last_commit = \
    CASE WHEN r.last_commit + 1 > $now THEN r.last_commit + 1 ELSE $now END";

/// What to do with `Root.last_commit` in the statement reading the branch records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RootClock {
    /// Leave it.
    Read,
    /// Advance it to `max(now, last_commit + 1)`: the write that orders commits across every
    /// process sharing the database.
    Advance,
}

/// The branch called `name`, the default branch's name and `Root.last_commit` (advanced first
/// with [`RootClock::Advance`]), in one statement.
async fn branch_and_root(
    tx: &mut BoltTransaction,
    name: &str,
    clock: RootClock,
) -> Result<(BranchRecord, String, i64)> {
    let mut p = params(json!({ "name": name }));
    let advance = match clock {
        RootClock::Read => "",
        RootClock::Advance => {
            p.insert("now".into(), json!(Timestamp::now().as_micros()));
            ADVANCE_ROOT
        }
    };
    let rows = tx
        .run(
            &format!(
                "MATCH (r:Root {{uuid: 'root'}}) {advance} WITH r \
                 OPTIONAL MATCH (b:Branch) WHERE b.name = $name OR b.is_default = true \
                 RETURN r.last_commit AS at, properties(b) AS b"
            ),
            p,
        )
        .await?;
    let at = rows
        .first()
        .and_then(|r| r.get("at"))
        .and_then(Value::as_i64)
        .ok_or_else(|| corrupt("the Root vertex is missing"))?;
    let mut found = None;
    let mut default = None;
    for row in rows
        .iter()
        .filter(|row| row.get("b").is_some_and(|b| !b.is_null()))
    {
        let record = record_of(row)?;
        if record.is_default {
            default = Some(record.name.clone());
        }
        if record.name == name {
            found = Some(record);
        }
    }
    let found = found.ok_or_else(|| not_found_branch(name))?;
    Ok((found, default.unwrap_or_default(), at))
}

/// The branch called `name` and the default branch's name.
async fn branch_and_default(
    tx: &mut BoltTransaction,
    name: &str,
) -> Result<(BranchRecord, String)> {
    let (record, default, _) = branch_and_root(tx, name, RootClock::Read).await?;
    Ok((record, default))
}

fn spec_of(record: &BranchRecord, default: &str, at: Option<Timestamp>) -> Spec {
    let at = at.unwrap_or(Timestamp::MAX).as_micros();
    if record.is_default {
        return Spec::default_branch(default, at);
    }
    let epoch = record.epoch_at(Timestamp::from_micros(at));
    Spec {
        branch: record.name.clone(),
        default: default.to_string(),
        at,
        epoch_start: epoch.start.as_micros(),
        default_at: at.min(epoch.branched_from.as_micros()),
    }
}

/// Advances `Root.last_commit` to `max(now, last_commit + 1)` and returns it: the write that
/// orders commits across every process sharing the database.
async fn advance(tx: &mut BoltTransaction) -> Result<i64> {
    let rows = tx
        .run(
            &format!("MATCH (r:Root {{uuid: 'root'}}) {ADVANCE_ROOT} RETURN r.last_commit AS at"),
            params(json!({ "now": Timestamp::now().as_micros() })),
        )
        .await?;
    rows.first()
        .and_then(|r| r.get("at"))
        .and_then(Value::as_i64)
        .ok_or_else(|| corrupt("the Root vertex is missing"))
}

// ---------------------------------------------------------------------------------------------
// Loading versions

fn status_of(e: &impl Props) -> Status {
    if e.prop("status").and_then(Value::as_str) == Some("deleted") {
        Status::Deleted
    } else {
        Status::Active
    }
}

fn uuid_of(value: Option<&Value>) -> Option<NodeId> {
    value.and_then(Value::as_str).and_then(|s| s.parse().ok())
}

/// Read access to the properties of one stored version: the map of `properties(e)`, or a
/// positional list ([`Listed`]).
trait Props {
    /// The property called `key`, if present.
    fn prop(&self, key: &str) -> Option<&Value>;
}

impl Props for Map<String, Value> {
    fn prop(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

/// A version returned as a list of values, in the order of `names` (see [`listed`]): a list
/// costs the database, the driver and this side far less than a map of the same values.
struct Listed<'a> {
    names: &'static [&'static str],
    values: &'a [Value],
}

impl Props for Listed<'_> {
    fn prop(&self, key: &str) -> Option<&Value> {
        let index = self.names.iter().position(|name| *name == key)?;
        self.values.get(index).filter(|value| !value.is_null())
    }
}

/// A node's existence version as [`load_columns`] returns it.
const NODE_FIELDS: &[&str] = &[
    "branch", "from", "status", "scope", "indexed", "kind", "labels",
];
/// An attribute version as [`load_columns`] returns it: the attribute's name and stored value,
/// then properties of its `HAS_VALUE` edge.
const ATTRIBUTE_FIELDS: &[&str] = &[
    "name",
    "value",
    "branch",
    "from",
    "status",
    "scope",
    "indexed",
    "is_default",
    "is_protected",
    "is_visible",
    "source",
    "owner",
    "is_from_profile",
];
/// A link version as [`load_columns`] returns it: the peer's uuid and existence versions
/// (lists of [`NODE_FIELDS`]), then properties of its `IS_RELATED` edge.
const LINK_FIELDS: &[&str] = &[
    "peer",
    "pe",
    "identifier",
    "branch",
    "from",
    "status",
    "scope",
    "indexed",
    "is_protected",
    "is_visible",
    "source",
    "owner",
    "hierarchy",
];

/// The Cypher list of `names`, each the property of edge variable `edge` unless `special`
/// gives its expression.
fn listed(edge: &str, names: &[&str], special: &[(&str, String)]) -> String {
    let items: Vec<String> = names
        .iter()
        .map(|name| {
            special
                .iter()
                .find(|(special, _)| special == name)
                .map_or_else(|| format!("{edge}.{name}"), |(_, expr)| expr.clone())
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn raw_version(e: &impl Props, data: VersionData) -> RawVersion {
    RawVersion {
        branch: Arc::from(e.prop("branch").and_then(Value::as_str).unwrap_or_default()),
        at: e.prop("from").and_then(Value::as_i64).unwrap_or_default(),
        status: status_of(e),
        local: e.prop("scope").and_then(Value::as_str) == Some("local"),
        indexed: e.prop("indexed").and_then(Value::as_bool).unwrap_or(false),
        data,
    }
}

fn node_version(e: &impl Props) -> RawVersion {
    let data = if status_of(e) == Status::Active {
        VersionData::Node {
            kind: e
                .prop("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            labels: e
                .prop("labels")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    } else {
        VersionData::None
    };
    raw_version(e, data)
}

fn flag(e: &impl Props, key: &str, default: bool) -> bool {
    e.prop(key).and_then(Value::as_bool).unwrap_or(default)
}

fn attribute_version(e: &impl Props, value: Option<&Value>) -> RawVersion {
    let data = if status_of(e) == Status::Active {
        let value = value
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null);
        VersionData::Attribute(AttributeValue {
            value,
            is_default: flag(e, "is_default", false),
            is_protected: flag(e, "is_protected", false),
            is_visible: flag(e, "is_visible", true),
            source: uuid_of(e.prop("source")),
            owner: uuid_of(e.prop("owner")),
            is_from_profile: flag(e, "is_from_profile", false),
        })
    } else {
        VersionData::None
    };
    raw_version(e, data)
}

fn link_version(e: &impl Props) -> RawVersion {
    let data = if status_of(e) == Status::Active {
        VersionData::Link(LinkProperties {
            is_protected: flag(e, "is_protected", false),
            is_visible: flag(e, "is_visible", true),
            source: uuid_of(e.prop("source")),
            owner: uuid_of(e.prop("owner")),
            hierarchy: e
                .prop("hierarchy")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    } else {
        VersionData::None
    };
    raw_version(e, data)
}

/// The versions of a column of lists, each read through `names`.
fn listed_versions<'a>(
    value: Option<&'a Value>,
    names: &'static [&'static str],
) -> impl Iterator<Item = Listed<'a>> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .map(move |values| Listed { names, values })
}

/// The `total` column of a query's or count's first row.
fn total_of(rows: &[Map<String, Value>]) -> Result<u64> {
    rows.first()
        .and_then(|r| r.get("total"))
        .and_then(Value::as_u64)
        .ok_or_else(|| corrupt("a query answered without its total"))
}

/// Loads every version (through `spec`'s visibility when given) of nodes `ids`'
/// existence, attributes and links in both directions, with the existence of their peers, in
/// one statement, and marks the nodes loaded in `raw`.
async fn load(
    tx: &mut BoltTransaction,
    spec: Option<&Spec>,
    ids: &[NodeId],
    raw: &mut Raw,
) -> Result<()> {
    let view = spec.map_or(LoadView::All, LoadView::Spec);
    load_with_candidates(tx, view, ids, &[], raw).await?;
    Ok(())
}

/// The clauses binding `n` to each node of parameter `$ids` that has a vertex, after `head`
/// (clauses binding the view's variable, or nothing). One index lookup per id: ArcadeDB plans
/// `n.uuid IN $ids` followed by more pattern as a scan.
fn nodes_by_id(head: &str) -> String {
    format!("{head} UNWIND $ids AS id MATCH (n:Node {{uuid: id}})")
}

/// The nodes of `ids` not loaded yet in `raw`, each once: as ids and as the statement's
/// parameter.
fn to_load(ids: &[NodeId], raw: &Raw) -> (BTreeSet<NodeId>, Vec<String>) {
    let mut seen = BTreeSet::new();
    let ids = ids
        .iter()
        .filter(|id| !raw.loaded.contains(id) && seen.insert(**id))
        .map(ToString::to_string)
        .collect();
    (seen, ids)
}

/// The `RETURN` columns (`ex`, `ax`, `ox`, `ix`) loading the versions of node `n` that
/// [`absorb`] reads: through the view's visibility (its parameters in `p`) when `visible`,
/// else every version; with `select`, only the attributes and link identifiers it names.
fn load_columns(
    visible_only: bool,
    select: Option<&Selection>,
    p: &mut Map<String, Value>,
) -> String {
    let vis = |e: &str| {
        if visible_only {
            visible(e)
        } else {
            "true".to_string()
        }
    };
    let (attribute_filter, links) = match select {
        None => (String::new(), true),
        Some(select) => {
            let attributes = match &select.attributes {
                None => String::new(),
                Some(names) => {
                    p.insert("select_attributes".into(), json!(names));
                    " AND a.name IN $select_attributes".to_string()
                }
            };
            let identifiers: BTreeSet<&str> =
                select.links.iter().map(|l| l.identifier.as_str()).collect();
            p.insert("select_links".into(), json!(identifiers));
            (attributes, !identifiers.is_empty())
        }
    };
    let link_filter = |e: &str| {
        if select.is_some() {
            format!(" AND {e}.identifier IN $select_links")
        } else {
            String::new()
        }
    };
    let node_list = |e: &str| listed(e, NODE_FIELDS, &[]);
    let link_columns = if links {
        let link_list = |e: &str, p: &str, x: &str| {
            let existence = format!(
                "[({p})-[{x}:IS_PART_OF]->(:Root) WHERE {vx} | {list}]",
                vx = vis(x),
                list = node_list(x)
            );
            listed(
                e,
                LINK_FIELDS,
                &[("peer", format!("{p}.uuid")), ("pe", existence)],
            )
        };
        format!(
            "[(n)-[o:IS_RELATED]->(p:Node) WHERE {vo}{fo} | {lo}] AS ox, \
             [(n)<-[i:IS_RELATED]-(q:Node) WHERE {vi}{fi} | {li}] AS ix",
            vo = vis("o"),
            fo = link_filter("o"),
            lo = link_list("o", "p", "x"),
            vi = vis("i"),
            fi = link_filter("i"),
            li = link_list("i", "q", "y"),
        )
    } else {
        "[] AS ox, [] AS ix".to_string()
    };
    let attribute_list = listed(
        "h",
        ATTRIBUTE_FIELDS,
        &[
            ("name", "a.name".to_string()),
            ("value", "v.value".to_string()),
        ],
    );
    format!(
        // Pattern comprehensions from the matched node, not OPTIONAL MATCH: ArcadeDB evaluates
        // a pattern whose start variable an OPTIONAL MATCH left null as a scan of every edge of
        // its type (measured: 60 ms per node without links at 2,000 nodes, growing with the
        // database), and a comprehension starting at an unbound `Attribute {{node: ...}}` as a
        // scan of every attribute (1.2 ms per node at 7,000 attributes): attributes are reached
        // through the node's `HAS_ATTRIBUTE` edges. Versions come back as lists, not
        // `properties(e)` maps: 1,000 nodes with one attribute were 510 kB of maps against
        // 294 kB of lists, and maps cost hashing at every step of decoding.
        "[(n)-[e:IS_PART_OF]->(:Root) WHERE {ve} | {ne}] AS ex, \
         [(n)-[:HAS_ATTRIBUTE]->(a:Attribute)-[h:HAS_VALUE]->(v) WHERE {vh}{attribute_filter} | \
          {attribute_list}] AS ax, {link_columns}",
        ve = vis("e"),
        ne = node_list("e"),
        vh = vis("h"),
    )
}

/// Adds the versions of rows of `id` plus [`load_columns`] to `raw`; returns the ids, in
/// order.
fn absorb(rows: Vec<Map<String, Value>>, select: Option<&Selection>, raw: &mut Raw) -> Vec<NodeId> {
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(id) = uuid_of(row.get("id")) else {
            continue;
        };
        if raw.loaded.contains(&id) {
            found.push(id);
            continue;
        }
        for e in listed_versions(row.get("ex"), NODE_FIELDS) {
            raw.insert(Slot::Node { id }, node_version(&e));
        }
        for a in listed_versions(row.get("ax"), ATTRIBUTE_FIELDS) {
            let Some(name) = a.prop("name").and_then(Value::as_str) else {
                continue;
            };
            raw.insert(
                Slot::Attribute {
                    node: id,
                    name: name.to_string(),
                },
                attribute_version(&a, a.prop("value")),
            );
        }
        for (column, outgoing) in [("ox", true), ("ix", false)] {
            for l in listed_versions(row.get(column), LINK_FIELDS) {
                let Some(peer) = uuid_of(l.prop("peer")) else {
                    continue;
                };
                let identifier = l
                    .prop("identifier")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let (from, to) = if outgoing { (id, peer) } else { (peer, id) };
                raw.insert(raw::link_slot(identifier, from, to), link_version(&l));
                if !raw.loaded.contains(&peer) {
                    for pe in listed_versions(l.prop("pe"), NODE_FIELDS) {
                        raw.insert(Slot::Node { id: peer }, node_version(&pe));
                    }
                }
            }
        }
        if select.is_none() {
            raw.loaded.insert(id);
        }
        found.push(id);
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Writing versions

fn level(branch: &str, default: &str) -> i64 {
    if branch == default || branch == GLOBAL_BRANCH {
        1
    } else {
        2
    }
}

fn scope_text(v: &RawVersion) -> &'static str {
    if &*v.branch == GLOBAL_BRANCH {
        "global"
    } else if v.local {
        "local"
    } else {
        "branch"
    }
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Active => "active",
        Status::Deleted => "deleted",
    }
}

fn uuid_value(id: Option<NodeId>) -> Value {
    id.map_or(Value::Null, |id| Value::String(id.to_string()))
}

/// Writes the versions of a changeset at `at`: closes the same branch's current edge of each
/// slot and adds the new one, with the change log, all in one statement. Slots of `fresh`
/// nodes (no vertex before this transaction) have no edge to close, so they skip that part.
async fn flush(
    tx: &mut BoltTransaction,
    writes: &[Write],
    default: &str,
    at: i64,
    fresh: &BTreeSet<NodeId>,
) -> Result<()> {
    let mut nodes = Vec::new();
    let mut attributes = Vec::new();
    let mut links = Vec::new();
    // The change log: per branch written, the nodes whose slots this commit writes (both
    // ends of a link), read back by `branch_changes`.
    let mut changed: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for Write { slot, version } in writes {
        let nodes = changed.entry(&*version.branch).or_default();
        for id in slot_nodes(slot) {
            nodes.insert(id.to_string());
        }
    }
    let changes: Vec<Value> = changed
        .into_iter()
        .map(|(branch, nodes)| json!({ "branch": branch, "nodes": nodes }))
        .collect();
    // Rows of slots that may have a current edge to close.
    let (mut close_nodes, mut close_attributes, mut close_links) =
        (Vec::new(), Vec::new(), Vec::new());
    for Write { slot, version: v } in writes {
        let existing = match slot {
            Slot::Node { id } => !fresh.contains(id),
            Slot::Attribute { node, .. } => !fresh.contains(node),
            Slot::Link { from, to, .. } => !fresh.contains(from) && !fresh.contains(to),
        };
        let common = json!({
            "branch": &*v.branch,
            "level": level(&v.branch, default),
            "status": status_text(v.status),
            "scope": scope_text(v),
        });
        let mut row = params(common);
        match slot {
            Slot::Node { id } => {
                row.insert("id".into(), json!(id.to_string()));
                if let VersionData::Node { kind, labels } = &v.data {
                    row.insert("kind".into(), json!(kind));
                    row.insert("labels".into(), json!(labels));
                }
                if existing {
                    close_nodes.push(Value::Object(row.clone()));
                }
                nodes.push(Value::Object(row));
            }
            Slot::Attribute { node, name } => {
                row.insert("node".into(), json!(node.to_string()));
                row.insert("name".into(), json!(name));
                row.insert("indexed".into(), json!(v.indexed));
                let value = match &v.data {
                    VersionData::Attribute(a) => {
                        row.insert("is_default".into(), json!(a.is_default));
                        row.insert("is_protected".into(), json!(a.is_protected));
                        row.insert("is_visible".into(), json!(a.is_visible));
                        row.insert("is_from_profile".into(), json!(a.is_from_profile));
                        row.insert("source".into(), uuid_value(a.source));
                        row.insert("owner".into(), uuid_value(a.owner));
                        a.value.clone()
                    }
                    _ => Value::Null,
                };
                let canonical = raw::canonical(&value);
                row.insert("key".into(), json!(raw::value_key(&canonical)));
                row.insert("value".into(), json!(canonical));
                row.insert(
                    "number".into(),
                    value.as_f64().map_or(Value::Null, Value::from),
                );
                row.insert(
                    "text".into(),
                    value.as_str().map_or(Value::Null, Value::from),
                );
                if existing {
                    close_attributes.push(Value::Object(row.clone()));
                }
                attributes.push(Value::Object(row));
            }
            Slot::Link {
                identifier,
                from,
                to,
            } => {
                row.insert("identifier".into(), json!(identifier));
                row.insert("from".into(), json!(from.to_string()));
                row.insert("to".into(), json!(to.to_string()));
                if let VersionData::Link(l) = &v.data {
                    row.insert("is_protected".into(), json!(l.is_protected));
                    row.insert("is_visible".into(), json!(l.is_visible));
                    row.insert("source".into(), uuid_value(l.source));
                    row.insert("owner".into(), uuid_value(l.owner));
                    row.insert("hierarchy".into(), json!(l.hierarchy));
                }
                if existing {
                    close_links.push(Value::Object(row.clone()));
                }
                links.push(Value::Object(row));
            }
        }
    }
    // Every write goes out in one statement: each part handles its own rows, and
    // `WITH count(*)` between parts (one row, even after a part that matched nothing) ends
    // one before the next begins, so a part sees what the earlier ones wrote (closes before
    // the edges that replace them; nodes before their attributes and links).
    let mut statement = Vec::new();
    let mut p = params(json!({ "at": at }));
    let mut part = |text: String, name: &str, rows: Vec<Value>| {
        if rows.is_empty() {
            return;
        }
        if !statement.is_empty() {
            statement.push(format!("WITH count(*) AS done_{}", statement.len()));
        }
        statement.push(text.replace("$rows", &format!("${name}")));
        p.insert(name.into(), Value::Array(rows));
    };
    part(
        "UNWIND $rows AS r CREATE (:Change {branch: r.branch, at: $at, nodes: r.nodes})".into(),
        "changes",
        changes,
    );
    part(
        "UNWIND $rows AS r MATCH (n:Node {uuid: r.id})-[e:IS_PART_OF]->(:Root) \
         WHERE e.branch = r.branch AND e.to IS NULL SET e.to = $at"
            .into(),
        "close_nodes",
        close_nodes,
    );
    part(
        // ArcadeDB re-creates a vertex whose labels change (failing the uniqueness of
        // `Node.uuid`), so the labels a node ever had are a list property instead; each
        // label it gains also links it to that label's `Label` vertex, the index a query
        // by kind starts from.
        "MATCH (root:Root {uuid: 'root'}) UNWIND $rows AS r MERGE (n:Node {uuid: r.id}) \
         CREATE (n)-[:IS_PART_OF {branch: r.branch, branch_level: r.level, from: $at, status: r.status, \
         scope: r.scope, kind: r.kind, labels: r.labels}]->(root) \
         WITH n, [l IN coalesce(r.labels, []) WHERE NOT l IN coalesce(n.labels, [])] AS added \
         SET n.labels = coalesce(n.labels, []) + added \
         WITH n, added UNWIND added AS name \
         MERGE (l:Label {name: name}) MERGE (n)-[:HAS_LABEL]->(l)"
            .into(),
        "nodes",
        nodes,
    );
    part(
        "UNWIND $rows AS r MATCH (a:Attribute {node: r.node, name: r.name})-[e:HAS_VALUE]->() \
         WHERE e.branch = r.branch AND e.to IS NULL SET e.to = $at"
            .into(),
        "close_attributes",
        close_attributes,
    );
    // Indexed values are `AttributeValueIndexed` vertices, the others `AttributeValue`: one
    // label each, as ArcadeDB creates a type per label combination on first use and
    // concurrent first uses fail.
    let (indexed, plain): (Vec<Value>, Vec<Value>) = attributes
        .into_iter()
        .partition(|row| row.get("indexed").and_then(Value::as_bool) == Some(true));
    for (value_label, name, rows) in [
        ("AttributeValueIndexed", "indexed_attributes", indexed),
        ("AttributeValue", "plain_attributes", plain),
    ] {
        part(
            format!(
                "UNWIND $rows AS r MERGE (a:Attribute {{node: r.node, name: r.name}}) \
                 WITH r, a OPTIONAL MATCH (n:Node {{uuid: r.node}}) \
                 FOREACH (x IN CASE WHEN n IS NULL THEN [] ELSE [n] END | \
                   MERGE (x)-[:HAS_ATTRIBUTE]->(a)) \
                 WITH r, a MERGE (v:{value_label} {{key: r.key}}) ON CREATE SET v.value = r.value, v.number = r.number, v.text = r.text \
                 CREATE (a)-[:HAS_VALUE {{branch: r.branch, branch_level: r.level, from: $at, status: r.status, \
                 scope: r.scope, indexed: r.indexed, is_default: r.is_default, is_protected: r.is_protected, \
                 is_visible: r.is_visible, is_from_profile: r.is_from_profile, source: r.source, owner: r.owner}}]->(v)"
            ),
            name,
            rows,
        );
    }
    part(
        "UNWIND $rows AS r MATCH (f:Node {uuid: r.from})-[e:IS_RELATED]->(t:Node {uuid: r.to}) \
         WHERE e.identifier = r.identifier AND e.branch = r.branch AND e.to IS NULL SET e.to = $at"
            .into(),
        "close_links",
        close_links,
    );
    part(
        "UNWIND $rows AS r MATCH (f:Node {uuid: r.from}) MATCH (t:Node {uuid: r.to}) \
         CREATE (f)-[:IS_RELATED {identifier: r.identifier, branch: r.branch, branch_level: r.level, \
         from: $at, status: r.status, scope: r.scope, is_protected: r.is_protected, \
         is_visible: r.is_visible, source: r.source, owner: r.owner, hierarchy: r.hierarchy}]->(t)"
            .into(),
        "links",
        links,
    );
    if !statement.is_empty() {
        // Nothing to read back: RUN and DISCARD leave together, one round trip.
        tx.run_discarding(&statement.join(" "), p).await?;
    }
    Ok(())
}

/// Every node an operation names.
fn op_nodes(op: &Op) -> Vec<NodeId> {
    match op {
        Op::CreateNode { id, .. } | Op::DeleteNode { id, .. } | Op::ChangeKind { id, .. } => {
            vec![*id]
        }
        Op::SetAttribute { node, .. } | Op::RemoveAttribute { node, .. } => vec![*node],
        Op::SetLink { from, to, .. } | Op::RemoveLink { from, to, .. } => vec![*from, *to],
    }
}

/// The `UNION ALL` part finding the candidates of condition `index` when it is `Unique`: the
/// nodes that ever held its first field's value, as rows with `u` = `index` and the columns
/// of [`load_columns`] null. `None` for other conditions.
fn unique_part(index: usize, condition: &Condition, p: &mut Map<String, Value>) -> Option<String> {
    let Condition::Unique { fields, .. } = condition else {
        return None;
    };
    let nulls = format!("{index} AS u, {LOAD_NULLS}, null AS at, null AS b");
    match fields.first()? {
        UniqueField::Attribute { name, value } => {
            p.insert(format!("un{index}"), json!(name));
            p.insert(
                format!("uk{index}"),
                json!([raw::value_key(&raw::canonical(value))]),
            );
            Some(format!(
                "{} RETURN DISTINCT a.node AS id, {nulls}",
                select::attributes_holding(&format!("$uk{index}"), &format!("$un{index}"), "")
            ))
        }
        UniqueField::Link {
            identifier, peer, ..
        } => {
            p.insert(format!("up{index}"), json!(peer.to_string()));
            p.insert(format!("ui{index}"), json!(identifier));
            Some(format!(
                "MATCH (p:Node {{uuid: $up{index}}})-[e:IS_RELATED]-(x:Node) \
                 WHERE e.identifier = $ui{index} RETURN DISTINCT x.uuid AS id, {nulls}"
            ))
        }
    }
}

/// The load columns of [`load_columns`], null: in the rows of a statement's parts that load
/// nothing.
const LOAD_NULLS: &str = "null AS ex, null AS ax, null AS ox, null AS ix";

/// Which versions a load returns.
#[derive(Clone, Copy)]
enum LoadView<'a> {
    /// Every version.
    All,
    /// Those a known view sees.
    Spec(&'a Spec),
    /// Those a commit on `branch` reads (the branch's latest state), `Root.last_commit`
    /// advanced and the branch's record read in the same statement: the first statement of a
    /// commit.
    Commit { branch: &'a str, default: &'a str },
}

/// What [`load_with_candidates`] found.
struct Loaded {
    /// The ids loaded, in the order the server returned them.
    found: Vec<NodeId>,
    /// Per condition, its candidates (none for conditions other than `Unique`).
    candidates: Vec<Vec<NodeId>>,
    /// With [`LoadView::Commit`]: the branch's record and the commit's instant.
    commit: Option<(BranchRecord, i64)>,
}

/// [`load`] together with the candidates of every `Unique` condition of `conditions` and,
/// for [`LoadView::Commit`], the advance of `Root` and the branch's record, in one statement
/// (`UNION ALL`; rows carry `u`, the condition a candidate row answers, and `at` and `b`, the
/// commit's instant and the branch's record, null where they do not apply).
async fn load_with_candidates(
    tx: &mut BoltTransaction,
    view: LoadView<'_>,
    ids: &[NodeId],
    conditions: &[Condition],
    raw: &mut Raw,
) -> Result<Loaded> {
    let mut p = Map::new();
    let (seen, ids) = to_load(ids, raw);
    let mut loaded = Loaded {
        found: Vec::new(),
        candidates: vec![Vec::new(); conditions.len()],
        commit: None,
    };
    let Some(statement) = load_statement(view, &ids, conditions, &mut p) else {
        return Ok(loaded);
    };
    let rows = tx.run(&statement, p).await?;
    let mut versions = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(at) = row.get("at").and_then(Value::as_i64) {
            loaded.commit = Some((record_of(&row)?, at));
            continue;
        }
        match row.get("u").and_then(Value::as_u64) {
            Some(index) => {
                if let (Some(found), Some(id)) = (
                    loaded.candidates.get_mut(index as usize),
                    uuid_of(row.get("id")),
                ) {
                    found.push(id);
                }
            }
            None => versions.push(row),
        }
    }
    loaded.found = absorb(versions, None, raw);
    // A node without a vertex has no versions to load: asking again (a created node is also
    // among the nodes a changeset touches) would find none again.
    raw.loaded.extend(seen);
    Ok(loaded)
}

/// The statement of [`load_with_candidates`] loading nodes `ids` (none when it has nothing to
/// do), its parameters added to `p`.
fn load_statement(
    view: LoadView<'_>,
    ids: &[String],
    conditions: &[Condition],
    p: &mut Map<String, Value>,
) -> Option<String> {
    let mut parts = Vec::new();
    if let LoadView::Commit { branch, .. } = view {
        p.insert("now".into(), json!(Timestamp::now().as_micros()));
        p.insert("vb".into(), json!(branch));
        parts.push(format!(
            "MATCH (r:Root {{uuid: 'root'}}) {ADVANCE_ROOT} WITH r \
             MATCH (b:Branch {{name: $vb}}) \
             RETURN null AS id, null AS u, {LOAD_NULLS}, r.last_commit AS at, properties(b) AS b"
        ));
    }
    if !ids.is_empty() {
        let head = match view {
            LoadView::All => "",
            LoadView::Spec(spec) => spec.head(p),
            LoadView::Commit { branch, default } => raw::latest_head(branch, default, p),
        };
        p.insert("ids".into(), json!(ids));
        let columns = load_columns(!matches!(view, LoadView::All), None, p);
        parts.push(format!(
            "{} RETURN n.uuid AS id, null AS u, {columns}, null AS at, null AS b",
            nodes_by_id(head)
        ));
    }
    for (index, condition) in conditions.iter().enumerate() {
        parts.extend(unique_part(index, condition, p));
    }
    (!parts.is_empty()).then(|| parts.join(" UNION ALL "))
}

/// Applies a changeset inside `tx`: returns its timestamp.
async fn commit_in(tx: &mut BoltTransaction, changeset: &Changeset, default: &str) -> Result<i64> {
    let mut raw = Raw::default();
    let mut ids: Vec<NodeId> = changeset.ops.iter().flat_map(op_nodes).collect();
    for condition in &changeset.conditions {
        match condition {
            Condition::NodeExists { id, .. } => ids.push(*id),
            Condition::NotLinked { node, .. } | Condition::LinkCount { node, .. } => {
                ids.push(*node)
            }
            Condition::Unique { .. } => {}
        }
    }
    ids.sort();
    ids.dedup();
    // Root's advance, the branch, the nodes and the Unique conditions' candidates: one
    // statement.
    let view = LoadView::Commit {
        branch: &changeset.branch,
        default,
    };
    let loaded = load_with_candidates(tx, view, &ids, &changeset.conditions, &mut raw).await?;
    let (record, at) = loaded
        .commit
        .ok_or_else(|| not_found_branch(&changeset.branch))?;
    let spec = spec_of(&record, default, None);
    let mut unique_found = loaded.candidates;
    let existing: BTreeSet<NodeId> = loaded.found.into_iter().collect();
    // Nodes without a vertex yet: nothing of theirs to close when writing.
    let fresh: BTreeSet<NodeId> = ids
        .iter()
        .filter(|id| !existing.contains(id))
        .copied()
        .collect();
    let mut writer = Writer::new(&mut raw, spec.clone(), at);
    for op in &changeset.ops {
        writer.apply(op)?;
    }
    // Links written to nodes not loaded yet, and Unique candidates, are loaded before checks.
    let mut extra: Vec<NodeId> = writer.touched_nodes().into_iter().collect();
    let mut candidates: Vec<Vec<NodeId>> = Vec::new();
    for (index, condition) in changeset.conditions.iter().enumerate() {
        let mut found = Vec::new();
        if let Condition::Unique { .. } = condition {
            found = std::mem::take(&mut unique_found[index]);
            found.extend(writer.touched_nodes());
            found.sort();
            found.dedup();
            extra.extend(found.iter().copied());
        }
        candidates.push(found);
    }
    extra.retain(|id| !writer.raw.loaded.contains(id));
    extra.sort();
    extra.dedup();
    if !extra.is_empty() {
        // Loaded versions never override the changeset's writes (later instant).
        let mut more = Raw::default();
        load(tx, Some(&spec), &extra, &mut more).await?;
        for (slot, versions) in more.slots {
            for v in versions {
                let present = writer
                    .raw
                    .slots
                    .get(&slot)
                    .is_some_and(|vs| vs.iter().any(|x| x.branch == v.branch && x.at == v.at));
                if !present {
                    writer.raw.insert(slot.clone(), v);
                }
            }
        }
        writer.raw.loaded.extend(more.loaded);
    }
    for (index, condition) in changeset.conditions.iter().enumerate() {
        writer.check(index, condition, &candidates[index])?;
    }
    let writes = writer.finish();
    flush(tx, &writes, default, at, &fresh).await?;
    Ok(at)
}

/// Slots written on `branch` in `(after, upto]`: the slot, the version, and its node ids.
async fn branch_changes(
    tx: &mut BoltTransaction,
    branch: &str,
    after: i64,
    upto: i64,
) -> Result<Vec<(Slot, RawVersion)>> {
    // The change log names the nodes written on the branch in the range (through its index
    // on `branch`); their edges of the branch in the range are the changes. Scanning edges
    // by their properties would cost the size of the database.
    let ids = changed_nodes(tx, branch, after, upto).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let p = params(json!({ "b": branch, "after": after, "upto": upto, "ids": ids }));
    let rows = tx
        .run(
            "UNWIND $ids AS id MATCH (n:Node {uuid: id}) MATCH (n)-[e:IS_PART_OF]->(:Root) \
             WHERE e.branch = $b AND e.from > $after AND e.from <= $upto \
             RETURN 'node' AS t, n.uuid AS a, null AS b, null AS c, properties(e) AS e, null AS value \
             UNION ALL \
             UNWIND $ids AS id MATCH (n:Node {uuid: id}) \
             MATCH (n)-[:HAS_ATTRIBUTE]->(x:Attribute)-[e:HAS_VALUE]->(v) \
             WHERE e.branch = $b AND e.from > $after AND e.from <= $upto \
             RETURN 'attribute' AS t, x.node AS a, x.name AS b, null AS c, properties(e) AS e, v.value AS value \
             UNION ALL \
             UNWIND $ids AS id MATCH (f:Node {uuid: id}) MATCH (f)-[e:IS_RELATED]->(g:Node) \
             WHERE e.branch = $b AND e.from > $after AND e.from <= $upto \
             RETURN 'link' AS t, f.uuid AS a, e.identifier AS b, g.uuid AS c, properties(e) AS e, null AS value",
            p,
        )
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let Some(e) = row.get("e").and_then(Value::as_object) else {
            continue;
        };
        let Some(a) = uuid_of(row.get("a")) else {
            continue;
        };
        let b = row.get("b").and_then(Value::as_str).unwrap_or_default();
        match row.get("t").and_then(Value::as_str) {
            Some("node") => out.push((Slot::Node { id: a }, node_version(e))),
            Some("attribute") => out.push((
                Slot::Attribute {
                    node: a,
                    name: b.to_string(),
                },
                attribute_version(e, row.get("value")),
            )),
            Some("link") => {
                if let Some(c) = uuid_of(row.get("c")) {
                    out.push((raw::link_slot(b, a, c), link_version(e)));
                }
            }
            _ => {}
        }
    }
    out.sort_by(|x, y| x.1.at.cmp(&y.1.at).then_with(|| x.0.cmp(&y.0)));
    Ok(out)
}

/// The nodes the change log says were written on `branch` in `(after, upto]`.
async fn changed_nodes(
    tx: &mut BoltTransaction,
    branch: &str,
    after: i64,
    upto: i64,
) -> Result<Vec<String>> {
    let rows = tx
        .run(
            "MATCH (c:Change) WHERE c.branch = $b AND c.at > $after AND c.at <= $upto \
             UNWIND c.nodes AS id RETURN DISTINCT id",
            params(json!({ "b": branch, "after": after, "upto": upto })),
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

fn slot_nodes(slot: &Slot) -> Vec<NodeId> {
    match slot {
        Slot::Link { from, to, .. } => vec![*from, *to],
        other => vec![other.node()],
    }
}

/// Merge (`rebase == false`) or rebase of `name` inside `tx`.
async fn replay_in(
    tx: &mut BoltTransaction,
    name: &str,
    choices: &[(Slot, crate::change::SlotProperty)],
    rebase: bool,
) -> Result<BranchOperation> {
    // Refused below after `Root` advanced: the transaction then rolls back.
    let (record, default, at) = branch_and_root(tx, name, RootClock::Advance).await?;
    if record.is_default {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            if rebase {
                "the default branch cannot be rebased"
            } else {
                "the default branch cannot be merged into itself"
            },
        ));
    }
    let epoch = record.current_epoch();
    let changed = branch_changes(tx, name, epoch.start.as_micros() - 1, i64::MAX).await?;
    let slots: BTreeSet<Slot> = changed.iter().map(|(slot, _)| slot.clone()).collect();
    let mut ids: Vec<NodeId> = slots.iter().flat_map(slot_nodes).collect();
    ids.sort();
    ids.dedup();
    let mut raw = Raw::default();
    load(tx, None, &ids, &mut raw).await?;
    let branch_view = spec_of(&record, &default, None);
    let base_view = Spec::default_branch(&default, epoch.branched_from.as_micros());
    let target_view = if rebase {
        Spec {
            branch: name.to_string(),
            default: default.clone(),
            at: i64::MAX,
            epoch_start: at,
            default_at: at,
        }
    } else {
        Spec::default_branch(&default, i64::MAX)
    };
    let ops = raw::replay_ops(
        &raw,
        &branch_view,
        &base_view,
        &target_view,
        &slots,
        choices,
        rebase,
    );
    let mut writer = Writer::new(&mut raw, target_view, at);
    let applied = raw::apply_replay(&mut writer, &ops)?;
    let _ = writer.written();
    let writes = writer.finish();
    flush(tx, &writes, &default, at, &BTreeSet::new()).await?;
    let mut updated = record;
    updated.branched_from = Timestamp::from_micros(at);
    updated.epochs.push(Epoch {
        start: Timestamp::from_micros(at),
        branched_from: Timestamp::from_micros(at),
    });
    tx.run(
        "MATCH (b:Branch {name: $name}) SET b.branched_from = $branched_from, b.epochs = $epochs, \
         b.epoch_starts = $epoch_starts, b.epoch_froms = $epoch_froms",
        params(record_params(&updated)),
    )
    .await?;
    Ok(BranchOperation {
        at: Timestamp::from_micros(at),
        writes: applied,
    })
}

// ---------------------------------------------------------------------------------------------
// The trait

#[async_trait]
impl GraphStore for Neo4jGraph {
    async fn create_branch(
        &self,
        name: &str,
        options: CreateBranchOptions,
    ) -> Result<BranchRecord> {
        let _writing = self.writes.lock().await;
        if name.is_empty() || name.contains('\0') || name == GLOBAL_BRANCH {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("`{name}` cannot be used as a branch name"),
            ));
        }
        let name = name.to_string();
        self.client
            .transaction(move |tx| {
                let name = name.clone();
                let options = options.clone();
                Box::pin(async move {
                    let rows = tx
                        .run(
                            "MATCH (b:Branch) RETURN b.name AS name, b.is_default AS is_default",
                            Map::new(),
                        )
                        .await?;
                    if rows.iter().any(|r| r.get("name").and_then(Value::as_str) == Some(&name)) {
                        return Err(Error::new(
                            ErrorKind::AlreadyExists,
                            format!("branch `{name}` already exists"),
                        ));
                    }
                    let default = rows.iter().find(|r| {
                        r.get("is_default").and_then(Value::as_bool) == Some(true)
                    });
                    match (default, options.is_default) {
                        (None, false) => {
                            return Err(Error::new(
                                ErrorKind::InvalidInput,
                                "the first branch must be the default branch",
                            ));
                        }
                        (Some(d), true) => {
                            return Err(Error::new(
                                ErrorKind::InvalidInput,
                                format!(
                                    "the default branch is already `{}`",
                                    d.get("name").and_then(Value::as_str).unwrap_or_default()
                                ),
                            ));
                        }
                        _ => {}
                    }
                    let at = Timestamp::from_micros(advance(tx).await?);
                    let record = BranchRecord {
                        name: name.clone(),
                        id: uuid::Uuid::now_v7(),
                        is_default: options.is_default,
                        created_at: at,
                        branched_from: at,
                        epochs: if options.is_default {
                            Vec::new()
                        } else {
                            vec![Epoch {
                                start: at,
                                branched_from: at,
                            }]
                        },
                        properties: options.properties,
                    };
                    tx.run(
                        "CREATE (b:Branch {name: $name, id: $id, is_default: $is_default, created_at: $created_at, \
                         branched_from: $branched_from, epochs: $epochs, epoch_starts: $epoch_starts, \
                         epoch_froms: $epoch_froms, properties: $properties})",
                        params(record_params(&record)),
                    )
                    .await?;
                    Ok(record)
                })
            })
            .await
    }

    async fn get_branch(&self, name: &str) -> Result<BranchRecord> {
        let rows = self
            .client
            .run(
                "MATCH (b:Branch {name: $name}) RETURN properties(b) AS b",
                params(json!({ "name": name })),
            )
            .await?;
        rows.first()
            .map(record_of)
            .transpose()?
            .ok_or_else(|| not_found_branch(name))
    }

    async fn list_branches(&self) -> Result<Vec<BranchRecord>> {
        let rows = self
            .client
            .run("MATCH (b:Branch) RETURN properties(b) AS b", Map::new())
            .await?;
        let mut out: Vec<BranchRecord> = rows.iter().map(record_of).collect::<Result<_>>()?;
        out.sort_by(|a, b| {
            b.is_default
                .cmp(&a.is_default)
                .then(a.created_at.cmp(&b.created_at))
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(out)
    }

    async fn update_branch(
        &self,
        name: &str,
        properties: Map<String, Value>,
    ) -> Result<BranchRecord> {
        let _writing = self.writes.lock().await;
        let rows = self
            .client
            .run(
                "MATCH (b:Branch {name: $name}) SET b.properties = $properties RETURN properties(b) AS b",
                params(json!({ "name": name, "properties": Value::Object(properties).to_string() })),
            )
            .await?;
        rows.first()
            .map(record_of)
            .transpose()?
            .ok_or_else(|| not_found_branch(name))
    }

    async fn delete_branch(&self, name: &str) -> Result<()> {
        let _writing = self.writes.lock().await;
        let name = name.to_string();
        self.client
            .transaction(move |tx| {
                let name = name.clone();
                Box::pin(async move {
                    let (record, _) = branch_and_default(tx, &name).await?;
                    if record.is_default {
                        return Err(Error::new(
                            ErrorKind::InvalidInput,
                            format!("the default branch `{name}` cannot be deleted"),
                        ));
                    }
                    // Every node the branch ever wrote is in its change log.
                    let ids = changed_nodes(tx, &name, i64::MIN, i64::MAX).await?;
                    let p = params(json!({ "name": name, "ids": ids }));
                    for pattern in [
                        "(n)-[e:IS_PART_OF]->(:Root)",
                        "(n)-[:HAS_ATTRIBUTE]->(:Attribute)-[e:HAS_VALUE]->()",
                        "(n)-[e:IS_RELATED]->()",
                    ] {
                        tx.run(
                            &format!(
                                "UNWIND $ids AS id MATCH (n:Node {{uuid: id}}) \
                                 MATCH {pattern} WHERE e.branch = $name DELETE e"
                            ),
                            p.clone(),
                        )
                        .await?;
                    }
                    tx.run(
                        "MATCH (c:Change) WHERE c.branch = $name DELETE c",
                        p.clone(),
                    )
                    .await?;
                    tx.run(
                        "MATCH (b:Branch {name: $name}) DELETE b",
                        params(json!({ "name": name })),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn commit(&self, changeset: Changeset) -> Result<Commit> {
        let default = self
            .default_name()
            .await?
            .ok_or_else(|| not_found_branch(&changeset.branch))?;
        let _writing = self.writes.lock().await;
        let at = self
            .client
            .transaction(move |tx| {
                let (changeset, default) = (changeset.clone(), default.clone());
                Box::pin(async move { commit_in(tx, &changeset, &default).await })
            })
            .await?;
        Ok(Commit {
            at: Timestamp::from_micros(at),
        })
    }

    async fn get_nodes(
        &self,
        view: &BranchView,
        ids: &[NodeId],
        select: &Selection,
    ) -> Result<Vec<NodeData>> {
        let mut p = Map::new();
        let (head, default) = self.view_head(view, &mut p).await?;
        let (_, unique_ids) = to_load(ids, &Raw::default());
        if unique_ids.is_empty() {
            self.check_branch(&view.branch).await?;
            return Ok(Vec::new());
        }
        p.insert("ids".into(), json!(unique_ids));
        let columns = load_columns(true, Some(select), &mut p);
        // One statement: the view is worked out inside it.
        let rows = self
            .client
            .read(
                &format!(
                    "{} RETURN n.uuid AS id, {}, {columns}",
                    nodes_by_id(head),
                    raw::VIEW_COLUMNS
                ),
                p,
            )
            .await?;
        let Some(first) = rows.first() else {
            self.check_branch(&view.branch).await?;
            return Ok(Vec::new());
        };
        let spec = returned_spec(first, view, &default)?;
        let mut raw = Raw::default();
        absorb(rows, Some(select), &mut raw);
        Ok(ids
            .iter()
            .filter_map(|id| raw.node_data(&spec, *id, select))
            .collect())
    }

    async fn query(&self, view: &BranchView, query: &NodeQuery) -> Result<QueryResult> {
        let answer = if query.count {
            select::Answer::PageAndTotal
        } else {
            select::Answer::Page
        };
        // The page's versions come back with the page, in the same statement.
        let mut p = Map::new();
        let columns = load_columns(true, Some(&query.select), &mut p);
        let statement = select::statement(query, answer, &columns)?;
        p.extend(statement.params);
        let (head, default) = self.view_head(view, &mut p).await?;
        let rows = self
            .client
            .read(&format!("{head} {}", statement.text), p)
            .await?;
        let Some(first) = rows.first() else {
            // An empty page carries no row, hence no total, and a missing branch answers no
            // row either: ask apart. For a read of now the count is read at the last commit
            // as of its own statement, so a commit landing in between shows in the total but
            // not in the (empty) page. A placeholder row for an empty page (`UNWIND` over
            // `[null]`) would keep both in one statement, but ArcadeDB reads a pattern
            // comprehension over a null node as one over every node.
            let total = if query.count {
                Some(self.count(view, query).await?)
            } else {
                self.check_branch(&view.branch).await?;
                None
            };
            return Ok(QueryResult {
                nodes: Vec::new(),
                total,
            });
        };
        let spec = returned_spec(first, view, &default)?;
        let total = if query.count {
            Some(total_of(&rows)?)
        } else {
            None
        };
        let mut raw = Raw::default();
        let ids = absorb(rows, Some(&query.select), &mut raw);
        let nodes = ids
            .iter()
            .filter_map(|id| raw.node_data(&spec, *id, &query.select))
            .collect();
        Ok(QueryResult { nodes, total })
    }

    async fn count(&self, view: &BranchView, query: &NodeQuery) -> Result<u64> {
        let statement = select::statement(query, select::Answer::Total, "")?;
        let mut p = statement.params;
        let (head, _) = self.view_head(view, &mut p).await?;
        let total = total_of(
            &self
                .client
                .read(&format!("{head} {}", statement.text), p)
                .await?,
        )?;
        if total == 0 {
            // A missing branch counts nothing too.
            self.check_branch(&view.branch).await?;
        }
        Ok(total)
    }

    async fn changes(&self, branch: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Change>> {
        let branch = branch.to_string();
        self.client
            .transaction(move |tx| {
                let branch = branch.clone();
                Box::pin(async move {
                    let (record, default) = branch_and_default(tx, &branch).await?;
                    let changed =
                        branch_changes(tx, &branch, from.as_micros(), to.as_micros()).await?;
                    let mut ids: Vec<NodeId> =
                        changed.iter().flat_map(|(s, _)| slot_nodes(s)).collect();
                    ids.sort();
                    ids.dedup();
                    let mut raw = Raw::default();
                    load(tx, None, &ids, &mut raw).await?;
                    let mut out = Vec::with_capacity(changed.len());
                    for (slot, version) in changed {
                        let just_before = version.at - 1;
                        let before_view = if record.is_default {
                            Spec::default_branch(&default, just_before)
                        } else {
                            let epoch = record.epoch_at(Timestamp::from_micros(version.at));
                            Spec {
                                branch: branch.clone(),
                                default: default.clone(),
                                at: just_before,
                                epoch_start: epoch.start.as_micros(),
                                default_at: just_before.min(epoch.branched_from.as_micros()),
                            }
                        };
                        let before = raw.resolve(&before_view, &slot).map(RawVersion::to_version);
                        out.push(Change {
                            slot,
                            before,
                            after: version.to_version(),
                        });
                    }
                    Ok(out)
                })
            })
            .await
    }

    async fn history(&self, id: NodeId) -> Result<Vec<(Slot, Version)>> {
        self.client
            .transaction(move |tx| {
                Box::pin(async move {
                    let mut raw = Raw::default();
                    load(tx, None, &[id], &mut raw).await?;
                    let mut out: Vec<(Slot, Version)> = raw
                        .slots
                        .iter()
                        .filter(|(slot, _)| match slot {
                            Slot::Node { id: n } => *n == id,
                            Slot::Attribute { node, .. } => *node == id,
                            Slot::Link { from, to, .. } => *from == id || *to == id,
                        })
                        .flat_map(|(slot, versions)| {
                            versions.iter().map(move |v| (slot.clone(), v.to_version()))
                        })
                        .collect();
                    out.sort_by(|a, b| a.1.at.cmp(&b.1.at).then_with(|| a.0.cmp(&b.0)));
                    Ok(out)
                })
            })
            .await
    }

    async fn merge_branch(&self, branch: &str, options: MergeOptions) -> Result<BranchOperation> {
        let _writing = self.writes.lock().await;
        let branch = branch.to_string();
        self.client
            .transaction(move |tx| {
                let (branch, keep) = (branch.clone(), options.keep_default.clone());
                Box::pin(async move { replay_in(tx, &branch, &keep, false).await })
            })
            .await
    }

    async fn rebase_branch(&self, branch: &str, options: RebaseOptions) -> Result<BranchOperation> {
        let _writing = self.writes.lock().await;
        let branch = branch.to_string();
        self.client
            .transaction(move |tx| {
                let (branch, drop) = (branch.clone(), options.drop.clone());
                Box::pin(async move { replay_in(tx, &branch, &drop, true).await })
            })
            .await
    }

    async fn last_commit(&self) -> Result<Timestamp> {
        let rows = self
            .client
            .run(
                "MATCH (r:Root {uuid: 'root'}) RETURN r.last_commit AS at",
                Map::new(),
            )
            .await?;
        Ok(Timestamp::from_micros(
            rows.first()
                .and_then(|r| r.get("at"))
                .and_then(Value::as_i64)
                .unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Side;

    /// The `AS` names of a part's columns, in order.
    fn aliases(text: &str) -> Vec<&str> {
        text.split(" AS ")
            .skip(1)
            .map(|rest| rest.split([',', ' ']).next().unwrap_or_default())
            .collect()
    }

    /// What [`raw_version`] reads of every version.
    const VERSION_FIELDS: [&str; 5] = ["branch", "from", "status", "scope", "indexed"];

    #[test]
    fn every_listed_version_carries_what_raw_version_reads() {
        for names in [NODE_FIELDS, ATTRIBUTE_FIELDS, LINK_FIELDS] {
            for field in VERSION_FIELDS {
                assert!(names.contains(&field), "{field} missing from {names:?}");
            }
        }
        let values = [json!("main"), json!(7), json!("deleted"), Value::Null];
        let version = node_version(&Listed {
            names: NODE_FIELDS,
            values: &values,
        });
        assert_eq!((&*version.branch, version.at), ("main", 7));
        assert_eq!(version.status, Status::Deleted);
        // A null in the list reads as absent: defaults apply.
        let values = [
            json!("name"),
            Value::Null,
            json!("main"),
            json!(1),
            json!("active"),
        ];
        let version = attribute_version(
            &Listed {
                names: ATTRIBUTE_FIELDS,
                values: &values,
            },
            None,
        );
        let VersionData::Attribute(value) = version.data else {
            panic!("{version:?}");
        };
        assert!(value.is_visible && !value.is_protected && value.value.is_null());
    }

    #[test]
    fn unique_candidates_share_the_load_columns_and_keep_values_in_parameters() {
        let hostile = "x' }) DETACH DELETE n //";
        let conditions = [
            Condition::NodeExists {
                id: NodeId::nil(),
                description: String::new(),
            },
            Condition::Unique {
                labels: vec![hostile.into()],
                fields: vec![UniqueField::Attribute {
                    name: hostile.into(),
                    value: json!(hostile),
                }],
                except: None,
                description: String::new(),
            },
            Condition::Unique {
                labels: vec![hostile.into()],
                fields: vec![UniqueField::Link {
                    identifier: hostile.into(),
                    side: Side::Either,
                    peer: NodeId::nil(),
                }],
                except: None,
                description: String::new(),
            },
        ];
        let mut p = Map::new();
        let view = LoadView::Commit {
            branch: hostile,
            default: "main",
        };
        let ids = [NodeId::nil().to_string()];
        let statement = load_statement(view, &ids, &conditions, &mut p).unwrap();
        assert!(!statement.contains("DETACH"), "{statement}");
        let parts: Vec<&str> = statement.split(" UNION ALL ").collect();
        // Root's advance with the branch, the load, and one part per Unique condition.
        assert_eq!(parts.len(), 4, "{statement}");
        for (i, part) in parts.iter().enumerate() {
            let returned = &part[part.rfind("RETURN").unwrap()..];
            assert_eq!(
                aliases(returned),
                ["id", "u", "ex", "ax", "ox", "ix", "at", "b"],
                "{part}"
            );
            if i >= 2 {
                assert!(returned.contains(&format!("{} AS u", i - 1)), "{part}");
            }
        }
        assert!(parts[0].contains("SET r.last_commit"), "{}", parts[0]);
        assert!(p.values().any(|v| v == &json!(hostile)));
    }
}
