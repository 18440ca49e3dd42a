//! Value kinds of configuration keys: type checks of file values and parsing of environment
//! variables into TOML values.

use toml::Value;
use toml::de::DeValue;

use super::error::ConfigErrorKind;

/// The type of a configuration key, as far as the file and the environment are concerned.
///
/// Range rules that the Rust field type cannot express (`>= 1`, `<= 20`, patterns) are checked
/// afterwards by `Settings::validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `true`/`false`; the environment also takes `1/0`, `yes/no`, `on/off`, `t/f`, `y/n`.
    Bool,
    /// A non-negative integer no larger than `max`.
    UInt { max: u64 },
    /// A finite number (an integer is accepted).
    Float,
    /// A string (also paths).
    Str,
    /// A string that must never be printed.
    Secret,
    /// One of the given names.
    Enum(&'static [&'static str]),
    /// A list of strings; the environment takes a JSON array or a comma-separated list.
    List,
    /// A list of names among the given ones.
    EnumList(&'static [&'static str]),
}

/// Largest integer TOML can hold, the bound of `u64` fields.
const TOML_MAX: u64 = i64::MAX as u64;

impl Kind {
    /// A port: 0-65535.
    pub(crate) const U16: Kind = Kind::UInt {
        max: u16::MAX as u64,
    };
    /// A small integer: 0-255.
    pub(crate) const U8: Kind = Kind::UInt {
        max: u8::MAX as u64,
    };
    /// Any non-negative integer.
    pub(crate) const U64: Kind = Kind::UInt { max: TOML_MAX };

    /// Returns true for keys whose values must never be printed.
    pub(crate) fn is_secret(self) -> bool {
        self == Kind::Secret
    }

    /// Describes the values a file may hold for this kind, after "expected".
    pub(crate) fn expectation(self) -> String {
        match self {
            Kind::Bool => "a boolean (true or false)".to_owned(),
            Kind::UInt { max } if max >= TOML_MAX => "a non-negative integer".to_owned(),
            Kind::UInt { max } => format!("an integer 0-{max}"),
            Kind::Float => "a number".to_owned(),
            Kind::Str | Kind::Secret => "a string".to_owned(),
            Kind::Enum(names) => format!("one of: {}", names.join(", ")),
            Kind::List => "an array of strings".to_owned(),
            Kind::EnumList(names) => format!("an array of: {}", names.join(", ")),
        }
    }

    /// Describes the values an environment variable may hold for this kind, after "expected".
    pub(crate) fn env_expectation(self) -> String {
        match self {
            Kind::Bool => "a boolean (true/false, 1/0, yes/no, on/off)".to_owned(),
            Kind::List => "a JSON array of strings or a comma-separated list".to_owned(),
            Kind::EnumList(names) => format!(
                "a JSON array or a comma-separated list of: {}",
                names.join(", ")
            ),
            other => other.expectation(),
        }
    }

    /// Checks a value read from the file and returns it in the form the field deserializes.
    pub(crate) fn accept(self, value: Value) -> Result<Value, ConfigErrorKind> {
        let wrong_type = Err(ConfigErrorKind::InvalidType);
        match (self, value) {
            (Kind::Bool, value @ Value::Boolean(_)) => Ok(value),
            (Kind::UInt { max }, Value::Integer(number)) => match u64::try_from(number) {
                Ok(unsigned) if unsigned <= max => Ok(Value::Integer(number)),
                _ => Err(ConfigErrorKind::InvalidValue),
            },
            // Converting to f64 is exact for every integer anyone writes as a delay.
            (Kind::Float, Value::Integer(number)) => Ok(Value::Float(number as f64)),
            (Kind::Float, Value::Float(number)) if number.is_finite() => Ok(Value::Float(number)),
            (Kind::Float, Value::Float(_)) => Err(ConfigErrorKind::InvalidValue),
            (Kind::Str | Kind::Secret, value @ Value::String(_)) => Ok(value),
            (Kind::Enum(names), Value::String(name)) if names.contains(&name.as_str()) => {
                Ok(Value::String(name))
            }
            (Kind::Enum(_), Value::String(_)) => Err(ConfigErrorKind::InvalidValue),
            (Kind::List, Value::Array(items)) if items.iter().all(Value::is_str) => {
                Ok(Value::Array(items))
            }
            (Kind::EnumList(names), Value::Array(items)) => {
                for item in &items {
                    match item.as_str() {
                        Some(name) if names.contains(&name) => {}
                        Some(_) => return Err(ConfigErrorKind::InvalidValue),
                        None => return wrong_type,
                    }
                }
                Ok(Value::Array(items))
            }
            _ => wrong_type,
        }
    }

