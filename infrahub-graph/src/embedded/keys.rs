//! Byte layouts of keys and values in the embedded store's tables.
//!
//! Every versioned record lives in `versions` under `slot ‖ branch ‖ timestamp`, where the slot
//! key starts with the node id so that one range scan reads a node's existence, attributes and
//! outgoing links. Numbers are big-endian so that byte order is numeric order.

use serde_json::Value;
use uuid::Uuid;

use crate::model::{NodeId, Slot};
use crate::time::Timestamp;

/// Branch number of the global branch.
pub(crate) const BN_GLOBAL: u32 = 0;
/// Branch number of the default branch.
pub(crate) const BN_DEFAULT: u32 = 1;

const SLOT_NODE: u8 = 0;
const SLOT_ATTRIBUTE: u8 = 1;
const SLOT_LINK: u8 = 2;

/// The key of a slot (without branch and time).
pub(crate) fn slot_key(slot: &Slot) -> Vec<u8> {
    match slot {
        Slot::Node { id } => node_slot(*id),
        Slot::Attribute { node, name } => attribute_slot(*node, name),
        Slot::Link {
            identifier,
            from,
            to,
        } => link_slot(identifier, *from, *to),
    }
}

pub(crate) fn node_slot(id: NodeId) -> Vec<u8> {
    let mut key = Vec::with_capacity(17);
    key.extend_from_slice(id.as_bytes());
    key.push(SLOT_NODE);
    key
}

pub(crate) fn attribute_slot(node: NodeId, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(18 + name.len());
    key.extend_from_slice(node.as_bytes());
    key.push(SLOT_ATTRIBUTE);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key
}

pub(crate) fn link_slot(identifier: &str, from: NodeId, to: NodeId) -> Vec<u8> {
    let mut key = link_prefix(from, identifier);
    key.extend_from_slice(to.as_bytes());
    key
}

/// Prefix of every link slot from `from` through `identifier`.
pub(crate) fn link_prefix(from: NodeId, identifier: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(34 + identifier.len());
    key.extend_from_slice(from.as_bytes());
    key.push(SLOT_LINK);
    key.extend_from_slice(identifier.as_bytes());
    key.push(0);
    key
}

/// Prefix of every link slot from `from`.
pub(crate) fn all_links_prefix(from: NodeId) -> Vec<u8> {
    let mut key = Vec::with_capacity(17);
    key.extend_from_slice(from.as_bytes());
    key.push(SLOT_LINK);
    key
}

/// The range of a node's existence, attribute and outgoing link slots.
pub(crate) fn node_and_links_range(id: NodeId) -> (Vec<u8>, Vec<u8>) {
    let mut start = Vec::with_capacity(17);
    start.extend_from_slice(id.as_bytes());
    start.push(SLOT_NODE);
    let mut end = start.clone();
    end[16] = SLOT_LINK + 1;
    (start, end)
}

/// The identifier of a link slot key, or `None` for another slot.
pub(crate) fn link_identifier(slot: &[u8]) -> Option<&[u8]> {
    if *slot.get(16)? != SLOT_LINK {
        return None;
    }
    let rest = slot.get(17..)?;
    let zero = rest.iter().position(|b| *b == 0)?;
    Some(&rest[..zero])
}

/// Prefix of the existence and attribute slots of a node.
pub(crate) fn node_data_range(id: NodeId) -> (Vec<u8>, Vec<u8>) {
    let mut start = Vec::with_capacity(17);
    start.extend_from_slice(id.as_bytes());
    start.push(SLOT_NODE);
    let mut end = start.clone();
    end[16] = SLOT_LINK;
    (start, end)
}

/// Decodes a slot key.
pub(crate) fn decode_slot(key: &[u8]) -> Option<Slot> {
    let node = Uuid::from_slice(key.get(..16)?).ok()?;
    match *key.get(16)? {
        SLOT_NODE => Some(Slot::Node { id: node }),
        SLOT_ATTRIBUTE => {
            let rest = key.get(17..key.len().checked_sub(1)?)?;
            Some(Slot::Attribute {
                node,
                name: String::from_utf8(rest.to_vec()).ok()?,
            })
        }
        SLOT_LINK => {
            let rest = key.get(17..)?;
            let zero = rest.iter().position(|b| *b == 0)?;
            let identifier = String::from_utf8(rest[..zero].to_vec()).ok()?;
            let to = Uuid::from_slice(rest.get(zero + 1..zero + 17)?).ok()?;
            Some(Slot::Link {
                identifier,
                from: node,
                to,
            })
        }
        _ => None,
    }
}

/// `slot ‖ branch ‖ ts`.
pub(crate) fn version_key(slot: &[u8], branch: u32, at: Timestamp) -> Vec<u8> {
    let mut key = Vec::with_capacity(slot.len() + 12);
    key.extend_from_slice(slot);
    key.extend_from_slice(&branch.to_be_bytes());
    key.extend_from_slice(&at.to_key());
    key
}

