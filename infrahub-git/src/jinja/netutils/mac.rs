//! netutils' `mac` module: MAC address validation and formats.

use minijinja::value::Value;
use minijinja::{Environment, Error};

use super::ipaddr::value_text;
use crate::jinja::error::filter_error;
use crate::jinja::filters::args::{Args, bind};

/// The filters this module registers.
pub(crate) const NAMES: &[&str] = &[
    "is_valid_mac",
    "mac_normalize",
    "mac_to_format",
    "mac_to_int",
    "mac_type",
];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("is_valid_mac", is_valid_mac);
    env.add_filter("mac_normalize", mac_normalize);
    env.add_filter("mac_to_format", mac_to_format);
    env.add_filter("mac_to_int", mac_to_int);
    env.add_filter("mac_type", mac_type);
}

/// netutils' formats: name, delimiter, hexadecimal digits per group.
const FORMATS: &[(&str, &str, usize)] = &[
    ("MAC_COLON_TWO", ":", 2),
    ("MAC_COLON_FOUR", ":", 4),
    ("MAC_DASH_TWO", "-", 2),
    ("MAC_DASH_FOUR", "-", 4),
    ("MAC_DOT_TWO", ".", 2),
    ("MAC_DOT_FOUR", ".", 4),
    ("MAC_NO_SPECIAL", "", 12),
];

/// The format a MAC address is written in, if any.
fn format_of(mac: &str) -> Option<&'static str> {
    FORMATS.iter().find_map(|(name, delimiter, group)| {
        let groups: Vec<&str> = if delimiter.is_empty() {
            vec![mac]
        } else {
            mac.split(delimiter).collect()
        };
        let matches = groups.len() == 12 / group
            && groups.iter().all(|part| {
                part.len() == *group && part.bytes().all(|byte| byte.is_ascii_hexdigit())
            });
        matches.then_some(*name)
    })
}

fn valid(filter: &str, mac: &Value) -> Result<(String, &'static str), Error> {
    let text = value_text(mac);
    match format_of(&text) {
        Some(format) => Ok((text, format)),
        None => Err(filter_error(
            filter,
            format!("there was not a valid mac address in: `{text}`"),
        )),
    }
}

fn normalized(text: &str) -> String {
    text.chars()
        .filter(|ch| !matches!(ch, ':' | '-' | '.'))
        .collect()
}

fn is_valid_mac(mac: Value) -> bool {
    format_of(&value_text(&mac)).is_some()
}

fn mac_normalize(mac: Value) -> Result<String, Error> {
    let (text, _) = valid("mac_normalize", &mac)?;
    Ok(normalized(&text))
}

fn mac_type(mac: Value) -> Result<String, Error> {
    let (_, format) = valid("mac_type", &mac)?;
    Ok(format.to_owned())
}

fn mac_to_int(mac: Value) -> Result<Value, Error> {
    let (text, _) = valid("mac_to_int", &mac)?;
    let number = i64::from_str_radix(&normalized(&text), 16)
        .map_err(|error| filter_error("mac_to_int", error))?;
    Ok(Value::from(number))
}

fn mac_to_format(mac: Value, args: Args) -> Result<String, Error> {
    let slots = bind("mac_to_format", &args, &["frmt"])?;
    let (text, _) = valid("mac_to_format", &mac)?;
    let wanted = slots[0]
        .as_ref()
        .map_or_else(|| "MAC_NO_SPECIAL".to_owned(), value_text);
    let Some((_, delimiter, group)) = FORMATS.iter().find(|(name, _, _)| *name == wanted) else {
        let choices: Vec<&str> = FORMATS.iter().map(|(name, _, _)| *name).collect();
        return Err(filter_error(
            "mac_to_format",
            format!(
                "an invalid mac format was provided in: `{wanted}`, not one of [{}]",
                choices.join(", ")
            ),
        ));
    };
    let digits = normalized(&text);
    let groups: Vec<&str> = (0..digits.len())
        .step_by(*group)
        .map(|start| &digits[start..(start + group).min(digits.len())])
        .collect();
    Ok(groups.join(delimiter))
}
