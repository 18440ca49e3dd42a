//! Python `ipaddress` objects for templates: addresses, interfaces and networks that print as
//! Python prints them and expose its attributes (`network`, `prefixlen`, `with_netmask`,
//! `is_private`, ...) and methods (`hosts`, `subnets`, `supernet`, `overlaps`, ...).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind, from_args};
use minijinja::{Error, ErrorKind, State};

/// Most addresses a host or subnet listing produces.
pub(crate) const MAX_LISTED: u128 = 65_536;

/// An address of either family as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Addr {
    pub(crate) v6: bool,
    pub(crate) bits: u128,
}

impl Addr {
    pub(crate) fn from_ip(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(v4) => Addr {
                v6: false,
                bits: u128::from(u32::from(v4)),
            },
            IpAddr::V6(v6) => Addr {
                v6: true,
                bits: u128::from(v6),
            },
        }
    }

    pub(crate) fn max_prefix(self) -> u8 {
        if self.v6 { 128 } else { 32 }
    }

    pub(crate) fn with_bits(self, bits: u128) -> Addr {
        Addr { v6: self.v6, bits }
    }

    pub(crate) fn limit(self) -> u128 {
        if self.v6 {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        }
    }

    pub(crate) fn version(self) -> u8 {
        if self.v6 { 6 } else { 4 }
    }

    fn exploded(self) -> String {
        if self.v6 {
            let groups: Vec<String> = (0..8)
                .rev()
                .map(|index| format!("{:04x}", (self.bits >> (index * 16)) & 0xffff))
                .collect();
            groups.join(":")
        } else {
            self.to_string()
        }
    }

    fn reverse_pointer(self) -> String {
        if self.v6 {
            let nibbles: Vec<String> = (0..32)
                .map(|index| format!("{:x}", (self.bits >> (index * 4)) & 0xf))
                .collect();
            format!("{}.ip6.arpa", nibbles.join("."))
        } else {
            let octets: Vec<String> = (0..4)
                .map(|index| ((self.bits >> (index * 8)) & 0xff).to_string())
                .collect();
            format!("{}.in-addr.arpa", octets.join("."))
        }
    }

    fn in_net(self, text: &str) -> bool {
        parse_network(text, true).is_ok_and(|net| net.contains(self))
    }

    fn in_any(self, nets: &[&str]) -> bool {
        nets.iter().any(|net| self.in_net(net))
    }

    pub(crate) fn is_private(self) -> bool {
        if self.v6 {
            self.in_any(&[
                "::1/128",
                "::/128",
                "::ffff:0:0/96",
                "64:ff9b:1::/48",
                "100::/64",
                "2001::/23",
                "2001:db8::/32",
                "2001:10::/28",
                "fc00::/7",
                "fe80::/10",
            ]) && !self.in_any(&[
                "2001:1::1/128",
                "2001:1::2/128",
                "2001:3::/32",
                "2001:4:112::/48",
                "2001:20::/28",
                "2001:30::/28",
            ])
        } else {
            self.in_any(&[
                "0.0.0.0/8",
                "10.0.0.0/8",
                "127.0.0.0/8",
                "169.254.0.0/16",
                "172.16.0.0/12",
                "192.0.0.0/24",
                "192.0.0.170/31",
                "192.0.2.0/24",
                "192.168.0.0/16",
                "198.18.0.0/15",
                "198.51.100.0/24",
                "203.0.113.0/24",
                "240.0.0.0/4",
                "255.255.255.255/32",
            ]) && !self.in_any(&["192.0.0.9/32", "192.0.0.10/32"])
        }
    }

    fn is_global(self) -> bool {
        !self.is_private() && (self.v6 || !self.in_net("100.64.0.0/10"))
    }

    fn property(self, name: &str) -> Option<Value> {
        let flag = |nets: (&str, &str)| {
            Value::from(if self.v6 {
                self.in_net(nets.1)
            } else {
                self.in_net(nets.0)
            })
        };
        Some(match name {
            "version" => Value::from(self.version()),
            "max_prefixlen" => Value::from(self.max_prefix()),
            "compressed" => Value::from(self.to_string()),
            "exploded" => Value::from(self.exploded()),
            "reverse_pointer" => Value::from(self.reverse_pointer()),
            "is_private" => Value::from(self.is_private()),
            "is_global" => Value::from(self.is_global()),
            "is_multicast" => flag(("224.0.0.0/4", "ff00::/8")),
            "is_loopback" => flag(("127.0.0.0/8", "::1/128")),
            "is_link_local" => flag(("169.254.0.0/16", "fe80::/10")),
            "is_unspecified" => flag(("0.0.0.0/32", "::/128")),
            "is_site_local" if self.v6 => Value::from(self.in_net("fec0::/10")),
            "is_reserved" => Value::from(if self.v6 {
                self.in_any(&[
                    "::/8", "100::/8", "200::/7", "400::/6", "800::/5", "1000::/4", "4000::/3",
                    "6000::/3", "8000::/3", "a000::/3", "c000::/3", "e000::/4", "f000::/5",
                    "f800::/6", "fe00::/9",
                ])
            } else {
                self.in_net("240.0.0.0/4")
            }),
            "ipv4_mapped" if self.v6 => {
                if self.bits >> 32 == 0xffff {
                    address_value(Addr {
                        v6: false,
                        bits: self.bits & 0xffff_ffff,
                    })
                } else {
                    Value::from(())
                }
            }
            _ => return None,
        })
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v6 {
            let v6 = Ipv6Addr::from(self.bits);
            // Python writes IPv4-mapped addresses in hexadecimal groups.
            if self.bits >> 32 == 0xffff {
                return write!(
                    f,
                    "::ffff:{:x}:{:x}",
                    (self.bits >> 16) & 0xffff,
                    self.bits & 0xffff
                );
            }
            write!(f, "{v6}")
        } else {
            let v4 = Ipv4Addr::from((self.bits & 0xffff_ffff) as u32);
            write!(f, "{v4}")
        }
    }
}

