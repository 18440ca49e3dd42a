//! Binary form of versions in the `versions` table.

use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{AttributeValue, LinkProperties, Status, VersionData};

const DELETED: u8 = 1;
const LOCAL: u8 = 2;

const DATA_NODE: u8 = 0;
const DATA_ATTRIBUTE: u8 = 1;
const DATA_LINK: u8 = 2;
const DATA_NONE: u8 = 3;

/// A decoded version value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stored {
    pub(crate) status: Status,
    pub(crate) local: bool,
    /// For attribute versions: whether the value is in the value index.
    pub(crate) indexed: bool,
    pub(crate) data: VersionData,
}

impl Stored {
    pub(crate) fn is_active(&self) -> bool {
        self.status == Status::Active
    }
}

fn push_uuid(out: &mut Vec<u8>, id: Option<Uuid>) {
    if let Some(id) = id {
        out.extend_from_slice(id.as_bytes());
    }
}

pub(crate) fn encode(status: Status, local: bool, indexed: bool, data: &VersionData) -> Vec<u8> {
    let mut flags = 0;
    if status == Status::Deleted {
        flags |= DELETED;
    }
    if local {
        flags |= LOCAL;
    }
    let mut out = vec![flags];
    match data {
        VersionData::Node { kind, labels } => {
            out.push(DATA_NODE);
            out.extend_from_slice(kind.as_bytes());
            for label in labels {
                out.push(0);
                out.extend_from_slice(label.as_bytes());
            }
        }
        VersionData::Attribute(value) => {
            out.push(DATA_ATTRIBUTE);
            let bits = u8::from(value.is_default)
                | u8::from(value.is_protected) << 1
                | u8::from(value.is_visible) << 2
                | u8::from(value.source.is_some()) << 3
                | u8::from(value.owner.is_some()) << 4
                | u8::from(indexed) << 5
                | u8::from(value.is_from_profile) << 6;
            out.push(bits);
            push_uuid(&mut out, value.source);
            push_uuid(&mut out, value.owner);
            out.extend_from_slice(value.value.to_string().as_bytes());
        }
        VersionData::Link(props) => {
            out.push(DATA_LINK);
            let bits = u8::from(props.is_protected)
                | u8::from(props.is_visible) << 1
                | u8::from(props.source.is_some()) << 2
                | u8::from(props.owner.is_some()) << 3;
            out.push(bits);
            push_uuid(&mut out, props.source);
            push_uuid(&mut out, props.owner);
            if let Some(hierarchy) = &props.hierarchy {
                out.extend_from_slice(hierarchy.as_bytes());
            }
        }
        VersionData::None => out.push(DATA_NONE),
    }
    out
}

fn corrupt() -> Error {
    Error::new(
        ErrorKind::Storage,
        "corrupt version record in the embedded store",
    )
}

fn take_uuid(bytes: &[u8], at: &mut usize, present: bool) -> Result<Option<Uuid>> {
    if !present {
        return Ok(None);
    }
    let slice = bytes.get(*at..*at + 16).ok_or_else(corrupt)?;
    *at += 16;
    Ok(Some(Uuid::from_slice(slice).map_err(|_| corrupt())?))
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Stored> {
    let (&flags, rest) = bytes.split_first().ok_or_else(corrupt)?;
    let (&kind, payload) = rest.split_first().ok_or_else(corrupt)?;
    let status = if flags & DELETED != 0 {
        Status::Deleted
    } else {
        Status::Active
    };
    let local = flags & LOCAL != 0;
    let mut indexed = false;
    let data = match kind {
        DATA_NODE => {
            let text = std::str::from_utf8(payload).map_err(|_| corrupt())?;
            let mut parts = text.split('\0');
            let kind = parts.next().unwrap_or_default().to_string();
            VersionData::Node {
                kind,
                labels: parts.map(str::to_string).collect(),
            }
        }
        DATA_ATTRIBUTE => {
            let (&bits, _) = payload.split_first().ok_or_else(corrupt)?;
            let mut at = 1;
            let source = take_uuid(payload, &mut at, bits & 8 != 0)?;
            let owner = take_uuid(payload, &mut at, bits & 16 != 0)?;
            let value = serde_json::from_slice(&payload[at..]).map_err(|_| corrupt())?;
            indexed = bits & 32 != 0;
            VersionData::Attribute(AttributeValue {
                value,
                is_default: bits & 1 != 0,
                is_protected: bits & 2 != 0,
                is_visible: bits & 4 != 0,
                source,
                owner,
                is_from_profile: bits & 64 != 0,
            })
        }
        DATA_LINK => {
            let (&bits, _) = payload.split_first().ok_or_else(corrupt)?;
            let mut at = 1;
            let source = take_uuid(payload, &mut at, bits & 4 != 0)?;
            let owner = take_uuid(payload, &mut at, bits & 8 != 0)?;
            let hierarchy = std::str::from_utf8(&payload[at..]).map_err(|_| corrupt())?;
            VersionData::Link(LinkProperties {
                is_protected: bits & 1 != 0,
                is_visible: bits & 2 != 0,
                source,
                owner,
                hierarchy: (!hierarchy.is_empty()).then(|| hierarchy.to_string()),
            })
        }
        DATA_NONE => VersionData::None,
        _ => return Err(corrupt()),
    };
    Ok(Stored {
        status,
        local,
        indexed,
        data,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn versions_round_trip() {
        let cases = [
            (
                Status::Active,
                false,
                VersionData::Node {
                    kind: "InfraDevice".into(),
                    labels: vec!["InfraDevice".into(), "CoreNode".into()],
                },
            ),
            (
                Status::Active,
                true,
                VersionData::Attribute(AttributeValue {
                    value: json!({"a": [1, "x"]}),
                    is_default: true,
                    is_protected: false,
                    is_visible: true,
                    source: Some(Uuid::now_v7()),
                    owner: None,
                    is_from_profile: true,
                }),
            ),
            (
                Status::Active,
                false,
                VersionData::Link(LinkProperties {
                    is_protected: true,
                    is_visible: false,
                    source: None,
                    owner: Some(Uuid::now_v7()),
                    hierarchy: Some("LocationGeneric".into()),
                }),
            ),
            (Status::Deleted, false, VersionData::None),
        ];
        for (status, local, data) in cases {
            let indexed = matches!(data, VersionData::Attribute(_));
            let decoded = decode(&encode(status, local, indexed, &data)).ok();
            assert_eq!(
                decoded,
                Some(Stored {
                    status,
                    local,
                    indexed,
                    data
                })
            );
        }
    }
}
