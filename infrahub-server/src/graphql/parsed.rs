//! Parsed GraphQL documents by query text: clients send the same few queries over and over
//! (the SDK's paging and clients using variables), and parsing a document costs more than
//! copying a parsed one. A text is kept from the second time it is seen: most documents the
//! SDK writes hold their values inline and are seen once, and keeping those would cost a copy
//! each and push the repeated ones out.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Requests answered by the direct executor of plain node queries.
    direct: AtomicU64,
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
    /// Gives `request` its parsed document: from the cache when the same text was parsed
    /// before, else from this crate's parser (module `parse`), else from async-graphql's
    /// (which reports what does not parse; the request is then left to report it).
    ///
    /// Errors: a document this crate's parser leaves to async-graphql's that nests brackets
    /// more than `parse::MAX_NESTING` (256) levels deep (async-graphql's parser would
    /// recurse until the thread's stack overflows).
    pub fn prepare(&self, request: &mut async_graphql::Request) -> Result<(), ServerError> {
        let cacheable = request.query.len() <= MAX_QUERY_LEN;
        if cacheable
            && let Some(document) = self
                .documents
                .lock()
                .ok()
                .and_then(|documents| documents.get(&request.query).cloned())
        {
            request.set_parsed_query(document);
            return Ok(());
        }
        let seen_before = cacheable && {
            let hash = self.hasher.hash_one(request.query.as_str());
            self.seen.lock().is_ok_and(|mut seen| {
                if seen.len() >= SEEN_CAPACITY {
                    seen.clear();
                }
                !seen.insert(hash)
            })
        };
        let document = match super::parse::parse(&request.query) {
            Some(document) => {
                #[cfg(debug_assertions)]
                same_as_async_graphql(&request.query, &document);
                let kept = seen_before.then(|| document.clone());
                request.set_parsed_query(document);
                kept
            }
            None if super::parse::too_deep(&request.query) => {
                return Err(ServerError::new(
                    format!(
                        "the document nests brackets more than {} levels deep",
                        super::parse::MAX_NESTING
                    ),
                    None,
                ));
            }
            None => match request.parsed_query() {
                Ok(document) if seen_before => Some(document.clone()),
                _ => None,
            },
        };
        if let Some(document) = document
            && let Ok(mut documents) = self.documents.lock()
        {
            if documents.len() >= CAPACITY {
                documents.clear();
            }
            documents.insert(request.query.clone(), document);
        }
        Ok(())
    }

    /// How many requests the direct executor of plain node queries answered (the others went
    /// through the general GraphQL executor).
    pub fn direct_answers(&self) -> u64 {
        self.direct.load(Ordering::Relaxed)
    }

    /// Counts a request answered by the direct executor.
    pub(crate) fn note_direct_answer(&self) {
        self.direct.fetch_add(1, Ordering::Relaxed);
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

/// In debug builds (the tests, the SDK suite), checks every document this crate's parser reads
/// against async-graphql's reading of it.
#[cfg(debug_assertions)]
fn same_as_async_graphql(query: &str, document: &ExecutableDocument) {
    use super::parse::canonical;
    match async_graphql::parser::parse_query(query) {
        Ok(theirs) => assert_eq!(
            canonical(document),
            canonical(&theirs),
            "documents read differently: {query:?}"
        ),
        // The one deliberate difference: escaped surrogate pairs.
        Err(error) => assert!(
            query.contains("\\ud") || query.contains("\\uD"),
            "read a document async-graphql refuses ({error}): {query:?}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(cache: &QueryCache, request: &mut async_graphql::Request) {
        cache
            .prepare(request)
            .unwrap_or_else(|e| panic!("{}", e.message));
    }

    #[test]
    fn a_query_is_parsed_once_and_bad_text_is_left_for_the_request() {
        let cache = QueryCache::default();
        let query = "query ($n: String!) { BenchDevice(name__value: $n) { count } }";
        let mut first = async_graphql::Request::new(query);
        prepared(&cache, &mut first);
        assert_eq!(cache.len(), 0, "kept from the second time only");
        let mut second = async_graphql::Request::new(query);
        prepared(&cache, &mut second);
        assert_eq!(cache.len(), 1);
        let mut third = async_graphql::Request::new(query);
        prepared(&cache, &mut third);
        assert_eq!(cache.len(), 1);
        let parsed = |request: &mut async_graphql::Request| {
            format!(
                "{:?}",
                request.parsed_query().map(|d| d.operations.iter().count())
            )
        };
        assert_eq!(parsed(&mut first), parsed(&mut third));

        let mut broken = async_graphql::Request::new("{ BenchDevice { ");
        prepared(&cache, &mut broken);
        assert_eq!(cache.len(), 1);
        assert!(broken.parsed_query().is_err());

        for index in 0..CAPACITY + 1 {
            for _ in 0..2 {
                prepared(
                    &cache,
                    &mut async_graphql::Request::new(format!("{{ a{index} }}")),
                );
            }
        }
        assert!(cache.len() <= CAPACITY);
    }
}
