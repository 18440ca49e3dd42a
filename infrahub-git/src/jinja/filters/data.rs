//! Jinja2's value filters that minijinja writes differently (`attr`, `float`, `int`, `join`,
//! `pprint`, `random`, `string`, `tojson`) and Infrahub's `from_json` and `from_yaml`.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};

use minijinja::value::{Serde, Value, ValueKind};
use minijinja::{Environment, Error, State};

use super::args::{Args, bind, charge, usize_arg};
use crate::jinja::error::filter_error;
use crate::jinja::python::{float_repr, py_repr, py_str, write_str_repr};

/// The filters this module registers.
pub(crate) const NAMES: &[&str] = &[
    "attr",
    "float",
    "from_json",
    "from_yaml",
    "int",
    "join",
    "pprint",
    "random",
    "string",
    "tojson",
];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("attr", attr);
    env.add_filter("float", float);
    env.add_filter("from_json", from_json);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("int", int);
    env.add_filter("join", join);
    env.add_filter("pprint", pprint);
    env.add_filter("random", random);
    env.add_filter("string", string);
    env.add_filter("tojson", tojson);
}

/// Removes the underscores Python allows between digits (`1_000`), refusing misplaced ones.
fn strip_digit_underscores(text: &str) -> Option<String> {
    if !text.contains('_') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'_' {
            let before = index
                .checked_sub(1)
                .and_then(|at| bytes.get(at))
                .is_some_and(u8::is_ascii_alphanumeric);
            let after = bytes.get(index + 1).is_some_and(u8::is_ascii_alphanumeric);
            if !before || !after {
                return None;
            }
        }
    }
    Some(text.replace('_', ""))
}

/// Python's `float()` of a value, `None` where Python raises.
pub(crate) fn to_float(value: &Value) -> Option<f64> {
    match value.kind() {
        ValueKind::Bool => Some(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(value.clone()).ok(),
        ValueKind::String => {
            let text = strip_digit_underscores(value.as_str()?.trim())?;
            let lowered = text.to_ascii_lowercase();
            let unsigned = lowered.trim_start_matches(['+', '-']);
            if !matches!(unsigned, "inf" | "infinity" | "nan")
                && unsigned.contains(|ch: char| ch.is_ascii_alphabetic() && ch != 'e')
            {
                return None;
            }
            text.parse().ok()
        }
        _ => None,
    }
}

/// Python's `int(text, base)`.
fn parse_int(text: &str, base: u32) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lowered = digits.to_ascii_lowercase();
    let (base, digits) = match (base, lowered.get(..2)) {
        (16 | 0, Some("0x")) => (16, &lowered[2..]),
        (8 | 0, Some("0o")) => (8, &lowered[2..]),
        (2 | 0, Some("0b")) => (2, &lowered[2..]),
        (0, _) => (10, lowered.as_str()),
        (base, _) => (base, lowered.as_str()),
    };
    let digits = strip_digit_underscores(digits.trim_start_matches('_'))?;
    if digits.is_empty() || !(2..=36).contains(&base) {
        return None;
    }
    let magnitude = i128::from_str_radix(&digits, base).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

fn int(value: Value, args: Args) -> Result<Value, Error> {
    let slots = bind("int", &args, &["default", "base"])?;
    let default = slots[0].clone().unwrap_or_else(|| Value::from(0));
    let base = usize_arg("int", "base", slots[1].as_ref(), 10)?;
    let parsed = match value.kind() {
        ValueKind::String => u32::try_from(base)
            .ok()
            .and_then(|base| parse_int(value.as_str().unwrap_or_default(), base)),
        ValueKind::Number if value.is_integer() => return Ok(value),
        _ => None,
    };
    let parsed = parsed.or_else(|| {
        to_float(&value)
            .filter(|float| float.is_finite())
            .map(|float| float.trunc() as i128)
    });
    Ok(match parsed {
        Some(number) => match i64::try_from(number) {
            Ok(small) => Value::from(small),
            Err(_) => Value::from(number),
        },
        None => default,
    })
}

fn float(value: Value, args: Args) -> Result<Value, Error> {
    let slots = bind("float", &args, &["default"])?;
    Ok(match to_float(&value) {
        Some(number) => Value::from(number),
        None => slots[0].clone().unwrap_or_else(|| Value::from(0.0)),
    })
}

fn string(value: Value) -> Value {
    if value.kind() == ValueKind::String {
        return value;
    }
    Value::from(py_str(&value))
}

/// Looks up `path` (`a.b`, `items.0`) in a value as Jinja2's attribute getters do.
pub(crate) fn get_path(value: &Value, path: &Value) -> Value {
    if let Some(index) = path.as_i64() {
        return value.get_item(&Value::from(index)).unwrap_or_default();
    }
    let path = py_str(path);
    let mut current = value.clone();
    for part in path.split('.') {
        let key = match part.parse::<i64>() {
            Ok(index) => Value::from(index),
            Err(_) => Value::from(part),
        };
        current = current.get_item(&key).unwrap_or_default();
        if current.is_undefined() {
            break;
        }
    }
    current
}

fn join(state: &State<'_, '_>, value: Value, args: Args) -> Result<Value, Error> {
    let slots = bind("join", &args, &["d", "attribute"])?;
    let separator = slots[0].as_ref().map(py_str).unwrap_or_default();
    let items: Vec<Value> = if let Some(text) = value.as_str() {
        text.chars().map(Value::from).collect()
    } else {
        value.try_iter()?.collect()
    };
    let mut out = String::new();
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            charge(state, separator.len())?;
            out.push_str(&separator);
        }
        let item = match slots[1].as_ref().filter(|attribute| !attribute.is_none()) {
            Some(attribute) => get_path(item, attribute),
            None => item.clone(),
        };
        out.push_str(&py_str(&item));
    }
    Ok(Value::from(out))
}