    /// Parses the value of an environment variable into the value the field deserializes.
    pub(crate) fn parse_env(self, raw: &str) -> Result<Value, ConfigErrorKind> {
        let invalid = ConfigErrorKind::InvalidType;
        let value = match self {
            Kind::Bool => Value::Boolean(parse_bool(raw).ok_or(invalid)?),
            Kind::UInt { .. } => {
                let number: u64 = raw.trim().parse().map_err(|_| invalid)?;
                Value::Integer(i64::try_from(number).map_err(|_| invalid)?)
            }
            Kind::Float => Value::Float(raw.trim().parse().map_err(|_| invalid)?),
            Kind::Str | Kind::Secret | Kind::Enum(_) => Value::String(raw.to_owned()),
            Kind::List | Kind::EnumList(_) => {
                let items = parse_list(raw).ok_or(invalid)?;
                Value::Array(items.into_iter().map(Value::String).collect())
            }
        };
        self.accept(value)
    }
}

/// Parses a boolean the way upstream's settings library does (case-insensitive).
fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
        "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// Parses a JSON array of strings (upstream's format) or a comma-separated list.
fn parse_list(raw: &str) -> Option<Vec<String>> {
    let trimmed = raw.trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str(trimmed).ok();
    }
    Some(
        trimmed
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// Converts a parsed file value into a plain TOML value.
///
/// # Errors
///
/// The description of the value ("an integer too large") when it cannot be represented.
pub(crate) fn from_de(value: &DeValue<'_>) -> Result<Value, String> {
    Ok(match value {
        DeValue::String(text) => Value::String(text.to_string()),
        DeValue::Integer(number) => i64::from_str_radix(number.as_str(), number.radix())
            .map(Value::Integer)
            .map_err(|_| format!("{number}, which is too large"))?,
        DeValue::Float(number) => Value::Float(
            number
                .as_str()
                .parse()
                .map_err(|_| format!("{number}, which is not a valid number"))?,
        ),
        DeValue::Boolean(flag) => Value::Boolean(*flag),
        DeValue::Datetime(datetime) => Value::Datetime(*datetime),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| from_de(item.get_ref()))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(table) => {
            let mut out = toml::Table::new();
            for (key, item) in table {
                out.insert(key.get_ref().to_string(), from_de(item.get_ref())?);
            }
            Value::Table(out)
        }
    })
}