/// A prefix: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Net {
    pub(crate) addr: Addr,
    pub(crate) prefix: u8,
}

impl Net {
    pub(crate) fn mask(self) -> u128 {
        let host_bits = u32::from(self.addr.max_prefix() - self.prefix);
        self.addr.limit() & u128::MAX.checked_shl(host_bits).unwrap_or(0)
    }

    pub(crate) fn host_mask(self) -> u128 {
        self.addr.limit() & !self.mask()
    }

    pub(crate) fn network(self) -> Addr {
        self.addr.with_bits(self.addr.bits & self.mask())
    }

    pub(crate) fn broadcast(self) -> Addr {
        self.addr.with_bits(self.network().bits | self.host_mask())
    }

    pub(crate) fn size(self) -> u128 {
        self.host_mask().saturating_add(1)
    }

    pub(crate) fn contains(self, addr: Addr) -> bool {
        addr.v6 == self.addr.v6 && addr.bits & self.mask() == self.network().bits
    }

    /// `hosts()`: every address but the network and broadcast ones, except for /31 and /32
    /// (IPv4) and /127 and /128 (IPv6, where only the subnet-router anycast address goes).
    pub(crate) fn hosts(self) -> Result<Vec<Addr>, String> {
        let network = self.network();
        let (first, last) = match (self.addr.v6, self.addr.max_prefix() - self.prefix) {
            (_, 0) => (network.bits, network.bits),
            (_, 1) => (network.bits, self.broadcast().bits),
            (false, _) => (network.bits + 1, self.broadcast().bits - 1),
            (true, _) => (network.bits + 1, self.broadcast().bits),
        };
        let count = last - first + 1;
        if count > MAX_LISTED {
            return Err(format!(
                "{} has {count} hosts, more than the {MAX_LISTED} a template may list",
                self.with_prefixlen(network)
            ));
        }
        Ok((first..=last).map(|bits| network.with_bits(bits)).collect())
    }