fn attr(value: Value, name: Value) -> Value {
    if value.kind() == ValueKind::Plain
        && let Some(name) = name.as_str()
    {
        return value.get_attr(name).unwrap_or_default();
    }
    Value::UNDEFINED
}

fn random(value: Value) -> Result<Value, Error> {
    let items: Vec<Value> = if let Some(text) = value.as_str() {
        text.chars().map(Value::from).collect()
    } else {
        value.try_iter()?.collect()
    };
    if items.is_empty() {
        return Ok(Value::UNDEFINED);
    }
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(items.len());
    let index = (hasher.finish() % items.len() as u64) as usize;
    Ok(items[index].clone())
}

fn empty_mapping() -> Value {
    Value::from(Serde(serde_json::Map::new()))
}

fn from_json(value: Value) -> Result<Value, Error> {
    if !value.is_true() {
        return Ok(empty_mapping());
    }
    let Some(text) = value.as_str() else {
        return Err(filter_error(
            "from_json",
            format!(
                "invalid JSON: the value is a {}, not a string",
                value.kind()
            ),
        ));
    };
    let parsed: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| filter_error("from_json", format!("invalid JSON: {error}")))?;
    Ok(Value::from(Serde(parsed)))
}

fn from_yaml(value: Value) -> Result<Value, Error> {
    if !value.is_true() {
        return Ok(empty_mapping());
    }
    let Some(text) = value.as_str() else {
        return Err(filter_error(
            "from_yaml",
            format!(
                "invalid YAML: the value is a {}, not a string",
                value.kind()
            ),
        ));
    };
    let parsed: serde_norway::Value = serde_norway::from_str(text)
        .map_err(|error| filter_error("from_yaml", format!("invalid YAML: {error}")))?;
    if parsed.is_null() {
        return Ok(empty_mapping());
    }
    Ok(Value::from(Serde(parsed)))
}

