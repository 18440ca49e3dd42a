//! JSON parameters to Bolt values (rows come back through `connection::row_to_json`).

use neo4rs::BoltType;
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unsigned_beyond_i64_is_refused() {
        let err = to_bolt("big", json!(u64::MAX)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("`big`"), "{err}");
    }
}