    fn with_prefixlen(self, addr: Addr) -> String {
        format!("{addr}/{}", self.prefix)
    }

    fn netmask_addr(self) -> Addr {
        self.addr.with_bits(self.mask())
    }

    fn hostmask_addr(self) -> Addr {
        self.addr.with_bits(self.host_mask())
    }
}

/// Parses `address[/prefix]`, the prefix also as a netmask or hostmask for IPv4 like Python.
fn parse_prefixed(text: &str) -> Result<Net, String> {
    let invalid = || format!("'{text}' does not appear to be an IPv4 or IPv6 network");
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let addr = parse_address(address).map_err(|_| invalid())?;
    let prefix = match prefix {
        None => addr.max_prefix(),
        Some(prefix) if !prefix.is_empty() && prefix.bytes().all(|byte| byte.is_ascii_digit()) => {
            let value: u8 = prefix.parse().map_err(|_| invalid())?;
            if value > addr.max_prefix() {
                return Err(invalid());
            }
            value
        }
        Some(mask) if !addr.v6 => {
            let mask = parse_address(mask).map_err(|_| invalid())?;
            if mask.v6 {
                return Err(invalid());
            }
            let bits = mask.bits as u32;
            let as_netmask = bits.leading_ones();
            let as_hostmask = bits.leading_zeros();
            if bits.checked_shl(as_netmask).unwrap_or(0) == 0 {
                as_netmask as u8
            } else if (!bits).checked_shl(as_hostmask).unwrap_or(0) == 0 {
                as_hostmask as u8
            } else {
                return Err(invalid());
            }
        }
        Some(_) => return Err(invalid()),
    };
    Ok(Net { addr, prefix })
}

/// Python's `ip_address()`.
pub(crate) fn parse_address(text: &str) -> Result<Addr, String> {
    text.parse::<IpAddr>()
        .map(Addr::from_ip)
        .map_err(|_| format!("'{text}' does not appear to be an IPv4 or IPv6 address"))
}

/// Python's `ip_interface()`.
pub(crate) fn parse_interface(text: &str) -> Result<Net, String> {
    parse_prefixed(text)
        .map_err(|_| format!("'{text}' does not appear to be an IPv4 or IPv6 interface"))
}

/// Python's `ip_network()` (`strict` refuses host bits).
pub(crate) fn parse_network(text: &str, strict: bool) -> Result<Net, String> {
    let net = parse_prefixed(text)?;
    if net.addr.bits & net.host_mask() != 0 {
        if strict {
            return Err(format!("{text} has host bits set"));
        }
        return Ok(Net {
            addr: net.network(),
            prefix: net.prefix,
        });
    }
    Ok(net)
}

/// What an [`IpObject`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpKind {
    Address,
    Interface,
    Network,
}

/// A Python `ipaddress` object in a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpObject {
    pub(crate) kind: IpKind,
    pub(crate) net: Net,
}

pub(crate) fn address_value(addr: Addr) -> Value {
    Value::from_object(IpObject {
        kind: IpKind::Address,
        net: Net {
            addr,
            prefix: addr.max_prefix(),
        },
    })
}

pub(crate) fn network_value(net: Net) -> Value {
    Value::from_object(IpObject {
        kind: IpKind::Network,
        net: Net {
            addr: net.network(),
            prefix: net.prefix,
        },
    })
}

impl IpObject {
    /// Python's `repr()`: `IPv4Network('10.0.0.0/24')`.
    pub(crate) fn py_repr(&self) -> String {
        let family = if self.net.addr.v6 { "IPv6" } else { "IPv4" };
        let kind = match self.kind {
            IpKind::Address => "Address",
            IpKind::Interface => "Interface",
            IpKind::Network => "Network",
        };
        format!("{family}{kind}('{self}')")
    }

