//! netutils' `ip` module: address, network and mask filters.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error};

use super::ipaddr::{
    Addr, IpKind, IpObject, MAX_LISTED, Net, address_value, parse_address, parse_interface,
    parse_network, value_text,
};
use crate::jinja::error::filter_error;

/// The filters this module registers.
pub(crate) const NAMES: &[&str] = &[
    "cidr_to_netmask",
    "cidr_to_netmaskv6",
    "get_all_host",
    "get_broadcast_address",
    "get_first_usable",
    "get_ips_sorted",
    "get_peer_ip",
    "get_range_ips",
    "get_usable_range",
    "ip_addition",
    "ip_subtract",
    "ip_to_bin",
    "ip_to_hex",
    "ipaddress_address",
    "ipaddress_interface",
    "ipaddress_network",
    "is_classful",
    "is_ip",
    "is_ip_range",
    "is_ip_within",
    "is_netmask",
    "is_network",
    "is_reversible_wildcardmask",
    "netmask_to_cidr",
    "netmask_to_wildcardmask",
    "wildcardmask_to_netmask",
];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("cidr_to_netmask", cidr_to_netmask);
    env.add_filter("cidr_to_netmaskv6", cidr_to_netmaskv6);
    env.add_filter("get_all_host", get_all_host);
    env.add_filter("get_broadcast_address", get_broadcast_address);
    env.add_filter("get_first_usable", get_first_usable);
    env.add_filter("get_ips_sorted", get_ips_sorted);
    env.add_filter("get_peer_ip", get_peer_ip);
    env.add_filter("get_range_ips", get_range_ips);
    env.add_filter("get_usable_range", get_usable_range);
    env.add_filter("ip_addition", ip_addition);
    env.add_filter("ip_subtract", ip_subtract);
    env.add_filter("ip_to_bin", ip_to_bin);
    env.add_filter("ip_to_hex", ip_to_hex);
    env.add_filter("ipaddress_address", ipaddress_address);
    env.add_filter("ipaddress_interface", ipaddress_interface);
    env.add_filter("ipaddress_network", ipaddress_network);
    env.add_filter("is_classful", is_classful);
    env.add_filter("is_ip", is_ip);
    env.add_filter("is_ip_range", is_ip_range);
    env.add_filter("is_ip_within", is_ip_within);
    env.add_filter("is_netmask", is_netmask);
    env.add_filter("is_network", is_network);
    env.add_filter("is_reversible_wildcardmask", is_reversible_wildcardmask);
    env.add_filter("netmask_to_cidr", netmask_to_cidr);
    env.add_filter("netmask_to_wildcardmask", netmask_to_wildcardmask);
    env.add_filter("wildcardmask_to_netmask", wildcardmask_to_netmask);
}

fn address(filter: &str, value: &Value) -> Result<Addr, Error> {
    if let Some(object) = value.downcast_object_ref::<IpObject>() {
        return Ok(object.net.addr);
    }
    if let Some(number) = value.as_i64().filter(|_| value.is_integer())
        && let Ok(bits) = u32::try_from(number)
    {
        return Ok(Addr {
            v6: false,
            bits: u128::from(bits),
        });
    }
    parse_address(&value_text(value)).map_err(|error| filter_error(filter, error))
}

fn network(filter: &str, value: &Value) -> Result<Net, Error> {
    if let Some(object) = value.downcast_object_ref::<IpObject>() {
        let net = object.net;
        return Ok(Net {
            addr: net.network(),
            prefix: net.prefix,
        });
    }
    parse_network(&value_text(value), true).map_err(|error| filter_error(filter, error))
}

fn integer(filter: &str, what: &str, value: &Value) -> Result<i128, Error> {
    if value.kind() == ValueKind::Number && value.is_integer() {
        return i128::try_from(value.clone())
            .map_err(|_| filter_error(filter, format!("`{what}` is out of range")));
    }
    Err(filter_error(
        filter,
        format!("`{what}` must be an integer, not `{value}`"),
    ))
}

