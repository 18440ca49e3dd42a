//! netutils' `bandwidth` module: speeds between names (`10Gbps`, `100 Mbit`) and numbers.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};

use super::ipaddr::value_text;
use crate::jinja::error::filter_error;
use crate::jinja::filters::args::{Args, bind, usize_arg};
use crate::jinja::python::float_repr;

/// The filters this module registers.
pub(crate) const NAMES: &[&str] = &[
    "bits_to_name",
    "bytes_to_name",
    "name_to_bits",
    "name_to_bytes",
    "name_to_name",
];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("bits_to_name", bits_to_name);
    env.add_filter("bytes_to_name", bytes_to_name);
    env.add_filter("name_to_bits", name_to_bits);
    env.add_filter("name_to_bytes", name_to_bytes);
    env.add_filter("name_to_name", name_to_name);
}

const BIT_UNITS: [&str; 8] = [
    "bps", "Kbps", "Mbps", "Gbps", "Tbps", "Pbps", "Ebps", "Zbps",
];
const BYTE_UNITS: [&str; 8] = [
    "Bps", "KBps", "MBps", "GBps", "TBps", "PBps", "EBps", "ZBps",
];

/// Bits per second in one of `unit`.
fn unit_bits(unit: &str) -> Option<f64> {
    if let Some(index) = BIT_UNITS.iter().position(|name| *name == unit) {
        return Some(1000f64.powi(index as i32));
    }
    BYTE_UNITS
        .iter()
        .position(|name| *name == unit)
        .map(|index| 8.0 * 1000f64.powi(index as i32))
}

/// netutils' normalisation: `bit` and `b/s` become `b`, spaces go, and a bare unit gets `ps`.
fn normalize(speed: &str) -> String {
    let speed = speed
        .replace("bit", "b")
        .replace("b/s", "b")
        .replace(' ', "");
    let tail_start = speed
        .find(|ch: char| !ch.is_ascii_digit())
        .unwrap_or(speed.len());
    let (head, tail) = speed.split_at(tail_start);
    let tail = match tail {
        "b" | "Kb" | "Mb" | "Gb" | "Tb" | "Pb" | "Eb" | "Zb" | "B" | "KB" | "MB" | "GB" | "TB"
        | "PB" | "EB" | "ZB" => format!("{tail}ps"),
        other => other.to_owned(),
    };
    format!("{head}{tail}")
}

/// The number and unit of `([0-9.]+)([A-Z]?[bB]ps)` at the start of a speed.
fn parse_speed(filter: &str, speed: &str) -> Result<(f64, f64), Error> {
    let invalid = || {
        filter_error(
            filter,
            format!("speed of {speed} was not a valid speed representation"),
        )
    };
    let number_end = speed
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
        .unwrap_or(speed.len());
    if number_end == 0 {
        return Err(invalid());
    }
    let rest = &speed[number_end..];
    let unit_len = if rest.starts_with(|ch: char| ch.is_ascii_uppercase())
        && rest[1..].starts_with(['b', 'B'])
        && rest[2..].starts_with("ps")
    {
        4
    } else if rest.starts_with(['b', 'B']) && rest[1..].starts_with("ps") {
        3
    } else {
        return Err(invalid());
    };
    let value: f64 = speed[..number_end].parse().map_err(|_| invalid())?;
    let bits = unit_bits(&rest[..unit_len]).ok_or_else(invalid)?;
    Ok((value, bits))
}

fn text_speed(filter: &str, speed: &Value) -> Result<String, Error> {
    match speed.kind() {
        ValueKind::String => Ok(value_text(speed)),
        _ => Err(filter_error(
            filter,
            format!("speed of {speed} was not a valid speed representation"),
        )),
    }
}

fn name_to_bits(speed: Value) -> Result<Value, Error> {
    let text = normalize(&text_speed("name_to_bits", &speed)?);
    let (value, bits) = parse_speed("name_to_bits", &text)?;
    Ok(Value::from((value * bits).trunc() as i64))
}

fn name_to_bytes(speed: Value) -> Result<Value, Error> {
    let text = normalize(&text_speed("name_to_bytes", &speed)?);
    let (value, bits) = parse_speed("name_to_bytes", &text)?;
    Ok(Value::from(value * bits / 8.0))
}

/// Python's `round(value, digits)` written with `str()`: an integer when `digits` is 0.
fn rounded(value: f64, digits: usize, integer_when_zero: bool) -> String {
    if digits == 0 && integer_when_zero {
        return format!("{}", value.round_ties_even() as i64);
    }
    let text = format!("{value:.digits$}");
    float_repr(text.parse().unwrap_or(value))
}

fn bits_to_name(speed: Value, args: Args) -> Result<String, Error> {
    let slots = bind("bits_to_name", &args, &["nbr_decimal"])?;
    let digits = usize_arg("bits_to_name", "nbr_decimal", slots[0].as_ref(), 0)?;
    let bits = speed
        .as_i64()
        .filter(|_| speed.is_integer())
        .ok_or_else(|| {
            filter_error(
                "bits_to_name",
                format!("speed of {speed} was not a valid speed integer"),
            )
        })?;
    let bits = bits as f64;
    for (index, unit) in BIT_UNITS.iter().enumerate() {
        let low = if index == 0 {
            0.0
        } else {
            1000f64.powi(index as i32)
        };
        if low <= bits && bits < 1000f64.powi(index as i32 + 1) {
            if index == 0 {
                return Ok(format!("{}{unit}", rounded(bits, digits, true)));
            }
            return Ok(format!("{}{unit}", rounded(bits / low, digits, true)));
        }
    }
    Err(filter_error(
        "bits_to_name",
        format!("speed of {speed} was not a valid speed representation"),
    ))
}

fn bytes_to_name(speed: Value, args: Args) -> Result<String, Error> {
    let slots = bind("bytes_to_name", &args, &["nbr_decimal"])?;
    let digits = usize_arg("bytes_to_name", "nbr_decimal", slots[0].as_ref(), 0)?;
    let bytes = match speed.kind() {
        ValueKind::Number => f64::try_from(speed.clone()).ok(),
        _ => None,
    }
    .ok_or_else(|| {
        filter_error(
            "bytes_to_name",
            format!("speed of {speed} was not a valid speed"),
        )
    })?;
    // netutils compares the byte count with its bit-based thresholds (8000, 8e6, ...).
    for (index, unit) in BYTE_UNITS.iter().enumerate() {
        let low = if index == 0 {
            0.0
        } else {
            8.0 * 1000f64.powi(index as i32)
        };
        let high = 8.0 * 1000f64.powi(index as i32 + 1);
        if low <= bytes && bytes < high {
            let value = if index == 0 { bytes } else { bytes * 8.0 / low };
            return Ok(format!("{}{unit}", rounded(value, digits, false)));
        }
    }
    Err(filter_error(
        "bytes_to_name",
        format!("speed of {speed} was not a valid speed representation"),
    ))
}

fn name_to_name(speed: Value, speed_type: String, args: Args) -> Result<String, Error> {
    let slots = bind("name_to_name", &args, &["nbr_decimal"])?;
    let digits = usize_arg("name_to_name", "nbr_decimal", slots[0].as_ref(), 0)?;
    let text = text_speed("name_to_name", &speed)?.replace(' ', "");
    let (value, bits) = parse_speed("name_to_name", &text)?;
    let target = unit_bits(&speed_type).ok_or_else(|| {
        filter_error(
            "name_to_name",
            format!("speed type of {speed_type} was not a valid type"),
        )
    })?;
    Ok(format!(
        "{}{speed_type}",
        rounded(value * bits / target, digits, false)
    ))
}
