//! Jinja2's `format` filter (Python's `%` operator) and `dictsort`, which minijinja writes
//! differently.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};

use super::args::{Args, bind, bool_arg};
use crate::jinja::error::filter_error;
use crate::jinja::python::{py_repr, py_str};

/// The filters this module registers.
pub(crate) const NAMES: &[&str] = &["dictsort", "format"];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("dictsort", dictsort);
    env.add_filter("format", format);
}

fn dictsort(value: Value, args: Args) -> Result<Value, Error> {
    let slots = bind("dictsort", &args, &["case_sensitive", "by", "reverse"])?;
    let case_sensitive = bool_arg(slots[0].as_ref(), false);
    let position = match slots[1].as_ref().map(py_str).as_deref() {
        None | Some("key") => 0,
        Some("value") => 1,
        Some(_) => {
            return Err(filter_error(
                "dictsort",
                "you can only sort by either \"key\" or \"value\"",
            ));
        }
    };
    let reverse = bool_arg(slots[2].as_ref(), false);
    if value.kind() != ValueKind::Map {
        return Err(filter_error("dictsort", "the value is not a mapping"));
    }
    let mut pairs: Vec<[Value; 2]> = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        pairs.push([key, item]);
    }
    let sort_key = |pair: &[Value; 2]| {
        let part = &pair[position];
        match part.as_str() {
            Some(text) if !case_sensitive => Value::from(text.to_lowercase()),
            _ => part.clone(),
        }
    };
    pairs.sort_by_key(sort_key);
    if reverse {
        // Python's sort with reverse=True keeps equal items in their order.
        pairs.reverse();
        let mut start = 0;
        while start < pairs.len() {
            let mut end = start + 1;
            while end < pairs.len() && sort_key(&pairs[end]) == sort_key(&pairs[start]) {
                end += 1;
            }
            pairs[start..end].reverse();
            start = end;
        }
    }
    Ok(pairs
        .into_iter()
        .map(|pair| Value::from(pair.to_vec()))
        .collect())
}

struct Spec {
    flags: String,
    width: Option<usize>,
    precision: Option<usize>,
    conversion: char,
}

fn pad(body: String, spec: &Spec, numeric: bool) -> String {
    let Some(width) = spec.width else {
        return body;
    };
    let length = body.chars().count();
    if length >= width {
        return body;
    }
    let fill = width - length;
    if spec.flags.contains('-') {
        format!("{body}{}", " ".repeat(fill))
    } else if spec.flags.contains('0') && numeric {
        let (sign, digits) = match body.strip_prefix(['-', '+', ' ']) {
            Some(rest) => (&body[..1], rest),
            None => ("", body.as_str()),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

fn sign(spec: &Spec, negative: bool) -> &'static str {
    if negative {
        "-"
    } else if spec.flags.contains('+') {
        "+"
    } else if spec.flags.contains(' ') {
        " "
    } else {
        ""
    }
}

/// Python's `e` formatting of the exponent: at least two digits.
fn python_exponent(text: &str) -> String {
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let (exp_sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            format!("{mantissa}e{exp_sign}{digits:0>2}")
        }
        None => text.to_owned(),
    }
}

fn convert(spec: &Spec, value: &Value) -> Result<String, String> {
    let number = || -> Result<f64, String> {
        match value.kind() {
            ValueKind::Number | ValueKind::Bool => {
                f64::try_from(value.clone()).map_err(|error| error.to_string())
            }
            _ => Err(format!(
                "%{} format: a real number is required, not {}",
                spec.conversion,
                value.kind()
            )),
        }
    };
    let integer = || -> Result<i128, String> {
        if value.is_integer() || value.kind() == ValueKind::Bool {
            return i128::try_from(value.clone()).map_err(|error| error.to_string());
        }
        number().map(|float| float.trunc() as i128)
    };
    let body = match spec.conversion {
        's' | 'r' | 'a' => {
            let text = if spec.conversion == 's' {
                py_str(value)
            } else {
                py_repr(value)
            };
            let text = match spec.precision {
                Some(precision) => text.chars().take(precision).collect(),
                None => text,
            };
            return Ok(pad(text, spec, false));
        }
        'd' | 'i' | 'u' => {
            let number = integer()?;
            format!("{}{}", sign(spec, number < 0), number.unsigned_abs())
        }
        'x' | 'X' | 'o' => {
            let number = integer()?;
            let magnitude = number.unsigned_abs();
            let (digits, prefix) = match spec.conversion {
                'x' => (format!("{magnitude:x}"), "0x"),
                'X' => (format!("{magnitude:X}"), "0X"),
                _ => (format!("{magnitude:o}"), "0o"),
            };
            let prefix = if spec.flags.contains('#') { prefix } else { "" };
            format!("{}{prefix}{digits}", sign(spec, number < 0))
        }
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
            let float = number()?;
            let precision = spec.precision.unwrap_or(6);
            let magnitude = float.abs();
            let text = match spec.conversion {
                'f' | 'F' => format!("{magnitude:.precision$}"),
                'e' | 'E' => python_exponent(&format!("{magnitude:.precision$e}")),
                _ => {
                    let precision = precision.max(1);
                    let exponent = if magnitude == 0.0 {
                        0
                    } else {
                        format!("{magnitude:.prec$e}", prec = precision - 1)
                            .split_once('e')
                            .and_then(|(_, exponent)| exponent.parse::<i32>().ok())
                            .unwrap_or(0)
                    };
                    let text = if exponent < -4 || exponent >= precision as i32 {
                        python_exponent(&format!("{magnitude:.prec$e}", prec = precision - 1))
                    } else {
                        let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
                        format!("{magnitude:.decimals$}")
                    };
                    if spec.flags.contains('#') {
                        text
                    } else {
                        trim_fraction(&text)
                    }
                }
            };
            let text = if magnitude.is_infinite() {
                "inf".to_owned()
            } else if magnitude.is_nan() {
                "nan".to_owned()
            } else {
                text
            };
            let text = if spec.conversion.is_ascii_uppercase() {
                text.to_uppercase()
            } else {
                text
            };
            format!(
                "{}{text}",
                sign(spec, float.is_sign_negative() && float != 0.0)
            )
        }
        'c' => match value.as_i64() {
            Some(code) => u32::try_from(code)
                .ok()
                .and_then(char::from_u32)
                .map(String::from)
                .ok_or_else(|| "%c arg not in range".to_owned())?,
            None => py_str(value),
        },
        other => return Err(format!("unsupported format character '{other}'")),
    };
    Ok(pad(body, spec, true))
}