/// Walks a dotted attribute path on an `ipaddress` object, calling a method at the end.
fn walk(
    filter: &str,
    object: IpObject,
    path: &str,
    kwargs: Option<Kwargs>,
) -> Result<Value, Error> {
    let type_name = |object: &IpObject| {
        let family = if object.net.addr.v6 { "IPv6" } else { "IPv4" };
        let kind = match object.kind {
            IpKind::Address => "Address",
            IpKind::Interface => "Interface",
            IpKind::Network => "Network",
        };
        format!("{family}{kind}")
    };
    if let Some(kwargs) = kwargs {
        let args = [Value::from(kwargs)];
        return object
            .invoke(path, &args)
            .map_err(|error| filter_error(filter, error));
    }
    let mut current = Value::from_object(object);
    for part in path.split('.') {
        let Some(object) = current.downcast_object_ref::<IpObject>().copied() else {
            return Err(filter_error(
                filter,
                format!("`{current}` has no attribute '{part}'"),
            ));
        };
        current = match current.get_attr(part) {
            Ok(value) if !value.is_undefined() => value,
            _ => match object.invoke(part, &[]) {
                Ok(value) => value,
                Err(error) if error.kind() == minijinja::ErrorKind::UnknownMethod => {
                    return Err(filter_error(
                        filter,
                        format!("'{}' object has no attribute '{part}'", type_name(&object)),
                    ));
                }
                Err(error) => return Err(filter_error(filter, error)),
            },
        };
    }
    Ok(current)
}

fn ipaddress_address(ip: Value, attr: String) -> Result<Value, Error> {
    let addr = address("ipaddress_address", &ip)?;
    let object = IpObject {
        kind: IpKind::Address,
        net: Net {
            addr,
            prefix: addr.max_prefix(),
        },
    };
    walk("ipaddress_address", object, &attr, None)
}

fn ipaddress_interface(ip: Value, attr: String) -> Result<Value, Error> {
    let net = parse_interface(&value_text(&ip))
        .map_err(|error| filter_error("ipaddress_interface", error))?;
    let object = IpObject {
        kind: IpKind::Interface,
        net,
    };
    walk("ipaddress_interface", object, &attr, None)
}

fn ipaddress_network(ip: Value, attr: String, kwargs: Kwargs) -> Result<Value, Error> {
    let net = network("ipaddress_network", &ip)?;
    let object = IpObject {
        kind: IpKind::Network,
        net,
    };
    let kwargs = if kwargs.args().next().is_some() {
        Some(kwargs)
    } else {
        None
    };
    walk("ipaddress_network", object, &attr, kwargs)
}

fn ip_to_hex(ip: Value) -> Result<String, Error> {
    let addr = address("ip_to_hex", &ip)?;
    let width = usize::from(addr.max_prefix() / 4);
    Ok(format!("{:0width$x}", addr.bits))
}

fn ip_to_bin(ip: Value) -> Result<String, Error> {
    let addr = address("ip_to_bin", &ip)?;
    let width = usize::from(addr.max_prefix());
    Ok(format!("{:0width$b}", addr.bits))
}

fn shift(filter: &str, ip: &Value, delta: i128) -> Result<String, Error> {
    let addr = address(filter, ip)?;
    let moved = i128::try_from(addr.bits)
        .ok()
        .and_then(|bits| bits.checked_add(delta))
        .and_then(|bits| u128::try_from(bits).ok())
        .filter(|bits| *bits <= addr.limit())
        .or_else(|| {
            // IPv6 addresses above i128::MAX.
            if delta >= 0 {
                addr.bits.checked_add(delta.unsigned_abs())
            } else {
                addr.bits.checked_sub(delta.unsigned_abs())
            }
            .filter(|bits| *bits <= addr.limit())
        })
        .ok_or_else(|| filter_error(filter, "the result is outside the address family"))?;
    Ok(addr.with_bits(moved).to_string())
}