/// Splits a version key into slot key, branch number and timestamp.
pub(crate) fn split_version_key(key: &[u8]) -> Option<(&[u8], u32, Timestamp)> {
    let split = key.len().checked_sub(12)?;
    let (slot, suffix) = key.split_at(split);
    let branch = u32::from_be_bytes(suffix[..4].try_into().ok()?);
    let at = Timestamp::from_key(suffix[4..12].try_into().ok()?);
    Some((slot, branch, at))
}

/// `to ‖ identifier ‖ 0 ‖ from`: reverse index of links.
pub(crate) fn reverse_link_key(to: NodeId, identifier: &str, from: NodeId) -> Vec<u8> {
    let mut key = reverse_link_prefix(to, identifier);
    key.extend_from_slice(from.as_bytes());
    key
}

pub(crate) fn reverse_link_prefix(to: NodeId, identifier: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(33 + identifier.len());
    key.extend_from_slice(to.as_bytes());
    key.extend_from_slice(identifier.as_bytes());
    key.push(0);
    key
}

/// Decodes a reverse link key into (identifier, from).
pub(crate) fn decode_reverse_link(key: &[u8]) -> Option<(String, NodeId)> {
    let rest = key.get(16..)?;
    let zero = rest.iter().position(|b| *b == 0)?;
    let identifier = String::from_utf8(rest[..zero].to_vec()).ok()?;
    let from = Uuid::from_slice(rest.get(zero + 1..zero + 17)?).ok()?;
    Some((identifier, from))
}

/// `label ‖ 0 ‖ node`.
pub(crate) fn label_key(label: &str, node: NodeId) -> Vec<u8> {
    let mut key = label_prefix(label);
    key.extend_from_slice(node.as_bytes());
    key
}

pub(crate) fn label_prefix(label: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(label.len() + 17);
    key.extend_from_slice(label.as_bytes());
    key.push(0);
    key
}

/// `label ‖ 0 ‖ kind`: which kinds carry a label.
pub(crate) fn label_kind_key(label: &str, kind: &str) -> Vec<u8> {
    let mut key = label_prefix(label);
    key.extend_from_slice(kind.as_bytes());
    key
}

/// `kind ‖ 0 ‖ attribute ‖ 0`: prefix of the value index of one attribute of one kind.
pub(crate) fn value_prefix(kind: &str, attribute: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(kind.len() + attribute.len() + 2);
    key.extend_from_slice(kind.as_bytes());
    key.push(0);
    key.extend_from_slice(attribute.as_bytes());
    key.push(0);
    key
}

/// `kind ‖ 0 ‖ attribute ‖ 0 ‖ value ‖ node ‖ branch ‖ ts`.
pub(crate) fn value_key(
    kind: &str,
    attribute: &str,
    value: &Value,
    node: NodeId,
    branch: u32,
    at: Timestamp,
) -> Vec<u8> {
    let mut key = value_prefix(kind, attribute);
    encode_value(value, &mut key);
    key.extend_from_slice(node.as_bytes());
    key.extend_from_slice(&branch.to_be_bytes());
    key.extend_from_slice(&at.to_key());
    key
}

/// Splits the tail of a value-index key (after its prefix) into (encoded value, node).
pub(crate) fn split_value_tail(tail: &[u8]) -> Option<(&[u8], NodeId)> {
    let node_start = tail.len().checked_sub(28)?;
    let node = Uuid::from_slice(&tail[node_start..node_start + 16]).ok()?;
    Some((&tail[..node_start], node))
}

/// `branch ‖ ts`: the change log entry of one changeset on one branch.
pub(crate) fn change_key(branch: u32, at: Timestamp) -> Vec<u8> {
    let mut key = Vec::with_capacity(12);
    key.extend_from_slice(&branch.to_be_bytes());
    key.extend_from_slice(&at.to_key());
    key
}

/// Packs the slots a changeset wrote on one branch, each with its note (the kind a value was
/// indexed under, or empty).
pub(crate) fn encode_changes<'a>(entries: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (slot, note) in entries {
        out.extend_from_slice(&(slot.len() as u16).to_be_bytes());
        out.extend_from_slice(slot);
        out.extend_from_slice(&(note.len() as u16).to_be_bytes());
        out.extend_from_slice(note);
    }
    out
}

/// Unpacks [`encode_changes`].
pub(crate) fn decode_changes(bytes: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    let take = |at: &mut usize| -> Option<&[u8]> {
        let length = u16::from_be_bytes(bytes.get(*at..*at + 2)?.try_into().ok()?) as usize;
        let part = bytes.get(*at + 2..*at + 2 + length)?;
        *at += 2 + length;
        Some(part)
    };
    while at < bytes.len() {
        let (Some(slot), Some(note)) = (take(&mut at), take(&mut at)) else {
            break;
        };
        out.push((slot, note));
    }
    out
}