/// Describes a value after "found", hiding the content of secrets.
pub(crate) fn describe(value: &Value, secret: bool) -> String {
    match value {
        Value::String(_) if secret => "a string".to_owned(),
        Value::String(text) => format!("\"{}\"", shorten(text)),
        Value::Integer(number) => number.to_string(),
        Value::Float(number) => number.to_string(),
        Value::Boolean(flag) => flag.to_string(),
        Value::Datetime(datetime) => format!("the date-time {datetime}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

/// Cuts long values so that error messages stay readable.
pub(crate) fn shorten(text: &str) -> String {
    const LIMIT: usize = 60;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_upstream_spellings() {
        for raw in ["true", "True", "1", "yes", "on", "t", "Y", " true "] {
            assert_eq!(Kind::Bool.parse_env(raw), Ok(Value::Boolean(true)), "{raw}");
        }
        for raw in ["false", "FALSE", "0", "no", "off", "f", "n"] {
            assert_eq!(
                Kind::Bool.parse_env(raw),
                Ok(Value::Boolean(false)),
                "{raw}"
            );
        }
        for raw in ["", "maybe", "2", "enabled"] {
            assert_eq!(
                Kind::Bool.parse_env(raw),
                Err(ConfigErrorKind::InvalidType),
                "{raw}"
            );
        }
    }

    #[test]
    fn integers_respect_the_field_width() {
        assert_eq!(Kind::U16.parse_env("7687"), Ok(Value::Integer(7687)));
        assert_eq!(Kind::U16.parse_env(" 80 "), Ok(Value::Integer(80)));
        assert_eq!(
            Kind::U16.parse_env("abc"),
            Err(ConfigErrorKind::InvalidType)
        );
        assert_eq!(Kind::U16.parse_env("-1"), Err(ConfigErrorKind::InvalidType));
        assert_eq!(
            Kind::U16.parse_env("65536"),
            Err(ConfigErrorKind::InvalidValue)
        );
        assert_eq!(
            Kind::U8.accept(Value::Integer(256)),
            Err(ConfigErrorKind::InvalidValue)
        );
        assert_eq!(
            Kind::U64.accept(Value::Integer(-3)),
            Err(ConfigErrorKind::InvalidValue)
        );
        assert_eq!(
            Kind::U64.accept(Value::String("3".to_owned())),
            Err(ConfigErrorKind::InvalidType)
        );
        assert_eq!(Kind::U16.expectation(), "an integer 0-65535");
        assert_eq!(Kind::U64.expectation(), "a non-negative integer");
    }

    #[test]
    fn floats_accept_integers_and_reject_infinity() {
        assert_eq!(Kind::Float.accept(Value::Integer(2)), Ok(Value::Float(2.0)));
        assert_eq!(Kind::Float.parse_env("0.5"), Ok(Value::Float(0.5)));
        assert_eq!(
            Kind::Float.parse_env("inf"),
            Err(ConfigErrorKind::InvalidValue)
        );
        assert_eq!(
            Kind::Float.parse_env("fast"),
            Err(ConfigErrorKind::InvalidType)
        );
    }

    #[test]
    fn lists_take_json_or_commas() {
        let expected = Value::Array(vec![
            Value::String("a.com".to_owned()),
            Value::String("b.com".to_owned()),
        ]);
        assert_eq!(
            Kind::List.parse_env(r#"["a.com", "b.com"]"#),
            Ok(expected.clone())
        );
        assert_eq!(Kind::List.parse_env("a.com, b.com"), Ok(expected));
        assert_eq!(Kind::List.parse_env(""), Ok(Value::Array(Vec::new())));
        assert_eq!(
            Kind::List.parse_env("[1, 2]"),
            Err(ConfigErrorKind::InvalidType)
        );
        assert_eq!(
            Kind::List.parse_env("[\"a\""),
            Err(ConfigErrorKind::InvalidType)
        );
    }

    #[test]
    fn enums_check_names() {
        let kind = Kind::Enum(&["local", "s3"]);
        assert_eq!(kind.parse_env("s3"), Ok(Value::String("s3".to_owned())));
        assert_eq!(kind.parse_env("S3"), Err(ConfigErrorKind::InvalidValue));
        assert_eq!(kind.expectation(), "one of: local, s3");
        let list = Kind::EnumList(&["google", "provider1"]);
        assert!(list.parse_env("google,provider1").is_ok());
        assert_eq!(list.parse_env("github"), Err(ConfigErrorKind::InvalidValue));
    }

    #[test]
    fn descriptions_hide_secrets_and_shorten() {
        let value = Value::String("hunter2".to_owned());
        assert_eq!(describe(&value, true), "a string");
        assert_eq!(describe(&value, false), "\"hunter2\"");
        let long = Value::String("x".repeat(100));
        assert!(describe(&long, false).ends_with("...\""));
        assert_eq!(describe(&Value::Integer(70000), false), "70000");
    }
}
