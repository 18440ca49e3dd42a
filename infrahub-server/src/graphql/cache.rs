//! Generated GraphQL schemas, shared by every branch (and instant) whose schema is the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_graphql::dynamic::Schema;
use infrahub_core::schema::SchemaBranch;

use super::plan::Plans;
use super::validated::ValidatedDocuments;

/// A generated GraphQL schema, the documents validated against it and the operations compiled
/// against it.
pub struct Generated {
    /// The executable schema.
    pub schema: Schema,
    /// Documents that passed validation against `schema`.
    pub(crate) validated: ValidatedDocuments,
    /// Operations compiled against `schema`, by document shape.
    pub(crate) plans: Plans,
}

/// The GraphQL schema of a branch schema could not be generated (a conflict async-graphql
/// refuses), or the cache is unusable after a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GenerationError(String);

/// How many generated schemas are kept; older ones are rebuilt on demand.
const CAPACITY: usize = 16;

#[derive(Default)]
struct Entries {
    /// Generated schemas by schema hash, with a use counter for eviction.
    by_hash: HashMap<String, (Arc<Generated>, u64)>,
    /// Schema hash of each branch schema object seen, so that the hash is computed once.
    by_object: Vec<(Weak<SchemaBranch>, String)>,
    clock: u64,
}

/// Generated schemas by branch schema hash.
#[derive(Default)]
pub struct SchemaCache {
    entries: Mutex<Entries>,
    /// Held while a schema is generated, so that concurrent requests build it once.
    building: Mutex<()>,
}

impl std::fmt::Debug for SchemaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.entries.lock().map(|e| e.by_hash.len()).unwrap_or(0);
        f.debug_struct("SchemaCache")
            .field("schemas", &count)
            .finish()
    }
}

impl SchemaCache {
    /// The GraphQL schema generated from `schema`, built on first use.
    pub fn get(&self, schema: &Arc<SchemaBranch>) -> Result<Arc<Generated>, GenerationError> {
        let known_hash = {
            let mut entries = self.lock()?;
            entries.clock += 1;
            let clock = entries.clock;
            let hash = entries
                .by_object
                .iter()
                .find(|(weak, _)| weak.upgrade().is_some_and(|s| Arc::ptr_eq(&s, schema)))
                .map(|(_, hash)| hash.clone());
            if let Some(hash) = &hash
                && let Some((generated, used)) = entries.by_hash.get_mut(hash)
            {
                *used = clock;
                return Ok(Arc::clone(generated));
            }
            hash
        };
        let hash = known_hash.unwrap_or_else(|| schema.hash());
        {
            let mut entries = self.lock()?;
            entries
                .by_object
                .retain(|(weak, _)| weak.strong_count() > 0);
            entries
                .by_object
                .push((Arc::downgrade(schema), hash.clone()));
            let clock = entries.clock;
            if let Some((generated, used)) = entries.by_hash.get_mut(&hash) {
                *used = clock;
                return Ok(Arc::clone(generated));
            }
        }
        self.build(hash, schema)
    }

    /// Generates the GraphQL schema of `schema` unless it is cached: a schema load calls it on
    /// its candidate before committing it, so that no stored schema can leave a branch
    /// without a GraphQL API, and the first request after the load finds it built.
    ///
    /// Errors: what the generation reports.
    pub fn prepare(&self, schema: &SchemaBranch) -> Result<(), GenerationError> {
        let hash = schema.hash();
        if self.lock()?.by_hash.contains_key(&hash) {
            return Ok(());
        }
        self.build(hash, schema).map(drop)
    }

    fn build(
        &self,
        hash: String,
        schema: &SchemaBranch,
    ) -> Result<Arc<Generated>, GenerationError> {
        let _building = self
            .building
            .lock()
            .map_err(|_| GenerationError("GraphQL schema cache poisoned".into()))?;
        if let Some((generated, _)) = self.lock()?.by_hash.get(&hash) {
            return Ok(Arc::clone(generated));
        }
        let started = std::time::Instant::now();
        let validated = ValidatedDocuments::default();
        // async-graphql panics on some conflicts (a field defined twice): such a schema is
        // refused, never allowed to take the process or a request down.
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::build::schema(schema, validated.clone())
        }))
        .map_err(|panic| {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "unknown conflict".into());
            GenerationError(format!("generating the GraphQL schema failed: {reason}"))
        })?
        .map_err(GenerationError)?;
        let generated = Arc::new(Generated {
            schema: built,
            validated,
            plans: Plans::default(),
        });
        tracing::info!(
            hash = %hash,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "generated the GraphQL schema"
        );
        let mut entries = self.lock()?;
        if entries.by_hash.len() >= CAPACITY
            && let Some(oldest) = entries
                .by_hash
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(h, _)| h.clone())
        {
            entries.by_hash.remove(&oldest);
        }
        let clock = entries.clock;
        entries
            .by_hash
            .insert(hash, (Arc::clone(&generated), clock));
        Ok(generated)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Entries>, GenerationError> {
        self.entries
            .lock()
            .map_err(|_| GenerationError("GraphQL schema cache poisoned".into()))
    }
}
