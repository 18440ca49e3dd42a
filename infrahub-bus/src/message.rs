//! The message that travels on the bus.

use std::collections::BTreeMap;

/// Header names the backends use for their own bookkeeping; they are removed from
/// [`Message::headers`] before a message is handed to a consumer.
pub(crate) const HEADER_PREFIX: &str = "x-infrahub-";

/// One message: a routing key, an opaque payload (usually a JSON [`Envelope`]), string headers
/// and a priority.
///
/// [`Envelope`]: crate::Envelope
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Dot-separated words (`refresh.registry.branches`), matched by topic patterns.
    pub routing_key: String,
    /// The body.
    pub payload: Vec<u8>,
    /// Application headers. Names starting with `x-infrahub-` are reserved for the bus.
    pub headers: BTreeMap<String, String>,
    /// 0 (lowest) to 5 (highest), default 3 as upstream. A hint: backends may deliver in
    /// publishing order regardless.
    pub priority: u8,
}

impl Message {
    /// The default priority (upstream's).
    pub const DEFAULT_PRIORITY: u8 = 3;
    /// The highest priority the work queue distinguishes.
    pub const MAX_PRIORITY: u8 = 5;

    /// A message with no headers and the default priority.
    pub fn new(routing_key: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Message {
            routing_key: routing_key.into(),
            payload: payload.into(),
            headers: BTreeMap::new(),
            priority: Self::DEFAULT_PRIORITY,
        }
    }

    /// The same message with another priority (clamped to [`Message::MAX_PRIORITY`]).
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = priority.min(Self::MAX_PRIORITY);
        self
    }

    /// The same message with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Removes the bus's reserved headers (`x-infrahub-*`), as consumers see the message.
    pub(crate) fn strip_reserved_headers(&mut self) {
        self.headers
            .retain(|name, _| !name.starts_with(HEADER_PREFIX));
    }
}
