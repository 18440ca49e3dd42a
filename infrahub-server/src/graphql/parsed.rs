//! Parsed GraphQL documents by query text, for documents that have no compiled plan: clients
//! send the same few queries over and over, and parsing a document costs more than copying a
//! parsed one. A text is kept from the second time it is seen: most documents the
//! SDK writes hold their values inline and are seen once, and keeping those would cost a copy
//! each and push the repeated ones out.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_graphql::ServerError;
use async_graphql::parser::types::ExecutableDocument;

/// How many documents are kept; the cache starts over when it is full.
const CAPACITY: usize = 512;
/// Longer query texts are parsed every time (a cache of them would hold too much memory).
const MAX_QUERY_LEN: usize = 32 * 1024;

/// How many texts seen once are remembered (by hash); the set starts over when it is full.
const SEEN_CAPACITY: usize = 8192;

/// Parsed documents by query text.
#[derive(Default)]
pub struct QueryCache {
    documents: Mutex<HashMap<String, ExecutableDocument>>,
    /// Hashes of texts seen once.
    seen: Mutex<HashSet<u64>>,
    hasher: RandomState,
    /// Requests answered by compiled plans.
    planned: AtomicU64,
    /// Whether debug builds skip answering planned queries through the executor as well (for
    /// tests that count the work of one path).
    unchecked: AtomicBool,
}

impl std::fmt::Debug for QueryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.documents.lock().map(|d| d.len()).unwrap_or(0);
        f.debug_struct("QueryCache")
            .field("documents", &count)
            .finish()
    }
}

impl QueryCache {
    /// The document `text` (the lexer's rewriting of the request's text) parses to, from the
    /// cache when the same text was parsed before, else from async-graphql's parser.
    ///
    /// Errors: what the parser reports. The caller has refused documents nested too deep for
    /// the parser (see [`super::lex::MAX_NESTING`]).
    pub(crate) fn parse(&self, text: &str) -> Result<ExecutableDocument, ServerError> {
        let cacheable = text.len() <= MAX_QUERY_LEN;
        if cacheable
            && let Some(document) = self
                .documents
                .lock()
                .ok()
                .and_then(|documents| documents.get(text).cloned())
        {
            return Ok(document);
        }
        let seen_before = cacheable && {
            let hash = self.hasher.hash_one(text);
            self.seen.lock().is_ok_and(|mut seen| {
                if seen.len() >= SEEN_CAPACITY {
                    seen.clear();
                }
                !seen.insert(hash)
            })
        };
        let document = async_graphql::parser::parse_query(text).map_err(ServerError::from)?;
        if seen_before && let Ok(mut documents) = self.documents.lock() {
            if documents.len() >= CAPACITY {
                documents.clear();
            }
            documents.insert(text.to_string(), document.clone());
        }
        Ok(document)
    }

    /// How many requests compiled plans answered (the others went through async-graphql's
    /// executor).
    pub fn planned_answers(&self) -> u64 {
        self.planned.load(Ordering::Relaxed)
    }

    /// Whether debug builds answer each planned query through the executor too and compare
    /// (the default); release builds never do.
    pub fn set_plan_checks(&self, on: bool) {
        self.unchecked.store(!on, Ordering::Relaxed);
    }

    /// Whether planned queries are checked against the executor (debug builds only).
    pub(crate) fn plan_checks(&self) -> bool {
        cfg!(debug_assertions) && !self.unchecked.load(Ordering::Relaxed)
    }

    /// Counts a request answered by a compiled plan.
    pub(crate) fn note_planned_answer(&self) {
        self.planned.fetch_add(1, Ordering::Relaxed);
    }

    /// Number of documents held.
    pub fn len(&self) -> usize {
        self.documents.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Whether no document is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_bad_text_is_reported() {
        let cache = QueryCache::default();
        let query = "query ($n: String!) { BenchDevice(name__value: $n) { count } }";
        let first = cache.parse(query).map(|d| format!("{d:?}"));
        assert_eq!(cache.len(), 0, "kept from the second time only");
        let second = cache.parse(query).map(|d| format!("{d:?}"));
        assert_eq!(cache.len(), 1);
        let third = cache.parse(query).map(|d| format!("{d:?}"));
        assert_eq!(cache.len(), 1);
        assert!(first.is_ok());
        assert_eq!(first.ok(), third.ok());
        assert!(second.is_ok());

        let broken = cache.parse("{ BenchDevice { ");
        assert!(broken.is_err());
        assert_eq!(cache.len(), 1);

        for index in 0..CAPACITY + 1 {
            for _ in 0..2 {
                assert!(cache.parse(&format!("{{ a{index} }}")).is_ok());
            }
        }
        assert!(cache.len() <= CAPACITY);
    }
}
