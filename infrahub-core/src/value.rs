//! Checks of attribute values against their attribute definition: type, format (IP, MAC,
//! e-mail, URL, date, colour) and the definition's constraints (regex, lengths, ranges,
//! choices, enum).

use std::net::IpAddr;

use serde_json::Value;

use crate::schema::{AttributeKind, AttributeSchema};

/// A value its attribute refuses; the message says what is wrong and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

impl From<String> for ValueError {
    fn from(message: String) -> Self {
        ValueError(message)
    }
}

/// Checks `value` against `attribute` and returns the form it is stored in: IP networks and
/// hosts with their prefix length (`10.0.0.1` becomes `10.0.0.1/32`, IPv6 compressed), MAC
/// addresses as upper-case EUI-48/EUI-64 with dashes, numbers given as whole floats as
/// integers. Passwords of kind `HashedPassword` are hashed by the caller, not here.
pub fn canonicalize(attribute: &AttributeSchema, value: &Value) -> Result<Value, ValueError> {
    check_value(attribute, value)?;
    let Some(text) = value.as_str() else {
        return Ok(value.clone());
    };
    Ok(match attribute.kind {
        AttributeKind::IpNetwork => {
            let (address, prefix) = parse_ip_network(text)?;
            Value::String(format!("{address}/{prefix}"))
        }
        AttributeKind::IpHost => {
            let (address, prefix) = parse_ip_interface(text)?;
            Value::String(format!("{address}/{prefix}"))
        }
        AttributeKind::MacAddress => {
            let bytes =
                parse_mac(text).ok_or_else(|| format!("`{text}` is not a valid MAC address"))?;
            Value::String(
                bytes
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join("-"),
            )
        }
        _ => value.clone(),
    })
}

/// Checks `value` against `attribute`; the error says what is wrong and what is allowed.
/// `null` is accepted here: whether a value is required is decided by the caller.
pub fn check_value(attribute: &AttributeSchema, value: &Value) -> Result<(), ValueError> {
    if value.is_null() {
        return Ok(());
    }
    check_format(attribute.kind, value)?;
    Ok(check_constraints(attribute, value)?)
}

fn expect_str(kind: AttributeKind, value: &Value) -> Result<&str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{value} is not a valid {kind}: a string is expected"))
}

fn check_format(kind: AttributeKind, value: &Value) -> Result<(), String> {
    use AttributeKind as K;
    match kind {
        K::Text | K::TextArea | K::Password | K::HashedPassword | K::File | K::Id | K::Dropdown => {
            expect_str(kind, value).map(|_| ())
        }
        K::Number | K::NumberPool | K::Bandwidth => match value {
            Value::Number(n)
                if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "{value} is not a valid {kind}: an integer is expected"
            )),
        },
        K::Boolean | K::Checkbox => match value {
            Value::Bool(_) => Ok(()),
            _ => Err(format!(
                "{value} is not a valid {kind}: true or false is expected"
            )),
        },
        K::List => match value {
            Value::Array(_) => Ok(()),
            _ => Err(format!("{value} is not a valid List: a list is expected")),
        },
        K::Json | K::Any => Ok(()),
        K::Email => {
            let text = expect_str(kind, value)?;
            is_email(text)
                .then_some(())
                .ok_or_else(|| format!("`{text}` is not a valid e-mail address"))
        }
        K::Url => {
            let text = expect_str(kind, value)?;
            is_url(text).then_some(()).ok_or_else(|| {
                format!("`{text}` is not a valid URL (like `https://example.com/path`)")
            })
        }
        K::MacAddress => {
            let text = expect_str(kind, value)?;
            parse_mac(text)
                .map(|_| ())
                .ok_or_else(|| format!("`{text}` is not a valid MAC address"))
        }
        K::IpHost => {
            let text = expect_str(kind, value)?;
            parse_ip_interface(text)
                .map(|_| ())
                .map_err(|why| format!("`{text}` is not a valid IP host: {why}"))
        }
        K::IpNetwork => {
            let text = expect_str(kind, value)?;
            parse_ip_network(text)
                .map(|_| ())
                .map_err(|why| format!("`{text}` is not a valid IP network: {why}"))
        }
        K::DateTime => {
            let text = expect_str(kind, value)?;
            parse_datetime(text)
                .map(|_| ())
                .ok_or_else(|| format!("`{text}` is not a valid ISO-8601 date and time"))
        }
        K::Color => {
            let text = expect_str(kind, value)?;
            crate::schema::is_color(text)
                .then_some(())
                .ok_or_else(|| format!("`{text}` is not a valid colour code like `#7f7fff`"))
        }
    }
}

