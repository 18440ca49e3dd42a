//! Differences between two schemas, at model, attribute, relationship and property level, in
//! the shape `/api/schema/load` and `/api/schema/check` return.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::branch::SchemaBranch;
use super::model::{ModelCategory, ModelSchema};

/// What changed in one element: names of added, changed and removed sub-elements, each with
/// its own nested difference where it has sub-elements.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ElementDiff {
    /// Sub-elements only in the new version.
    pub added: BTreeMap<String, Option<ElementDiff>>,
    /// Sub-elements in both versions with different content.
    pub changed: BTreeMap<String, Option<ElementDiff>>,
    /// Sub-elements only in the old version.
    pub removed: BTreeMap<String, Option<ElementDiff>>,
}

impl ElementDiff {
    /// Whether anything differs.
    pub fn has_diff(&self) -> bool {
        !(self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty())
    }
}

/// Differences between two schemas, by node or generic kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SchemaDiff {
    /// Kinds only in the new schema.
    pub added: BTreeMap<String, ElementDiff>,
    /// Kinds in both schemas whose definition differs.
    pub changed: BTreeMap<String, ElementDiff>,
    /// Kinds only in the old schema.
    pub removed: BTreeMap<String, ElementDiff>,
}

impl SchemaDiff {
    /// Whether the two schemas differ.
    pub fn has_diff(&self) -> bool {
        !(self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty())
    }
}

impl SchemaBranch {
    /// What changes from this schema to `new` (nodes and generics only; generated profiles
    /// and templates follow them).
    pub fn diff(&self, new: &SchemaBranch) -> SchemaDiff {
        let relevant =
            |m: &&ModelSchema| matches!(m.category, ModelCategory::Node | ModelCategory::Generic);
        let mut diff = SchemaDiff::default();
        for old_model in self.models().filter(relevant) {
            let kind = old_model.kind();
            match new.get(&kind) {
                None => {
                    diff.removed.insert(kind, ElementDiff::default());
                }
                Some(new_model) => {
                    let model_diff = diff_models(old_model, new_model);
                    if model_diff.has_diff() {
                        diff.changed.insert(kind, model_diff);
                    }
                }
            }
        }
        for new_model in new.models().filter(relevant) {
            if !self.has(&new_model.kind()) {
                diff.added.insert(new_model.kind(), ElementDiff::default());
            }
        }
        diff
    }
}

fn without_id(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "id")
                .map(|(k, v)| (k.clone(), without_id(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_id).collect()),
        other => other.clone(),
    }
}

/// Field-by-field difference of two JSON objects; nested objects get nested differences.
fn diff_objects(old: &Value, new: &Value) -> ElementDiff {
    let mut diff = ElementDiff::default();
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return diff;
    };
    for (key, old_value) in old {
        if key == "id" {
            continue;
        }
        match new.get(key) {
            None => {
                diff.removed.insert(key.clone(), None);
            }
            Some(new_value) if without_id(new_value) != without_id(old_value) => {
                let nested = if old_value.is_object() && new_value.is_object() {
                    Some(diff_objects(old_value, new_value))
                } else {
                    None
                };
                diff.changed.insert(key.clone(), nested);
            }
            Some(_) => {}
        }
    }
    for key in new.keys() {
        if key != "id" && !old.contains_key(key) {
            diff.added.insert(key.clone(), None);
        }
    }
    diff
}

fn diff_named(old: &[Value], new: &[Value]) -> ElementDiff {
    let name = |v: &Value| {
        v.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut diff = ElementDiff::default();
    for old_item in old {
        let key = name(old_item);
        match new.iter().find(|n| name(n) == key) {
            None => {
                diff.removed.insert(key, None);
            }
            Some(new_item) => {
                let item_diff = diff_objects(old_item, new_item);
                if item_diff.has_diff() {
                    diff.changed.insert(key, Some(item_diff));
                }
            }
        }
    }
    for new_item in new {
        let key = name(new_item);
        if !old.iter().any(|o| name(o) == key) {
            diff.added.insert(key, None);
        }
    }
    diff
}

/// The difference between two versions of one model.
pub fn diff_models(old: &ModelSchema, new: &ModelSchema) -> ElementDiff {
    let mut old_value = serde_json::to_value(old).unwrap_or(Value::Null);
    let mut new_value = serde_json::to_value(new).unwrap_or(Value::Null);
    let take = |v: &mut Value, key: &str| -> Vec<Value> {
        match v.as_object_mut().and_then(|m| m.shift_remove(key)) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        }
    };
    // `used_by` follows the nodes that inherit a generic: as upstream, it is not a change of
    // the generic itself.
    take(&mut old_value, "used_by");
    take(&mut new_value, "used_by");
    let old_attributes = take(&mut old_value, "attributes");
    let new_attributes = take(&mut new_value, "attributes");
    let old_relationships = take(&mut old_value, "relationships");
    let new_relationships = take(&mut new_value, "relationships");
    let mut diff = diff_objects(&old_value, &new_value);
    for (key, nested) in [
        ("attributes", diff_named(&old_attributes, &new_attributes)),
        (
            "relationships",
            diff_named(&old_relationships, &new_relationships),
        ),
    ] {
        if nested.has_diff() {
            diff.changed.insert(key.to_string(), Some(nested));
        }
    }
    diff
}
