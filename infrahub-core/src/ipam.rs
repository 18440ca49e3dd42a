//! IP space arithmetic for IPAM: prefixes and hosts as numbers, containment, the keys the
//! store orders IP space by, free space inside a prefix and utilization. IPv4 and IPv6 share
//! one representation: the address as a `u128` and the prefix length.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP network (`10.0.0.0/8`) or a host seen as the network of its one address
/// (`10.0.0.1/32`): the first address and the prefix length, host bits clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    /// Whether this is IPv6.
    pub v6: bool,
    /// The first address, as a number.
    pub address: u128,
    /// The prefix length.
    pub length: u8,
}

/// Why a text is not a network or a host.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IpError(String);

impl IpNet {
    /// Bits in an address of this family.
    pub fn bits(v6: bool) -> u8 {
        if v6 { 128 } else { 32 }
    }

    /// Reads `10.0.0.0/8` (or a bare address, a /32 or /128). Host bits set are an error naming
    /// the value, as upstream answers.
    pub fn parse_network(text: &str) -> Result<IpNet, IpError> {
        let (address, length) = split(text)?;
        let net = IpNet::of(address, length);
        if net.address != number(address) {
            return Err(IpError(format!("{text} has host bits set")));
        }
        Ok(net)
    }

    /// Reads a host `10.0.0.1/24` (or a bare address): the host as a /32 (/128) and the prefix
    /// length written with it.
    pub fn parse_host(text: &str) -> Result<(IpNet, u8), IpError> {
        let (address, length) = split(text)?;
        let v6 = address.is_ipv6();
        Ok((
            IpNet {
                v6,
                address: number(address),
                length: IpNet::bits(v6),
            },
            length,
        ))
    }

    /// The network of `length` bits containing `address`.
    pub fn of(address: IpAddr, length: u8) -> IpNet {
        let v6 = address.is_ipv6();
        IpNet {
            v6,
            address: number(address) & mask(v6, length),
            length,
        }
    }

    /// The network of `length` bits (at most this one's) containing this one.
    pub fn supernet(&self, length: u8) -> IpNet {
        let length = length.min(self.length);
        IpNet {
            v6: self.v6,
            address: self.address & mask(self.v6, length),
            length,
        }
    }

    /// The last address.
    pub fn last(&self) -> u128 {
        self.address | !mask(self.v6, self.length) & family_max(self.v6)
    }

    /// How many addresses it spans, as a float (a /0 of IPv6 does not fit in a `u128`).
    pub fn size(&self) -> f64 {
        2f64.powi(i32::from(IpNet::bits(self.v6) - self.length))
    }

    /// Whether `other` lies inside this network (itself included).
    pub fn contains(&self, other: &IpNet) -> bool {
        self.v6 == other.v6
            && other.length >= self.length
            && other.address & mask(self.v6, self.length) == self.address
    }

    /// The address as text (`10.0.0.0`, `2001:db8::`).
    pub fn address_text(&self) -> String {
        ip_of(self.v6, self.address).to_string()
    }

    /// The key the store orders IP space by: family, the first address in fixed-width
    /// hexadecimal, then the prefix length, so that byte order is address order and every
    /// network inside this one sorts between [`IpNet::first_key`] and [`IpNet::last_key`].
    pub fn key(&self) -> String {
        format!(
            "{}:{:032x}:{:03}",
            if self.v6 { 6 } else { 4 },
            self.address,
            self.length
        )
    }

    /// The lowest key of anything inside this network.
    pub fn first_key(&self) -> String {
        format!("{}:{:032x}:", if self.v6 { 6 } else { 4 }, self.address)
    }

    /// The highest key of anything inside this network.
    pub fn last_key(&self) -> String {
        format!("{}:{:032x}:~", if self.v6 { 6 } else { 4 }, self.last())
    }

    /// The keys of every network strictly containing this one, longest first.
    pub fn container_keys(&self) -> Vec<String> {
        (0..self.length)
            .rev()
            .map(|length| self.supernet(length).key())
            .collect()
    }

    /// The first network of `length` bits of this family starting at or after `address`
    /// (`None` past the end of the address space).
    pub fn block_from(v6: bool, address: u128, length: u8) -> Option<IpNet> {
        let address = align_up(address, mask(v6, length))?;
        (address <= family_max(v6)).then_some(IpNet {
            v6,
            address,
            length,
        })
    }