fn check_constraints(attribute: &AttributeSchema, value: &Value) -> Result<(), String> {
    if let Some(allowed) = &attribute.enum_values
        && !allowed.contains(value)
    {
        let list = allowed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(format!("{value} is not one of the allowed values: {list}"));
    }
    if let (AttributeKind::Dropdown, Some(choices), Some(text)) =
        (attribute.kind, &attribute.choices, value.as_str())
        && !choices.iter().any(|c| c.name == text)
    {
        let names = choices
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(format!("`{text}` is not a valid choice (allowed: {names})"));
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count() as i64;
        if let Some(min) = attribute.min_length()
            && length < min
        {
            return Err(format!(
                "`{text}` is {length} characters long; at least {min} are required"
            ));
        }
        if let Some(max) = attribute.max_length()
            && length > max
        {
            return Err(format!(
                "`{text}` is {length} characters long; at most {max} are allowed"
            ));
        }
        if let Some(pattern) = attribute.regex() {
            let regex = fancy_regex::Regex::new(pattern)
                .map_err(|err| format!("the regular expression `{pattern}` is invalid: {err}"))?;
            // Python's re.match anchors at the start only.
            let matched = regex
                .find(text)
                .ok()
                .flatten()
                .is_some_and(|m| m.start() == 0);
            if !matched {
                return Err(format!(
                    "`{text}` must match the regular expression `{pattern}`"
                ));
            }
        }
    }
    if let (Some(number), Some(params)) = (value.as_i64(), &attribute.parameters) {
        if let Some(min) = params.min_value
            && number < min
        {
            return Err(format!(
                "{number} is lower than the minimum allowed value {min}"
            ));
        }
        if let Some(max) = params.max_value
            && number > max
        {
            return Err(format!(
                "{number} is higher than the maximum allowed value {max}"
            ));
        }
        for (start, end) in params.excluded().map_err(|e| e.to_string())? {
            if (start..=end).contains(&number) {
                return Err(if start == end {
                    format!("{number} is an excluded value")
                } else {
                    format!("{number} is in the excluded range {start}-{end}")
                });
            }
        }
    }
    Ok(())
}

fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

fn is_url(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    scheme_ok && !host.is_empty() && !text.contains(char::is_whitespace)
}

/// Parses a MAC address in any common notation into its 6 (or 8) bytes.
pub fn parse_mac(text: &str) -> Option<Vec<u8>> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    let separators_ok = text
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.'));
    if !separators_ok
        || !(hex.len() == 12 || hex.len() == 16)
        || !hex.chars().all(|c| c.is_ascii_hexdigit())
    {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// Parses `address[/prefixlen]` into the address and prefix length (full length if absent).
pub fn parse_ip_interface(text: &str) -> Result<(IpAddr, u8), ValueError> {
    let (address, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let address: IpAddr = address
        .parse()
        .map_err(|_| "the address part is not an IPv4 or IPv6 address".to_string())?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => parse_prefix(p, address)?,
    };
    if prefix > max {
        return Err(format!("the prefix length must be at most {max}").into());
    }
    Ok((address, prefix))
}

fn parse_prefix(text: &str, address: IpAddr) -> Result<u8, String> {
    if let Ok(length) = text.parse::<u8>() {
        return Ok(length);
    }
    // A dotted netmask (IPv4 only), as Python's ipaddress accepts.
    let mask: std::net::Ipv4Addr = text
        .parse()
        .map_err(|_| format!("`{text}` is not a prefix length"))?;
    if !address.is_ipv4() {
        return Err(format!("`{text}` is not a prefix length"));
    }
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(format!("`{text}` is not a valid netmask"));
    }
    Ok(bits.leading_ones() as u8)
}

/// Parses a network `address/prefixlen`; host bits must be zero.
pub fn parse_ip_network(text: &str) -> Result<(IpAddr, u8), ValueError> {
    let (address, prefix) = parse_ip_interface(text)?;
    let host_bits_set = match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            prefix < 32 && bits & (u32::MAX >> prefix) != 0
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            prefix < 128 && bits & (u128::MAX >> prefix) != 0
        }
    };
    if host_bits_set {
        return Err("host bits are set; use the network address"
            .to_string()
            .into());
    }
    Ok((address, prefix))
}