/// Python's `json.dumps(value, sort_keys=True, indent=indent)` (ASCII only), as Jinja2's
/// `tojson` calls it.
fn write_json(
    out: &mut String,
    value: &Value,
    indent: Option<&str>,
    level: usize,
) -> Result<(), Error> {
    let newline = |out: &mut String, level: usize| {
        if let Some(indent) = indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(indent);
            }
        }
    };
    let item_separator = if indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if value.is_integer() {
                let _ = write!(out, "{value}");
            } else {
                let number = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                if number.is_nan() {
                    out.push_str("NaN");
                } else if number.is_infinite() {
                    out.push_str(if number > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    });
                } else {
                    out.push_str(&float_repr(number));
                }
            }
        }
        ValueKind::String => write_json_string(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(item_separator);
                }
                newline(out, level + 1);
                write_json(out, item, indent, level + 1)?;
            }
            newline(out, level);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<(String, Value)> =
                value.try_iter()?.map(|key| (py_str(&key), key)).collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            keys.sort_by(|left, right| left.0.cmp(&right.0));
            out.push('{');
            for (index, (name, key)) in keys.iter().enumerate() {
                if index > 0 {
                    out.push_str(item_separator);
                }
                newline(out, level + 1);
                write_json_string(out, name);
                out.push_str(": ");
                write_json(out, &value.get_item(key)?, indent, level + 1)?;
            }
            newline(out, level);
            out.push('}');
        }
        kind => {
            return Err(filter_error(
                "tojson",
                format!("object of type {kind} is not JSON serializable"),
            ));
        }
    }
    Ok(())
}

fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ch if ch.is_ascii() && !ch.is_ascii_control() => out.push(ch),
            ch => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

fn tojson(state: &State<'_, '_>, value: Value, args: Args) -> Result<Value, Error> {
    let slots = bind("tojson", &args, &["indent"])?;
    let indent = match slots[0].as_ref().filter(|indent| !indent.is_none()) {
        Some(indent) if indent.kind() == ValueKind::String => Some(py_str(indent)),
        Some(indent) => Some(" ".repeat(usize_arg("tojson", "indent", Some(indent), 0)?)),
        None => None,
    };
    if let Some(indent) = &indent {
        charge(state, indent.len().saturating_mul(64))?;
    }
    let mut out = String::new();
    write_json(&mut out, &value, indent.as_deref(), 0)?;
    let out = out
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    Ok(Value::from_safe_string(out))
}

const PPRINT_WIDTH: usize = 80;