    /// The first free network of `length` bits inside this one, `taken` being the networks
    /// already used inside it (any order, nesting allowed).
    pub fn first_free(&self, length: u8, taken: &[IpNet]) -> Option<IpNet> {
        if length < self.length || length > IpNet::bits(self.v6) {
            return None;
        }
        let step_mask = mask(self.v6, length);
        let span = !step_mask & family_max(self.v6);
        let mut used: Vec<(u128, u128)> = taken
            .iter()
            .filter(|t| self.contains(t) || t.contains(self))
            .map(|t| (t.address, t.last()))
            .collect();
        used.sort_unstable();
        let mut cursor = self.address;
        let end = self.last();
        for (start, stop) in used {
            // The first aligned candidate at or after the cursor.
            let candidate = align_up(cursor, step_mask)?;
            if candidate > end {
                return None;
            }
            if candidate.checked_add(span)? < start {
                return Some(IpNet {
                    v6: self.v6,
                    address: candidate,
                    length,
                });
            }
            if stop >= cursor {
                if stop == family_max(self.v6) {
                    return None;
                }
                cursor = stop + 1;
            }
        }
        let candidate = align_up(cursor, step_mask)?;
        (candidate <= end && candidate.checked_add(span)? <= end).then_some(IpNet {
            v6: self.v6,
            address: candidate,
            length,
        })
    }

    /// The first address of this network not in `taken` (sorted or not), skipping its first
    /// and last addresses (network and broadcast) when it is longer than two addresses,
    /// unless `whole` (a pool prefix), as upstream allocates.
    pub fn first_free_address(&self, taken: &[u128], whole: bool) -> Option<u128> {
        let (mut first, mut last) = (self.address, self.last());
        if !whole && self.length < IpNet::bits(self.v6) - 1 {
            first += 1;
            last -= 1;
        }
        let mut used: Vec<u128> = taken
            .iter()
            .copied()
            .filter(|a| (first..=last).contains(a))
            .collect();
        used.sort_unstable();
        used.dedup();
        let mut candidate = first;
        for address in used {
            if address > candidate {
                break;
            }
            if address == candidate {
                if candidate == last {
                    return None;
                }
                candidate += 1;
            }
        }
        (candidate <= last).then_some(candidate)
    }

    /// The addresses a prefix of this size holds for hosts: all of them for a pool prefix or
    /// an IPv4 /31 or /32, otherwise less the network and broadcast addresses (IPv4).
    pub fn usable(&self, whole: bool) -> f64 {
        if !self.v6 && !whole && self.length < 31 {
            self.size() - 2.0
        } else {
            self.size()
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address_text(), self.length)
    }
}

/// The text of address `address` of the given family.
pub fn ip_of(v6: bool, address: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(address))
    } else {
        IpAddr::V4(Ipv4Addr::from(address as u32))
    }
}

/// Utilization in percent, as upstream reports it: `used` over `total`, floored, capped at 100
/// (0 when there is no space).
pub fn percent(used: f64, total: f64) -> i64 {
    if total <= 0.0 {
        return 0;
    }
    ((used / total) * 100.0).floor().clamp(0.0, 100.0) as i64
}

fn split(text: &str) -> Result<(IpAddr, u8), IpError> {
    let (address, length) = match text.split_once('/') {
        Some((address, length)) => (address, Some(length)),
        None => (text, None),
    };
    let address: IpAddr = address
        .trim()
        .parse()
        .map_err(|_| IpError(format!("`{text}` is not a valid IP address or network")))?;
    let bits = IpNet::bits(address.is_ipv6());
    let length = match length {
        None => bits,
        Some(length) => match length.trim().parse::<u8>() {
            Ok(length) if length <= bits => length,
            _ => {
                return Err(IpError(format!(
                    "`{text}` has an invalid prefix length (0 to {bits})"
                )));
            }
        },
    };
    Ok((address, length))
}

