//! Schema hashes: one per model and one for the whole schema, used to tell whether two
//! schemas are the same (idempotent loads, convergence of workers, GraphQL schema caching).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde::Serialize;
use serde_json::Value;

use super::branch::SchemaBranch;
use super::model::{ModelCategory, ModelSchema};

/// The hashes of a schema: `main` for everything, and one per node and generic, as
/// `GET /api/schema/summary` returns them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SchemaHash {
    /// Hash of the whole schema.
    pub main: String,
    /// Hash of each node, by kind.
    pub nodes: BTreeMap<String, String>,
    /// Hash of each generic, by kind.
    pub generics: BTreeMap<String, String>,
}

/// The hash of one model: MD5 of its canonical JSON form without storage identifiers.
pub fn model_hash(model: &ModelSchema) -> String {
    let mut value = serde_json::to_value(model).unwrap_or(Value::Null);
    strip_ids(&mut value);
    let mut hasher = Md5::new();
    hasher.update(format!("{:?}", model.category).as_bytes());
    hasher.update(value.to_string().as_bytes());
    hex(&hasher.finalize())
}

fn strip_ids(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.shift_remove("id");
            map.values_mut().for_each(strip_ids);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_ids),
        _ => {}
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SchemaBranch {
    /// The hashes of this schema.
    pub fn hash_full(&self) -> SchemaHash {
        let mut nodes = BTreeMap::new();
        let mut generics = BTreeMap::new();
        for model in self.models() {
            match model.category {
                ModelCategory::Node => {
                    nodes.insert(model.kind(), model_hash(model));
                }
                ModelCategory::Generic => {
                    generics.insert(model.kind(), model_hash(model));
                }
                ModelCategory::Profile | ModelCategory::Template => {}
            }
        }
        let mut all: Vec<(&String, &String)> = nodes.iter().chain(generics.iter()).collect();
        all.sort();
        let mut hasher = Md5::new();
        for (kind, hash) in all {
            hasher.update(kind.as_bytes());
            hasher.update(hash.as_bytes());
        }
        SchemaHash {
            main: hex(&hasher.finalize()),
            nodes,
            generics,
        }
    }

    /// The hash of the whole schema.
    pub fn hash(&self) -> String {
        self.hash_full().main
    }
}