/// `%g` without trailing zeros in the fraction (and in the mantissa of an exponent form).
fn trim_fraction(text: &str) -> String {
    let (mantissa, exponent) = match text.find('e') {
        Some(at) => (&text[..at], &text[at..]),
        None => (text, ""),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    format!("{mantissa}{exponent}")
}

/// Python's `template % values` for a tuple of values or a mapping.
pub(crate) fn percent_format(
    template: &str,
    values: &[Value],
    mapping: Option<&Value>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut next_value = 0;
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let mut key = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            let mut name = String::new();
            for ch in chars.by_ref() {
                if ch == ')' {
                    break;
                }
                name.push(ch);
            }
            key = Some(name);
        }
        let mut flags = String::new();
        while let Some(&flag) = chars
            .peek()
            .filter(|ch| matches!(ch, '-' | '+' | ' ' | '#' | '0'))
        {
            flags.push(flag);
            chars.next();
        }
        let read_number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut digits = String::new();
            while let Some(&digit) = chars.peek().filter(|ch| ch.is_ascii_digit()) {
                digits.push(digit);
                chars.next();
            }
            digits.parse::<usize>().ok()
        };
        let width = read_number(&mut chars);
        let precision = if chars.peek() == Some(&'.') {
            chars.next();
            Some(read_number(&mut chars).unwrap_or(0))
        } else {
            None
        };
        let Some(conversion) = chars.next() else {
            return Err("incomplete format".to_owned());
        };
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let value = match (&key, mapping) {
            (Some(name), Some(mapping)) => mapping
                .get_item(&Value::from(name.as_str()))
                .ok()
                .filter(|value| !value.is_undefined())
                .ok_or_else(|| format!("missing key '{name}'"))?,
            (Some(_), None) => return Err("format requires a mapping".to_owned()),
            (None, _) => {
                let value = values
                    .get(next_value)
                    .cloned()
                    .ok_or_else(|| "not enough arguments for format string".to_owned())?;
                next_value += 1;
                value
            }
        };
        let spec = Spec {
            flags,
            width,
            precision,
            conversion,
        };
        out.push_str(&convert(&spec, &value)?);
    }
    if mapping.is_none() && next_value < values.len() {
        return Err("not all arguments converted during string formatting".to_owned());
    }
    Ok(out)
}

fn format(value: Value, args: Args) -> Result<String, Error> {
    let mut positional: Vec<Value> = Vec::new();
    let mut mapping: Option<Value> = None;
    for arg in args.iter() {
        if arg.is_kwargs() {
            let kwargs = minijinja::value::Kwargs::try_from(Value::from(arg.clone()))?;
            let pairs: Vec<(String, Value)> = kwargs
                .args()
                .map(|name| Ok((name.to_owned(), kwargs.get::<Value>(name)?)))
                .collect::<Result<_, Error>>()?;
            mapping = Some(Value::from(
                pairs
                    .into_iter()
                    .collect::<std::collections::BTreeMap<String, Value>>(),
            ));
        } else {
            positional.push(Value::from(arg.clone()));
        }
    }
    if mapping.is_some() && !positional.is_empty() {
        return Err(filter_error(
            "format",
            "can't handle positional and keyword arguments at the same time",
        ));
    }
    if mapping.is_none() && positional.len() == 1 && positional[0].kind() == ValueKind::Map {
        mapping = positional.first().cloned();
    }
    percent_format(&py_str(&value), &positional, mapping.as_ref())
        .map_err(|error| filter_error("format", error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, values: &[Value]) -> String {
        percent_format(template, values, None).unwrap()
    }

    #[test]
    fn percent_formatting_follows_python() {
        assert_eq!(
            render(
                "%s-%d-%05.2f-%x",
                &[
                    Value::from("a"),
                    Value::from(3),
                    Value::from(2.5),
                    Value::from(255)
                ]
            ),
            "a-3-02.50-ff"
        );
        assert_eq!(
            render(
                "%5s|%-5s|%+d",
                &[Value::from("ab"), Value::from("cd"), Value::from(4)]
            ),
            "   ab|cd   |+4"
        );
        assert_eq!(
            render(
                "%g %g %e",
                &[Value::from(0.5), Value::from(1e20), Value::from(1234.5)]
            ),
            "0.5 1e+20 1.234500e+03"
        );
        assert_eq!(
            render("%r %s %%", &[Value::from("x"), Value::from(true)]),
            "'x' True %"
        );
    }
}