    fn attribute(&self, name: &str) -> Option<Value> {
        let net = self.net;
        let addr = net.addr;
        match (self.kind, name) {
            (IpKind::Address, _) => addr.property(name),
            (_, "ip") if self.kind == IpKind::Interface => Some(address_value(addr)),
            (_, "network") if self.kind == IpKind::Interface => Some(network_value(net)),
            (IpKind::Network, "network_address") => Some(address_value(net.network())),
            (IpKind::Network, "broadcast_address") => Some(address_value(net.broadcast())),
            (IpKind::Network, "num_addresses") => Some(Value::from(net.size())),
            (IpKind::Network, "prefixlen") => Some(Value::from(net.prefix)),
            (_, "netmask") => Some(address_value(net.netmask_addr())),
            (_, "hostmask") => Some(address_value(net.hostmask_addr())),
            (_, "with_prefixlen" | "compressed") => Some(Value::from(net.with_prefixlen(addr))),
            (_, "with_netmask") => Some(Value::from(format!("{addr}/{}", net.netmask_addr()))),
            (_, "with_hostmask") => Some(Value::from(format!("{addr}/{}", net.hostmask_addr()))),
            (_, "exploded") => Some(Value::from(format!("{}/{}", addr.exploded(), net.prefix))),
            (IpKind::Network, "is_private") => Some(Value::from(
                net.network().is_private() && net.broadcast().is_private(),
            )),
            (IpKind::Network, "is_global") => Some(Value::from(
                !(net.network().is_private() && net.broadcast().is_private())
                    && (addr.v6 || !net.network().in_net("100.64.0.0/10")),
            )),
            (IpKind::Network, "is_multicast" | "is_loopback" | "is_link_local" | "is_reserved") => {
                let network = net.network().property(name)?;
                let broadcast = net.broadcast().property(name)?;
                Some(Value::from(network.is_true() && broadcast.is_true()))
            }
            (IpKind::Network, "is_unspecified") => Some(Value::from(
                net.network().bits == 0 && net.prefix == addr.max_prefix(),
            )),
            (_, _) => addr.property(name),
        }
    }