fn ip_addition(ip: Value, val: Value) -> Result<String, Error> {
    let delta = integer("ip_addition", "val", &val)?;
    shift("ip_addition", &ip, delta)
}

fn ip_subtract(ip: Value, val: Value) -> Result<String, Error> {
    let delta = integer("ip_subtract", "val", &val)?;
    shift("ip_subtract", &ip, -delta)
}

fn is_classful(ip_network: Value) -> Result<bool, Error> {
    let net = network("is_classful", &ip_network)?;
    if net.addr.v6 {
        return Ok(false);
    }
    let first_octet = (net.network().bits >> 24) as u8;
    Ok((first_octet & 0x80 == 0 && net.prefix == 8)
        || (first_octet & 0xc0 == 0x80 && net.prefix == 16)
        || (first_octet & 0xe0 == 0xc0 && net.prefix == 24))
}

fn is_ip(ip: Value) -> bool {
    address("is_ip", &ip).is_ok()
}

fn range_ips(text: &str) -> Option<(Addr, Addr)> {
    let (start, end) = text.split_once('-')?;
    if end.contains('-') {
        return None;
    }
    let start = parse_address(start).ok()?;
    let end = parse_address(end).ok()?;
    (start.v6 == end.v6 && start.bits < end.bits).then_some((start, end))
}

fn is_ip_range(ip_range: Value) -> bool {
    range_ips(&value_text(&ip_range)).is_some()
}

/// The first and last address of an address, network or `start-end` range.
fn span(filter: &str, text: &str) -> Result<(Addr, Addr), Error> {
    if text.contains('-') {
        return range_ips(text).ok_or_else(|| {
            filter_error(
                filter,
                "not a valid IP range format of `{start_ip}-{end_ip}`",
            )
        });
    }
    let net = parse_network(text, true).map_err(|error| filter_error(filter, error))?;
    Ok((net.network(), net.broadcast()))
}