/// Parses an ISO-8601 timestamp (with or without offset; a date alone means midnight UTC).
pub fn parse_datetime(text: &str) -> Option<jiff::Timestamp> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Some(ts);
    }
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::{AttributeParameters, DropdownChoice};

    fn attr(kind: AttributeKind) -> AttributeSchema {
        AttributeSchema::new("field", kind)
    }

    #[test]
    fn formats_are_checked_per_kind() {
        assert!(check_value(&attr(AttributeKind::Number), &json!("5")).is_err());
        assert!(check_value(&attr(AttributeKind::Number), &json!(5)).is_ok());
        assert!(check_value(&attr(AttributeKind::Boolean), &json!(1)).is_err());
        assert!(check_value(&attr(AttributeKind::IpHost), &json!("10.0.0.1/24")).is_ok());
        assert!(check_value(&attr(AttributeKind::IpHost), &json!("10.0.0.300")).is_err());
        assert!(check_value(&attr(AttributeKind::IpNetwork), &json!("10.0.0.0/24")).is_ok());
        let host_bits = check_value(&attr(AttributeKind::IpNetwork), &json!("10.0.0.1/24"));
        assert!(host_bits.is_err_and(|e| e.0.contains("host bits")));
        assert!(check_value(&attr(AttributeKind::IpNetwork), &json!("2001:db8::/32")).is_ok());
        assert!(
            check_value(
                &attr(AttributeKind::MacAddress),
                &json!("00:1b:2c:3d:4e:5f")
            )
            .is_ok()
        );
        assert!(check_value(&attr(AttributeKind::MacAddress), &json!("001b.2c3d.4e5f")).is_ok());
        assert!(check_value(&attr(AttributeKind::MacAddress), &json!("00:1b:2c")).is_err());
        assert!(check_value(&attr(AttributeKind::Email), &json!("ops@example.com")).is_ok());
        assert!(check_value(&attr(AttributeKind::Email), &json!("ops")).is_err());
        assert!(check_value(&attr(AttributeKind::Url), &json!("https://example.com/x")).is_ok());
        assert!(check_value(&attr(AttributeKind::Url), &json!("example.com")).is_err());
        assert!(
            check_value(
                &attr(AttributeKind::DateTime),
                &json!("2024-01-01T10:00:00Z")
            )
            .is_ok()
        );
        assert!(check_value(&attr(AttributeKind::DateTime), &json!("yesterday")).is_err());
        assert!(check_value(&attr(AttributeKind::Color), &json!("#ff00aa")).is_ok());
    }

    #[test]
    fn values_are_stored_in_canonical_forms() {
        let canonical = |kind, v: Value| canonicalize(&attr(kind), &v).unwrap_or(Value::Null);
        assert_eq!(
            canonical(AttributeKind::IpHost, json!("10.0.0.1")),
            json!("10.0.0.1/32")
        );
        assert_eq!(
            canonical(AttributeKind::IpHost, json!("10.0.0.1/255.255.255.0")),
            json!("10.0.0.1/24")
        );
        assert_eq!(
            canonical(AttributeKind::IpNetwork, json!("2001:0db8:0000::/32")),
            json!("2001:db8::/32")
        );
        assert_eq!(
            canonical(AttributeKind::MacAddress, json!("001b.2c3d.4e5f")),
            json!("00-1B-2C-3D-4E-5F")
        );
        assert_eq!(canonical(AttributeKind::Text, json!("x")), json!("x"));
    }

    #[test]
    fn constraints_are_checked() {
        let mut text = attr(AttributeKind::Text);
        text.parameters = Some(AttributeParameters {
            regex: Some("^[a-z]+$".into()),
            max_length: Some(4),
            ..Default::default()
        });
        assert!(check_value(&text, &json!("abc")).is_ok());
        assert!(check_value(&text, &json!("ABC")).is_err_and(|e| e.0.contains("must match")));
        assert!(check_value(&text, &json!("abcde")).is_err_and(|e| e.0.contains("at most 4")));
        let mut number = attr(AttributeKind::Number);
        number.parameters = Some(AttributeParameters {
            min_value: Some(1),
            max_value: Some(4094),
            excluded_values: Some("1002-1005".into()),
            ..Default::default()
        });
        assert!(
            check_value(&number, &json!(0)).is_err_and(|e| e.0.contains("lower than the minimum"))
        );
        assert!(
            check_value(&number, &json!(1003))
                .is_err_and(|e| e.0.contains("excluded range 1002-1005"))
        );
        let mut dropdown = attr(AttributeKind::Dropdown);
        dropdown.choices = Some(vec![DropdownChoice {
            id: None,
            state: Default::default(),
            name: "core".into(),
            label: None,
            description: None,
            color: None,
        }]);
        assert!(
            check_value(&dropdown, &json!("edge")).is_err_and(|e| e.0.contains("allowed: core"))
        );
        let mut with_enum = attr(AttributeKind::Text);
        with_enum.enum_values = Some(vec![json!("a"), json!("b")]);
        assert!(check_value(&with_enum, &json!("c")).is_err());
    }
}
