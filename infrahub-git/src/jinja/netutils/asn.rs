//! netutils' `asn` module: BGP AS numbers in asplain and asdot notation.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};

use super::ipaddr::value_text;
use crate::jinja::error::filter_error;

/// The filters this module registers.
pub(crate) const NAMES: &[&str] = &["asn_to_int", "int_to_asdot"];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("asn_to_int", asn_to_int);
    env.add_filter("int_to_asdot", int_to_asdot);
}

fn number(filter: &str, text: &str) -> Result<u64, Error> {
    text.trim()
        .parse()
        .map_err(|_| filter_error(filter, format!("`{text}` is not an AS number")))
}

fn asn_to_int(asplain: Value) -> Result<u64, Error> {
    let text = value_text(&asplain);
    match text.split_once('.') {
        Some((high, low)) => {
            let high = number("asn_to_int", high)?;
            let low = number("asn_to_int", low)?;
            // netutils joins the two numbers as 16-bit (or wider) binary strings.
            let low_bits = (64 - low.leading_zeros()).max(16);
            high.checked_shl(low_bits)
                .filter(|shifted| shifted >> low_bits == high)
                .map(|shifted| shifted | low)
                .ok_or_else(|| filter_error("asn_to_int", format!("`{text}` is out of range")))
        }
        None => number("asn_to_int", &text),
    }
}

fn int_to_asdot(asn_int: Value) -> Result<String, Error> {
    let asn = match asn_int.kind() {
        ValueKind::Number => asn_int.as_i64(),
        _ => value_text(&asn_int).trim().parse().ok(),
    }
    .ok_or_else(|| filter_error("int_to_asdot", format!("`{asn_int}` is not an AS number")))?;
    if !(1..=i64::from(u32::MAX)).contains(&asn) {
        return Err(filter_error(
            "int_to_asdot",
            format!("`{asn}` is not within range of 1 - 2^32-1"),
        ));
    }
    if asn >= 1 << 16 {
        return Ok(format!("{}.{}", asn >> 16, asn & 0xffff));
    }
    Ok(asn.to_string())
}