/// `branch ‖ label ‖ 0 ‖ ts`: node counters.
pub(crate) fn count_key(label: &str, branch: u32, at: Timestamp) -> Vec<u8> {
    let mut key = Vec::with_capacity(label.len() + 13);
    key.extend_from_slice(&branch.to_be_bytes());
    key.extend_from_slice(label.as_bytes());
    key.push(0);
    key.extend_from_slice(&at.to_key());
    key
}

const TAG_FALSE: u8 = 0x02;
const TAG_TRUE: u8 = 0x03;
const TAG_NUMBER: u8 = 0x04;
const TAG_STRING: u8 = 0x06;
const TAG_OTHER: u8 = 0x07;
const TAG_NULL: u8 = 0xFE;

/// Appends an order-preserving, self-terminating encoding of `value`: false < true < numbers
/// < strings < other JSON < null.
pub(crate) fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Number(number) => {
            // One order for integers and floats: by value as a double.
            let float = number.as_f64().unwrap_or(0.0);
            let bits = float.to_bits();
            let ordered = if float.is_sign_negative() {
                !bits
            } else {
                bits ^ (1 << 63)
            };
            out.push(TAG_NUMBER);
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Value::String(text) => {
            out.push(TAG_STRING);
            escape(text.as_bytes(), out);
        }
        other => {
            out.push(TAG_OTHER);
            escape(other.to_string().as_bytes(), out);
        }
    }
}

fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

#[cfg(test)]
/// Decodes a value encoded by [`encode_value`] (strings and scalars; other JSON re-parsed).
pub(crate) fn decode_value(bytes: &[u8]) -> Option<Value> {
    let (&tag, rest) = bytes.split_first()?;
    match tag {
        TAG_NULL => Some(Value::Null),
        TAG_FALSE => Some(Value::Bool(false)),
        TAG_TRUE => Some(Value::Bool(true)),
        TAG_NUMBER => {
            let raw = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
            let bits = if raw & (1 << 63) != 0 {
                raw ^ (1 << 63)
            } else {
                !raw
            };
            let float = f64::from_bits(bits);
            if float.fract() == 0.0 && float.abs() < 9.0e15 {
                Some(Value::from(float as i64))
            } else {
                serde_json::Number::from_f64(float).map(Value::Number)
            }
        }
        TAG_STRING | TAG_OTHER => {
            let mut text = Vec::with_capacity(rest.len());
            let mut i = 0;
            while i < rest.len() {
                if rest[i] == 0 {
                    if rest.get(i + 1) == Some(&0xFF) {
                        text.push(0);
                        i += 2;
                        continue;
                    }
                    break;
                }
                text.push(rest[i]);
                i += 1;
            }
            if tag == TAG_STRING {
                String::from_utf8(text).ok().map(Value::String)
            } else {
                serde_json::from_slice(&text).ok()
            }
        }
        _ => None,
    }
}

/// The smallest key greater than every key starting with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xFF; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn slots_round_trip() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        for slot in [
            Slot::Node { id: a },
            Slot::Attribute {
                node: a,
                name: "name".into(),
            },
            Slot::Link {
                identifier: "infradevice__infrasite".into(),
                from: a,
                to: b,
            },
        ] {
            let key = slot_key(&slot);
            assert_eq!(decode_slot(&key), Some(slot.clone()));
            let version = version_key(&key, 7, Timestamp::from_micros(42));
            let (slot_part, branch, at) =
                split_version_key(&version).unwrap_or((&[], 0, Timestamp::MIN));
            assert_eq!(
                (slot_part, branch, at),
                (&key[..], 7, Timestamp::from_micros(42))
            );
        }
    }

    #[test]
    fn encoded_values_sort_like_values_and_nulls_last() {
        let values = [
            json!(false),
            json!(true),
            json!(-5),
            json!(2.5),
            json!(3),
            json!(10),
            json!(1000),
            json!("a"),
            json!("ab"),
            json!("b"),
            json!(null),
        ];
        let encoded: Vec<Vec<u8>> = values
            .iter()
            .map(|v| {
                let mut out = Vec::new();
                encode_value(v, &mut out);
                out
            })
            .collect();
        for pair in encoded.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        for (value, bytes) in values.iter().zip(&encoded) {
            assert_eq!(decode_value(bytes).as_ref(), Some(value));
        }
        let mut with_zero = Vec::new();
        encode_value(&json!("a\u{0}b"), &mut with_zero);
        assert_eq!(decode_value(&with_zero), Some(json!("a\u{0}b")));
    }

    #[test]
    fn float_order() {
        let mut prev: Option<Vec<u8>> = None;
        for f in [-10.5, -0.5, 0.5, 2.25] {
            let mut out = Vec::new();
            encode_value(&json!(f), &mut out);
            if let Some(p) = &prev {
                assert!(p < &out);
            }
            assert_eq!(decode_value(&out), Some(json!(f)));
            prev = Some(out);
        }
    }
}