/// Python's `repr()` with dictionaries sorted by key, as `pprint` writes them.
fn sorted_repr(value: &Value) -> String {
    match value.kind() {
        ValueKind::Map => {
            let entries = sorted_entries(value);
            let parts: Vec<String> = entries
                .iter()
                .map(|(key, item)| format!("{}: {}", py_repr(key), sorted_repr(item)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let parts: Vec<String> = value
                .try_iter()
                .map(|items| items.map(|item| sorted_repr(&item)).collect())
                .unwrap_or_default();
            format!("[{}]", parts.join(", "))
        }
        _ => py_repr(value),
    }
}

fn sorted_entries(value: &Value) -> Vec<(Value, Value)> {
    let mut entries: Vec<(Value, Value)> = value
        .try_iter()
        .map(|keys| {
            keys.map(|key| {
                let item = value.get_item(&key).unwrap_or_default();
                (key, item)
            })
            .collect()
        })
        .unwrap_or_default();
    entries.sort_by(|left, right| left.0.cmp(&right.0));
    entries
}

/// Python's `pprint.pformat` (width 80, dictionaries sorted).
fn pformat(out: &mut String, value: &Value, indent: usize, allowance: usize, level: usize) {
    let rep = sorted_repr(value);
    let max_width = PPRINT_WIDTH.saturating_sub(indent + allowance);
    if rep.chars().count() <= max_width {
        out.push_str(&rep);
        return;
    }
    match value.kind() {
        ValueKind::Map => {
            out.push('{');
            let entries = sorted_entries(value);
            let inner = indent + 1;
            let last_index = entries.len().saturating_sub(1);
            for (index, (key, item)) in entries.iter().enumerate() {
                let key_rep = py_repr(key);
                out.push_str(&key_rep);
                out.push_str(": ");
                let last = index == last_index;
                pformat(
                    out,
                    item,
                    inner + key_rep.chars().count() + 2,
                    if last { allowance + 1 } else { 1 },
                    level + 1,
                );
                if !last {
                    out.push_str(",\n");
                    out.push_str(&" ".repeat(inner));
                }
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            let items: Vec<Value> = value
                .try_iter()
                .map(|items| items.collect())
                .unwrap_or_default();
            let inner = indent + 1;
            let last_index = items.len().saturating_sub(1);
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(",\n");
                    out.push_str(&" ".repeat(inner));
                }
                let last = index == last_index;
                pformat(
                    out,
                    item,
                    inner,
                    if last { allowance + 1 } else { 1 },
                    level + 1,
                );
            }
            out.push(']');
        }
        ValueKind::String => pformat_str(
            out,
            value.as_str().unwrap_or_default(),
            indent,
            allowance,
            level + 1,
        ),
        _ => out.push_str(&rep),
    }
}

fn repr_of(text: &str) -> String {
    let mut out = String::new();
    write_str_repr(&mut out, text);
    out
}

/// `pprint`'s splitting of a long string into adjacent literals.
fn pformat_str(
    out: &mut String,
    text: &str,
    mut indent: usize,
    mut allowance: usize,
    level: usize,
) {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.is_empty() {
        lines.push("");
    }
    if level == 1 {
        indent += 1;
        allowance += 1;
    }
    let max_width = PPRINT_WIDTH.saturating_sub(indent);
    let mut max_width_first = max_width;
    let mut chunks: Vec<String> = Vec::new();
    let line_count = lines.len();
    for (line_index, line) in lines.iter().enumerate() {
        let rep = repr_of(line);
        if line_index == line_count - 1 {
            max_width_first = max_width_first.saturating_sub(allowance);
        }
        if rep.chars().count() <= max_width_first {
            chunks.push(rep);
            continue;
        }
        let parts = split_words_with_spaces(line);
        let mut limit = max_width;
        let mut current = String::new();
        let part_count = parts.len();
        for (part_index, part) in parts.iter().enumerate() {
            let candidate = format!("{current}{part}");
            if part_index == part_count - 1 && line_index == line_count - 1 {
                limit = limit.saturating_sub(allowance);
            }
            if repr_of(&candidate).chars().count() > limit {
                if !current.is_empty() {
                    chunks.push(repr_of(&current));
                }
                current = (*part).to_owned();
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            chunks.push(repr_of(&current));
        }
    }
    if chunks.len() == 1 {
        out.push_str(&chunks[0]);
        return;
    }
    if level == 1 {
        out.push('(');
    }
    for (index, chunk) in chunks.iter().enumerate() {
        if index > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(chunk);
    }
    if level == 1 {
        out.push(')');
    }
}

/// `re.findall(r'\S*\s*', line)` without the final empty match.
fn split_words_with_spaces(line: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut seen_space = false;
    for (index, ch) in line.char_indices() {
        if ch.is_whitespace() {
            seen_space = true;
        } else if seen_space {
            parts.push(&line[start..index]);
            start = index;
            seen_space = false;
        }
    }
    if start < line.len() {
        parts.push(&line[start..]);
    }
    parts
}

fn pprint(value: Value) -> String {
    let mut out = String::new();
    pformat(&mut out, &value, 0, 0, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_parse_like_python() {
        assert_eq!(parse_int(" 42 ", 10), Some(42));
        assert_eq!(parse_int("-1_000", 10), Some(-1000));
        assert_eq!(parse_int("0x1F", 16), Some(31));
        assert_eq!(parse_int("ff", 16), Some(255));
        assert_eq!(parse_int("4.2", 10), None);
        assert_eq!(parse_int("1__0", 10), None);
    }

    #[test]
    fn floats_parse_like_python() {
        assert_eq!(to_float(&Value::from("  2.5 ")), Some(2.5));
        assert_eq!(to_float(&Value::from("1e3")), Some(1000.0));
        assert_eq!(to_float(&Value::from("abc")), None);
        assert_eq!(to_float(&Value::from(true)), Some(1.0));
        assert_eq!(to_float(&Value::from(())), None);
    }
}
