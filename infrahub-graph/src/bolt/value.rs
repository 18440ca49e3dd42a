//! JSON parameters to Bolt values, and Bolt values in result rows back to JSON.

use neo4rs::{BoltMap, BoltType};
use serde_json::{Map, Number, Value};

use crate::error::{Error, ErrorKind, Result};

/// Converts a JSON parameter to a Bolt value: integers that fit `i64` stay integers, other
/// numbers become floats; `u64` values above `i64::MAX` are refused (Bolt has no unsigned type).
pub(crate) fn to_bolt(name: &str, value: Value) -> Result<BoltType> {
    if let Value::Number(number) = &value
        && number.is_u64()
        && number.as_i64().is_none()
    {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("parameter `{name}`: {number} does not fit a 64-bit signed integer"),
        ));
    }
    BoltType::try_from(value).map_err(|err| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("parameter `{name}` cannot be sent over bolt: {err}"),
        )
    })
}

/// Converts a Bolt value of a result row to JSON.
///
/// Nodes and relationships become the JSON object of their properties (database ids are never
/// exposed: they differ between servers); paths become `{"nodes": [...], "relationships":
/// [...]}`; bytes a list of numbers. Temporal and spatial values are refused: queries return
/// them as strings (`toString(...)`) or numbers.
pub(crate) fn to_json(column: &str, value: BoltType) -> Result<Value> {
    Ok(match value {
        BoltType::Null(_) => Value::Null,
        BoltType::Boolean(value) => Value::Bool(value.value),
        BoltType::Integer(value) => Value::from(value.value),
        BoltType::Float(value) => Number::from_f64(value.value)
            .map(Value::Number)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Storage,
                    format!("column `{column}`: {} has no JSON form", value.value),
                )
            })?,
        BoltType::String(value) => Value::String(value.value),
        BoltType::List(list) => Value::Array(
            list.value
                .into_iter()
                .map(|item| to_json(column, item))
                .collect::<Result<_>>()?,
        ),
        BoltType::Map(map) => Value::Object(map_to_json(column, map)?),
        BoltType::Node(node) => Value::Object(map_to_json(column, node.properties)?),
        BoltType::Relation(relation) => Value::Object(map_to_json(column, relation.properties)?),
        BoltType::UnboundedRelation(relation) => {
            Value::Object(map_to_json(column, relation.properties)?)
        }
        BoltType::Path(path) => {
            let mut object = Map::new();
            object.insert(
                "nodes".to_owned(),
                to_json(column, BoltType::List(path.nodes))?,
            );
            object.insert(
                "relationships".to_owned(),
                to_json(column, BoltType::List(path.rels))?,
            );
            Value::Object(object)
        }
        BoltType::Bytes(bytes) => {
            Value::Array(bytes.value.iter().map(|b| Value::from(*b)).collect())
        }
        other => {
            return Err(Error::new(
                ErrorKind::Storage,
                format!(
                    "column `{column}` holds a {} value, which has no JSON form: return it with toString()",
                    type_name(&other)
                ),
            ));
        }
    })
}

/// Converts a Bolt map to a JSON object.
pub(crate) fn map_to_json(column: &str, map: BoltMap) -> Result<Map<String, Value>> {
    map.value
        .into_iter()
        .map(|(key, value)| Ok((key.value, to_json(column, value)?)))
        .collect()
}

fn type_name(value: &BoltType) -> &'static str {
    match value {
        BoltType::Point2D(_) | BoltType::Point3D(_) => "point",
        BoltType::Duration(_) => "duration",
        BoltType::Date(_) => "date",
        BoltType::Time(_) | BoltType::LocalTime(_) => "time",
        _ => "datetime",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_bolt() {
        let value = json!({
            "null": null, "bool": true, "int": i64::MAX, "min": i64::MIN, "float": 1.5,
            "text": "grüße 🚀", "list": [1, "two", [3.0], {"four": 4}], "map": {"nested": {"deep": []}},
        });
        let bolt = to_bolt("p", value.clone()).unwrap();
        assert_eq!(to_json("c", bolt).unwrap(), value);
    }

    #[test]
    fn unsigned_beyond_i64_is_refused() {
        let err = to_bolt("big", json!(u64::MAX)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("`big`"), "{err}");
    }
}
