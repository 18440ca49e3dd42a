//! Timestamps: microseconds since the Unix epoch, UTC, printed as upstream does
//! (`2024-01-01T10:00:00.000000Z`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A text that is not a timestamp [`Timestamp::parse`] accepts; the message names the text and
/// what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimestampError(String);

/// An instant with microsecond precision. Every versioned record carries the timestamp of the
/// changeset that wrote it; reads can be made "as of" any timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest representable instant.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable instant.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// From microseconds since the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The current time of the system clock.
    pub fn now() -> Self {
        let micros = jiff::Timestamp::now().as_microsecond();
        Timestamp(micros)
    }

    /// This instant plus `micros` microseconds (saturating).
    pub const fn plus_micros(self, micros: i64) -> Self {
        Timestamp(self.0.saturating_add(micros))
    }

    /// Parses an ISO-8601 timestamp (`2024-01-01T10:00:00Z`, with any offset or none for
    /// UTC, a bare date for midnight UTC), or a relative time before now as upstream accepts
    /// (`30s`, `5m`, `2h`, `1d`).
    ///
    /// # Errors
    ///
    /// [`TimestampError`], saying what was expected.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let text = text.trim();
        if let Some(relative) = parse_relative(text) {
            let micros = relative.ok_or_else(|| {
                TimestampError(format!("`{text}` is out of range: a relative time counts back from now, at most {MAX_RELATIVE_DAYS} days"))
            })?;
            return Ok(Timestamp::now().plus_micros(-micros));
        }
        let parsed = text
            .parse::<jiff::Timestamp>()
            .ok()
            .or_else(|| {
                text.parse::<jiff::civil::DateTime>()
                    .ok()
                    .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
                    .map(|z| z.timestamp())
            })
            .or_else(|| {
                text.parse::<jiff::civil::Date>()
                    .ok()
                    .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                    .map(|z| z.timestamp())
            })
            .ok_or_else(|| TimestampError(format!("`{text}` is not a timestamp (expected ISO-8601 like 2024-01-01T10:00:00Z, or 5m, 2h, 1d)")))?;
        Ok(Timestamp(parsed.as_microsecond()))
    }

    /// The big-endian, order-preserving byte form used in keys.
    #[cfg_attr(not(feature = "embedded"), allow(dead_code))]
    pub(crate) fn to_key(self) -> [u8; 8] {
        ((self.0 as u64) ^ (1 << 63)).to_be_bytes()
    }

    /// Reverses [`Timestamp::to_key`].
    #[cfg_attr(not(feature = "embedded"), allow(dead_code))]
    pub(crate) fn from_key(bytes: [u8; 8]) -> Self {
        Timestamp((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
    }
}

/// Longest relative time accepted: about 10,000 years back, jiff's range.
const MAX_RELATIVE_DAYS: i64 = 3_650_000;

/// A relative time (`30s`, `5m`, `2h`, `1d`) in microseconds: `None` when `text` is not one,
/// `Some(None)` when it is one out of range (negative, or further back than
/// [`MAX_RELATIVE_DAYS`]).
fn parse_relative(text: &str) -> Option<Option<i64>> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    let unit_seconds: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    if digits.is_empty()
        || !digits
            .trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let micros = digits
        .parse::<i64>()
        .ok()
        .filter(|number| *number >= 0)
        .and_then(|number| number.checked_mul(unit_seconds))
        .filter(|seconds| *seconds <= MAX_RELATIVE_DAYS * 86400)
        .map(|seconds| seconds * 1_000_000);
    Some(micros)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_microsecond(self.0) {
            Ok(ts) => write!(f, "{}", ts.strftime("%Y-%m-%dT%H:%M:%S.%6fZ")),
            Err(_) => write!(f, "@{}us", self.0),
        }
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_upstream_and_parses_back() {
        let ts = Timestamp::parse("2024-01-01T10:00:00Z").unwrap_or_default();
        assert_eq!(ts.to_string(), "2024-01-01T10:00:00.000000Z");
        assert_eq!(Timestamp::parse(&ts.to_string()), Ok(ts));
        let with_offset = Timestamp::parse("2024-01-01T12:00:00+02:00").unwrap_or_default();
        assert_eq!(with_offset, ts);
        assert_eq!(Timestamp::parse("2024-01-01T10:00:00"), Ok(ts));
    }

    #[test]
    fn relative_times_are_in_the_past() {
        let now = Timestamp::now();
        let five_minutes = Timestamp::parse("5m").unwrap_or_default();
        assert!(five_minutes < now);
        assert!(now.as_micros() - five_minutes.as_micros() >= 299_000_000);
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn relative_times_out_of_range_are_refused() {
        for text in [
            "9223372036854775807s",
            "99999999999999999999d",
            "-5s",
            "4000000d",
        ] {
            let error = Timestamp::parse(text).unwrap_err();
            assert!(
                error.to_string().contains("out of range"),
                "{text}: {error}"
            );
        }
        assert!(Timestamp::parse("3650000d").is_ok());
        assert!(Timestamp::parse("99999-01-01T00:00:00Z").is_err());
    }

    #[test]
    fn key_bytes_sort_like_timestamps() {
        let a = Timestamp::from_micros(-5);
        let b = Timestamp::from_micros(3);
        assert!(a.to_key() < b.to_key());
        assert_eq!(Timestamp::from_key(b.to_key()), b);
    }
}
