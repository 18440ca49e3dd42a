//! Fields derived from attribute values: the parts of IP hosts, IP networks and MAC addresses
//! that the `IPHost`, `IPNetwork` and `MacAddress` types expose.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use infrahub_core::value::{parse_ip_interface, parse_ip_network, parse_mac};
use serde_json::Value;

fn mask(version_v4: bool, prefix: u8) -> IpAddr {
    if version_v4 {
        let bits = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix.min(32)))
        };
        IpAddr::V4(Ipv4Addr::from(bits))
    } else {
        let bits = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(prefix.min(128)))
        };
        IpAddr::V6(Ipv6Addr::from(bits))
    }
}

fn invert(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(!u32::from(a))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(!u128::from(a))),
    }
}

fn version(address: IpAddr) -> u8 {
    if address.is_ipv4() { 4 } else { 6 }
}

/// A field of an `IPHost` value (`10.0.0.1/24`).
pub(crate) fn ip_host(value: &Value, field: &str) -> Value {
    let Some(text) = value.as_str() else {
        return Value::Null;
    };
    let Ok((address, prefix)) = parse_ip_interface(text) else {
        return Value::Null;
    };
    let netmask = mask(address.is_ipv4(), prefix);
    let hostmask = invert(netmask);
    match field {
        "ip" => Value::String(address.to_string()),
        "prefixlen" => Value::from(prefix),
        "version" => Value::from(version(address)),
        "netmask" => Value::String(netmask.to_string()),
        "hostmask" => Value::String(hostmask.to_string()),
        "with_netmask" => Value::String(format!("{address}/{netmask}")),
        "with_hostmask" => Value::String(format!("{address}/{hostmask}")),
        _ => Value::Null,
    }
}

/// A field of an `IPNetwork` value (`10.0.0.0/24`).
pub(crate) fn ip_network(value: &Value, field: &str) -> Value {
    let Some(text) = value.as_str() else {
        return Value::Null;
    };
    let Ok((address, prefix)) = parse_ip_network(text) else {
        return Value::Null;
    };
    let netmask = mask(address.is_ipv4(), prefix);
    let hostmask = invert(netmask);
    match field {
        "prefixlen" => Value::from(prefix),
        "version" => Value::from(version(address)),
        "netmask" => Value::String(netmask.to_string()),
        "hostmask" => Value::String(hostmask.to_string()),
        "with_netmask" => Value::String(format!("{address}/{netmask}")),
        "with_hostmask" => Value::String(format!("{address}/{hostmask}")),
        "broadcast_address" => Value::String(
            match (address, hostmask) {
                (IpAddr::V4(a), IpAddr::V4(h)) => {
                    IpAddr::V4(Ipv4Addr::from(u32::from(a) | u32::from(h)))
                }
                (IpAddr::V6(a), IpAddr::V6(h)) => {
                    IpAddr::V6(Ipv6Addr::from(u128::from(a) | u128::from(h)))
                }
                (a, _) => a,
            }
            .to_string(),
        ),
        "num_addresses" => {
            let bits = if address.is_ipv4() { 32 } else { 128 };
            let host_bits = bits - u32::from(prefix);
            // GraphQL `Int` holds 32 bits: larger counts are left out.
            if host_bits < 31 {
                Value::from(1_i64 << host_bits)
            } else {
                Value::Null
            }
        }
        _ => Value::Null,
    }
}

fn hex_groups(bytes: &[u8], separator: &str, upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect::<Vec<_>>()
        .join(separator)
}

/// A field of a `MacAddress` value.
pub(crate) fn mac_address(value: &Value, field: &str) -> Value {
    let Some(bytes) = value.as_str().and_then(parse_mac) else {
        return Value::Null;
    };
    if bytes.len() != 6 {
        return Value::Null;
    }
    let lower = hex_groups(&bytes, "", false);
    let text = match field {
        "oui" => hex_groups(&bytes[..3], "-", true),
        "ei" => hex_groups(&bytes[3..], "-", true),
        "version" => return Value::from(48),
        "binary" => {
            let number = bytes
                .iter()
                .fold(0_u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("0b{number:b}")
        }
        "eui48" => hex_groups(&bytes, "-", true),
        "eui64" => {
            let mut extended = bytes[..3].to_vec();
            extended.extend([0xff, 0xfe]);
            extended.extend(&bytes[3..]);
            hex_groups(&extended, "-", true)
        }
        "bare" => hex_groups(&bytes, "", true),
        "dot_notation" => format!("{}.{}.{}", &lower[0..4], &lower[4..8], &lower[8..12]),
        "semicolon_notation" => bytes
            .iter()
            .map(|b| format!("{b:x}"))
            .collect::<Vec<_>>()
            .join(":"),
        "split_notation" => format!("{}:{}", &lower[0..6], &lower[6..12]),
        _ => return Value::Null,
    };
    Value::String(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ip_host_parts() {
        let v = json!("10.0.0.1/24");
        assert_eq!(ip_host(&v, "ip"), json!("10.0.0.1"));
        assert_eq!(ip_host(&v, "netmask"), json!("255.255.255.0"));
        assert_eq!(ip_host(&v, "hostmask"), json!("0.0.0.255"));
        assert_eq!(ip_host(&v, "with_netmask"), json!("10.0.0.1/255.255.255.0"));
        assert_eq!(ip_host(&v, "prefixlen"), json!(24));
        assert_eq!(ip_host(&v, "version"), json!(4));
        let v6 = json!("2001:db8::1/64");
        assert_eq!(
            ip_host(&v6, "with_netmask"),
            json!("2001:db8::1/ffff:ffff:ffff:ffff::")
        );
        assert_eq!(ip_host(&v6, "hostmask"), json!("::ffff:ffff:ffff:ffff"));
    }

    #[test]
    fn ip_network_parts() {
        let v = json!("10.0.0.0/24");
        assert_eq!(ip_network(&v, "broadcast_address"), json!("10.0.0.255"));
        assert_eq!(ip_network(&v, "num_addresses"), json!(256));
        assert_eq!(ip_network(&v, "with_hostmask"), json!("10.0.0.0/0.0.0.255"));
        assert_eq!(
            ip_network(&json!("2001:db8::/32"), "num_addresses"),
            Value::Null
        );
    }

    #[test]
    fn mac_address_formats() {
        let v = json!("00:1a:2b:3c:4d:5e");
        assert_eq!(mac_address(&v, "oui"), json!("00-1A-2B"));
        assert_eq!(mac_address(&v, "ei"), json!("3C-4D-5E"));
        assert_eq!(
            mac_address(&v, "binary"),
            json!("0b1101000101011001111000100110101011110")
        );
        assert_eq!(mac_address(&v, "eui64"), json!("00-1A-2B-FF-FE-3C-4D-5E"));
        assert_eq!(mac_address(&v, "bare"), json!("001A2B3C4D5E"));
        assert_eq!(mac_address(&v, "dot_notation"), json!("001a.2b3c.4d5e"));
        assert_eq!(
            mac_address(&v, "semicolon_notation"),
            json!("0:1a:2b:3c:4d:5e")
        );
        assert_eq!(mac_address(&v, "split_notation"), json!("001a2b:3c4d5e"));
    }
}