    /// Calls a method by name with template arguments.
    pub(crate) fn invoke(&self, name: &str, args: &[Value]) -> Result<Value, Error> {
        let net = self.net;
        let invalid = |message: String| Error::new(ErrorKind::InvalidOperation, message);
        match (self.kind, name) {
            (IpKind::Network, "hosts") => {
                let () = from_args(args)?;
                let hosts = net.hosts().map_err(invalid)?;
                Ok(hosts.into_iter().map(address_value).collect())
            }
            (IpKind::Network, "subnets" | "supernet") => {
                let (diff, new_prefix) = prefix_arguments(args)?;
                let target = match (diff, new_prefix) {
                    (Some(_), Some(_)) => {
                        return Err(invalid("cannot set prefixlen_diff and new_prefix".into()));
                    }
                    (_, Some(prefix)) => prefix,
                    (diff, None) => {
                        let diff = diff.unwrap_or(1);
                        if name == "subnets" {
                            i64::from(net.prefix) + diff
                        } else {
                            i64::from(net.prefix) - diff
                        }
                    }
                };
                let max = i64::from(net.addr.max_prefix());
                if name == "supernet" {
                    if net.prefix == 0 {
                        return Ok(network_value(net));
                    }
                    if !(0..=i64::from(net.prefix)).contains(&target) {
                        return Err(invalid("new prefix must be shorter".into()));
                    }
                    return Ok(network_value(Net {
                        addr: net.addr,
                        prefix: target as u8,
                    }));
                }
                if target < i64::from(net.prefix) || target > max {
                    return Err(invalid(format!(
                        "prefix length diff {target} is invalid for netblock {}",
                        net.with_prefixlen(net.network())
                    )));
                }
                let step_bits = (max - target) as u32;
                let count = 1u128 << (target as u32 - u32::from(net.prefix));
                if count > MAX_LISTED {
                    return Err(invalid(format!(
                        "{count} subnets are more than the {MAX_LISTED} a template may list"
                    )));
                }
                let step = 1u128.checked_shl(step_bits).unwrap_or(0);
                Ok((0..count)
                    .map(|index| {
                        network_value(Net {
                            addr: net.addr.with_bits(net.network().bits + index * step),
                            prefix: target as u8,
                        })
                    })
                    .collect())
            }
            (IpKind::Network, "overlaps" | "subnet_of" | "supernet_of") => {
                let (other,): (Value,) = from_args(args)?;
                let other = value_to_network(&other).map_err(invalid)?;
                let result = match name {
                    "overlaps" => {
                        other.contains(net.network())
                            || other.contains(net.broadcast())
                            || net.contains(other.network())
                            || net.contains(other.broadcast())
                    }
                    "subnet_of" => other.contains(net.network()) && other.prefix <= net.prefix,
                    _ => net.contains(other.network()) && net.prefix <= other.prefix,
                };
                Ok(Value::from(result))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn prefix_arguments(args: &[Value]) -> Result<(Option<i64>, Option<i64>), Error> {
    let (diff, kwargs): (Option<i64>, minijinja::value::Kwargs) = from_args(args)?;
    let diff = match kwargs.get::<Option<i64>>("prefixlen_diff")? {
        Some(value) => Some(value),
        None => diff,
    };
    let new_prefix = kwargs.get::<Option<i64>>("new_prefix")?;
    kwargs.assert_all_used()?;
    Ok((diff, new_prefix))
}

/// A network from a template value: one of our objects or a string.
pub(crate) fn value_to_network(value: &Value) -> Result<Net, String> {
    if let Some(object) = value.downcast_object_ref::<IpObject>() {
        return Ok(Net {
            addr: object.net.network(),
            prefix: object.net.prefix,
        });
    }
    parse_network(&value_text(value), true)
}

/// The text of a template value as a Python filter would see it.
pub(crate) fn value_text(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_owned(),
        _ => crate::jinja::python::py_str(value),
    }
}

impl fmt::Display for IpObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            IpKind::Address => write!(f, "{}", self.net.addr),
            IpKind::Interface | IpKind::Network => {
                write!(f, "{}/{}", self.net.addr, self.net.prefix)
            }
        }
    }
}

impl Object for IpObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.attribute(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.invoke(method, args)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        Self: Sized + 'static,
    {
        fmt::Display::fmt(self.as_ref(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_like_python() {
        let net = parse_network("10.0.0.0/255.255.255.0", true).unwrap();
        assert_eq!(net.prefix, 24);
        assert_eq!(
            parse_network("10.0.0.0/0.0.0.255", true).unwrap().prefix,
            24
        );
        assert_eq!(
            parse_network("10.0.0.1/24", true).unwrap_err(),
            "10.0.0.1/24 has host bits set"
        );
        assert!(parse_network("10.0.0.0/33", true).is_err());
        assert_eq!(parse_network("2001:db8::/32", true).unwrap().prefix, 32);
    }

    #[test]
    fn hosts_follow_python() {
        let hosts = parse_network("10.0.0.0/30", true).unwrap().hosts().unwrap();
        let text: Vec<String> = hosts.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["10.0.0.1", "10.0.0.2"]);
        let pair = parse_network("10.0.0.0/31", true).unwrap().hosts().unwrap();
        assert_eq!(pair.len(), 2);
        assert!(parse_network("10.0.0.0/8", true).unwrap().hosts().is_err());
    }

    #[test]
    fn addresses_print_like_python() {
        assert_eq!(
            parse_address("::ffff:1.2.3.4").unwrap().to_string(),
            "::ffff:102:304"
        );
        assert_eq!(
            parse_address("2001:db8::1").unwrap().exploded(),
            "2001:0db8:0000:0000:0000:0000:0000:0001"
        );
        assert_eq!(
            parse_address("10.1.2.3").unwrap().reverse_pointer(),
            "3.2.1.10.in-addr.arpa"
        );
    }
}