fn number(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn family_max(v6: bool) -> u128 {
    if v6 { u128::MAX } else { u128::from(u32::MAX) }
}

/// The network mask of `length` bits, within the family's width.
fn mask(v6: bool, length: u8) -> u128 {
    let bits = IpNet::bits(v6);
    let host = u32::from(bits - length.min(bits));
    let all = family_max(v6);
    if host >= 128 {
        0
    } else {
        all & !((1u128 << host) - 1)
    }
}

/// `value` rounded up to the next multiple of the step `mask` describes (`None` past the top).
fn align_up(value: u128, mask: u128) -> Option<u128> {
    if value & !mask == 0 {
        return Some(value);
    }
    let low = !mask & value;
    value.checked_add((!mask) - low + 1).map(|v| v & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        IpNet::parse_network(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn networks_parse_with_their_host_bits_checked() {
        assert_eq!(net("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(net("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(net("10.1.2.3").length, 32);
        let error = IpNet::parse_network("10.0.0.1/8")
            .err()
            .map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("10.0.0.1/8 has host bits set"));
        assert!(IpNet::parse_network("10.0.0.0/33").is_err());
        assert!(IpNet::parse_network("nope/8").is_err());
        let (host, length) = IpNet::parse_host("10.0.0.7/24").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((host.to_string(), length), ("10.0.0.7/32".to_string(), 24));
    }

    #[test]
    fn containment_keys_and_sizes() {
        let eight = net("10.0.0.0/8");
        assert!(eight.contains(&net("10.20.0.0/16")));
        assert!(eight.contains(&eight));
        assert!(!eight.contains(&net("11.0.0.0/16")));
        assert!(!net("10.20.0.0/16").contains(&eight));
        assert!(!eight.contains(&net("::/0")));
        assert_eq!(
            eight.last(),
            u128::from(u32::from(Ipv4Addr::new(10, 255, 255, 255)))
        );
        assert_eq!(net("::/0").last(), u128::MAX);
        assert_eq!(net("::/0").size(), 2f64.powi(128));
        assert_eq!(net("10.0.0.0/24").usable(false), 254.0);
        assert_eq!(net("10.0.0.0/24").usable(true), 256.0);
        // Keys order IP space, and what a network contains sorts inside its key range.
        let inside = net("10.20.0.0/16").key();
        assert!(eight.first_key() <= inside && inside <= eight.last_key());
        assert!(net("11.0.0.0/8").key() > eight.last_key());
        assert!(net("9.255.255.0/24").key() < eight.first_key());
        assert!(net("10.0.0.0/8").key() < net("10.0.0.0/16").key());
        let containers = net("10.1.0.0/16").container_keys();
        assert_eq!(containers.len(), 16);
        assert_eq!(containers[0], net("10.0.0.0/15").key());
        assert_eq!(containers[15], net("0.0.0.0/0").key());
    }

    #[test]
    fn free_networks_are_found_around_used_ones() {
        let parent = net("10.0.0.0/16");
        let first = parent.first_free(24, &[]).map(|n| n.to_string());
        assert_eq!(first.as_deref(), Some("10.0.0.0/24"));
        let taken = [net("10.0.0.0/24"), net("10.0.1.0/25"), net("10.0.3.0/24")];
        let next = parent.first_free(24, &taken).map(|n| n.to_string());
        assert_eq!(next.as_deref(), Some("10.0.2.0/24"));
        let small = parent.first_free(25, &taken).map(|n| n.to_string());
        assert_eq!(small.as_deref(), Some("10.0.1.128/25"));
        // A used network larger than asked covers everything.
        assert_eq!(parent.first_free(24, &[net("10.0.0.0/16")]), None);
        assert_eq!(parent.first_free(8, &[]), None, "larger than the parent");
        let full: Vec<IpNet> = (0..4)
            .map(|i| net(&format!("192.168.0.{}/26", i * 64)))
            .collect();
        assert_eq!(net("192.168.0.0/24").first_free(26, &full), None);
        let v6 = net("2001:db8::/32")
            .first_free(48, &[net("2001:db8::/48")])
            .map(|n| n.to_string());
        assert_eq!(v6.as_deref(), Some("2001:db8:1::/48"));
        assert_eq!(
            net("::/0")
                .first_free(1, &[net("::/1")])
                .map(|n| n.to_string())
                .as_deref(),
            Some("8000::/1")
        );
        assert_eq!(
            net("::/0").first_free(1, &[net("::/1"), net("8000::/1")]),
            None
        );
    }

    #[test]
    fn free_addresses_skip_what_a_subnet_reserves() {
        let subnet = net("10.0.0.0/30");
        let text = |a: Option<u128>| a.map(|a| ip_of(false, a).to_string());
        assert_eq!(
            text(subnet.first_free_address(&[], false)).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            text(subnet.first_free_address(&[], true)).as_deref(),
            Some("10.0.0.0")
        );
        let one = u128::from(u32::from(Ipv4Addr::new(10, 0, 0, 1)));
        let two = one + 1;
        assert_eq!(
            text(subnet.first_free_address(&[one], false)).as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(subnet.first_free_address(&[two, one], false), None);
        assert_eq!(
            text(net("10.0.0.0/31").first_free_address(&[], false)).as_deref(),
            Some("10.0.0.0")
        );
        assert_eq!(percent(1.0, 3.0), 33);
        assert_eq!(percent(5.0, 3.0), 100);
        assert_eq!(percent(1.0, 0.0), 0);
    }
}