fn is_ip_within(ip: Value, ip_compare: Value) -> Result<bool, Error> {
    let (start, end) = span("is_ip_within", &value_text(&ip))?;
    let candidates: Vec<String> = match ip_compare.kind() {
        ValueKind::Seq | ValueKind::Iterable => ip_compare
            .try_iter()?
            .map(|item| value_text(&item))
            .collect(),
        _ => vec![value_text(&ip_compare)],
    };
    for candidate in candidates {
        let (first, last) = span("is_ip_within", &candidate)?;
        if first.v6 == start.v6 && first <= start && start <= end && end <= last {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_mask(addr: Addr) -> bool {
    let host_bits = (!addr.bits) & addr.limit();
    host_bits & host_bits.wrapping_add(1) == 0
}

fn is_netmask(netmask: Value) -> bool {
    address("is_netmask", &netmask).is_ok_and(is_mask)
}

fn is_network(ip_network: Value) -> bool {
    let text = value_text(&ip_network);
    text.contains('/') && parse_network(&text, true).is_ok()
}

fn netmask_to_cidr(netmask: Value) -> Result<u32, Error> {
    match address("netmask_to_cidr", &netmask) {
        Ok(addr) if is_mask(addr) => Ok(addr.bits.count_ones()),
        _ => Err(filter_error("netmask_to_cidr", "subnet mask is not valid")),
    }
}

fn cidr_to_netmask(cidr: Value) -> Result<String, Error> {
    match cidr.as_i64().filter(|_| cidr.is_integer()) {
        Some(prefix @ 0..=32) => {
            let mask = u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0);
            Ok(std::net::Ipv4Addr::from(mask).to_string())
        }
        _ => Err(filter_error(
            "cidr_to_netmask",
            "parameter must be an integer between 0 and 32",
        )),
    }
}

fn cidr_to_netmaskv6(cidr: Value) -> Result<String, Error> {
    match cidr.as_i64().filter(|_| cidr.is_integer()) {
        Some(prefix @ 0..=128) => {
            let mask = u128::MAX.checked_shl(128 - prefix as u32).unwrap_or(0);
            Ok(std::net::Ipv6Addr::from(mask).to_string())
        }
        _ => Err(filter_error(
            "cidr_to_netmaskv6",
            "parameter must be an integer between 0 and 128",
        )),
    }
}

fn get_all_host(ip_network: Value) -> Result<Value, Error> {
    let net = network("get_all_host", &ip_network)?;
    let hosts = net
        .hosts()
        .map_err(|error| filter_error("get_all_host", error))?;
    Ok(hosts
        .into_iter()
        .map(|addr| Value::from(addr.to_string()))
        .collect())
}

fn get_broadcast_address(ip_network: Value) -> Result<String, Error> {
    Ok(network("get_broadcast_address", &ip_network)?
        .broadcast()
        .to_string())
}

fn nth(net: Net, index: i128) -> Addr {
    let bits = if index >= 0 {
        net.network().bits + index as u128
    } else {
        net.broadcast().bits - (index.unsigned_abs() - 1)
    };
    net.addr.with_bits(bits)
}

fn single_address_error(filter: &str, net: Net) -> Error {
    filter_error(
        filter,
        format!("{}/{} has no usable range", net.addr, net.prefix),
    )
}

fn get_first_usable(ip_network: Value) -> Result<String, Error> {
    let net = network("get_first_usable", &ip_network)?;
    let host_bits = net.addr.max_prefix() - net.prefix;
    Ok(match host_bits {
        0 => return Err(single_address_error("get_first_usable", net)),
        1 => nth(net, 0),
        _ => nth(net, 1),
    }
    .to_string())
}

fn get_usable_range(ip_network: Value) -> Result<String, Error> {
    let net = network("get_usable_range", &ip_network)?;
    let host_bits = net.addr.max_prefix() - net.prefix;
    let (low, high) = match host_bits {
        0 => return Err(single_address_error("get_usable_range", net)),
        1 => (nth(net, 0), nth(net, 1)),
        _ => (nth(net, 1), nth(net, -2)),
    };
    Ok(format!("{low} - {high}"))
}

fn get_peer_ip(ip_interface: Value) -> Result<String, Error> {
    let interface = parse_interface(&value_text(&ip_interface))
        .map_err(|error| filter_error("get_peer_ip", error))?;
    let (wide, narrow) = if interface.addr.v6 {
        (126, 127)
    } else {
        (30, 31)
    };
    if interface.prefix != wide && interface.prefix != narrow {
        return Err(filter_error(
            "get_peer_ip",
            format!(
                "{}/{} did not conform to IPv{} acceptable masks of {wide} or {narrow}",
                interface.addr,
                interface.prefix,
                interface.addr.version()
            ),
        ));
    }
    if interface.prefix == wide
        && (interface.addr == interface.network() || interface.addr == interface.broadcast())
    {
        return Err(filter_error(
            "get_peer_ip",
            format!(
                "{}/{} is not an IP in the point-to-point link usable range",
                interface.addr, interface.prefix
            ),
        ));
    }
    let hosts = interface
        .hosts()
        .map_err(|error| filter_error("get_peer_ip", error))?;
    hosts
        .into_iter()
        .find(|host| *host != interface.addr)
        .map(|host| host.to_string())
        .ok_or_else(|| filter_error("get_peer_ip", "no peer address in the network"))
}

fn get_range_ips(ip_range: Value) -> Result<Value, Error> {
    let (start, end) = range_ips(&value_text(&ip_range)).ok_or_else(|| {
        filter_error(
            "get_range_ips",
            "not a valid IP range format of `{start_ip}-{end_ip}`",
        )
    })?;
    Ok(Value::from(vec![address_value(start), address_value(end)]))
}

fn get_ips_sorted(ips: Value, args: crate::jinja::filters::args::Args) -> Result<Value, Error> {
    let slots = crate::jinja::filters::args::bind("get_ips_sorted", &args, &["sort_type"])?;
    let sort_type = slots[0]
        .as_ref()
        .map_or_else(|| "network".to_owned(), value_text);
    if !matches!(sort_type.as_str(), "address" | "interface" | "network") {
        return Err(filter_error(
            "get_ips_sorted",
            "invalid sort type passed; must be `address`, `interface`, or `network`",
        ));
    }
    let items: Vec<String> = match ips.kind() {
        ValueKind::Seq => ips.try_iter()?.map(|item| value_text(&item)).collect(),
        ValueKind::String if value_text(&ips).contains(',') => value_text(&ips)
            .replace(' ', "")
            .split(',')
            .map(str::to_owned)
            .collect(),
        _ => {
            return Err(filter_error(
                "get_ips_sorted",
                "not a concatenated list of IPs as expected",
            ));
        }
    };
    if items.len() as u128 > MAX_LISTED {
        return Err(filter_error("get_ips_sorted", "too many addresses to sort"));
    }
    let invalid = |error: String| {
        filter_error(
            "get_ips_sorted",
            format!("invalid IP of {sort_type} input: {error}"),
        )
    };
    let mut parsed: Vec<(Net, Addr)> = items
        .iter()
        .map(|item| match sort_type.as_str() {
            "address" => parse_address(item).map(|addr| {
                let net = Net {
                    addr,
                    prefix: addr.max_prefix(),
                };
                (net, addr)
            }),
            "interface" => parse_interface(item).map(|net| {
                let network = Net {
                    addr: net.network(),
                    prefix: net.prefix,
                };
                (network, net.addr)
            }),
            _ => parse_network(item, true).map(|net| (net, net.addr)),
        })
        .collect::<Result<_, _>>()
        .map_err(invalid)?;
    if parsed.windows(2).any(|pair| pair[0].1.v6 != pair[1].1.v6) {
        return Err(filter_error(
            "get_ips_sorted",
            "cannot sort IPv4 and IPv6 values together",
        ));
    }
    parsed.sort_by(|left, right| {
        (left.0.addr.bits, left.0.prefix, left.1.bits).cmp(&(
            right.0.addr.bits,
            right.0.prefix,
            right.1.bits,
        ))
    });
    Ok(parsed
        .into_iter()
        .map(|(net, addr)| match sort_type.as_str() {
            "address" => Value::from(addr.to_string()),
            "interface" => Value::from(format!("{addr}/{}", net.prefix)),
            _ => Value::from(format!("{}/{}", net.addr, net.prefix)),
        })
        .collect())
}

fn octets(text: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4
        || parts
            .iter()
            .any(|part| part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()))
    {
        return None;
    }
    let mut out = [0u8; 4];
    for (slot, part) in out.iter_mut().zip(parts) {
        *slot = part.parse().ok()?;
    }
    Some(out)
}

fn invert(octets: [u8; 4]) -> String {
    octets
        .iter()
        .map(|octet| (255 - octet).to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn is_reversible_wildcardmask(wildcardmask: Value) -> bool {
    octets(&value_text(&wildcardmask))
        .and_then(|parts| parse_address(&invert(parts)).ok())
        .is_some_and(is_mask)
}

fn netmask_to_wildcardmask(netmask: Value) -> Result<String, Error> {
    let text = value_text(&netmask);
    match (parse_address(&text), octets(&text)) {
        (Ok(addr), Some(parts)) if is_mask(addr) => Ok(invert(parts)),
        _ => Err(filter_error(
            "netmask_to_wildcardmask",
            "subnet mask is not valid",
        )),
    }
}

fn wildcardmask_to_netmask(wildcardmask: Value) -> Result<String, Error> {
    let text = value_text(&wildcardmask);
    match octets(&text) {
        Some(parts) if is_reversible_wildcardmask(wildcardmask) => Ok(invert(parts)),
        _ => Err(filter_error(
            "wildcardmask_to_netmask",
            "wildcard mask is not valid",
        )),
    }
}
