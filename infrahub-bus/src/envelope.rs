//! Typed, versioned message bodies: the JSON [`Envelope`] around a [`BusMessage`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Consumer, Delivery, Error, ErrorKind, Message, Result};

/// A message type of the bus: its routing key and the version of its body.
///
/// Bump `VERSION` when the body changes incompatibly: a receiver refuses (dead-letters)
/// envelopes newer than the version it knows.
///
/// # Examples
///
/// ```
/// use infrahub_bus::{BusMessage, Message, Meta};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct EchoRequest {
///     message: String,
/// }
///
/// impl BusMessage for EchoRequest {
///     const ROUTING_KEY: &'static str = "send.echo.request";
///     const VERSION: u32 = 1;
/// }
///
/// let message = Message::encode(&EchoRequest { message: "hi".into() }, Meta::default()).unwrap();
/// assert_eq!(message.routing_key, "send.echo.request");
/// ```
pub trait BusMessage: Serialize + DeserializeOwned {
    /// The routing key messages of this type are sent with (also the envelope's `kind`).
    const ROUTING_KEY: &'static str;
    /// The version of the body's shape.
    const VERSION: u32;
}

/// Upstream's `meta` fields that travel in the body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The request id of the log context that sent the message (`""` when none).
    #[serde(default)]
    pub request_id: String,
    /// The correlation id of a request and of its reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The identity of the process that first sent the message (broadcast handlers skip their
    /// own messages with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator_id: Option<String>,
    /// How many times the message was retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
}

/// The JSON body of a typed message: `{"version", "kind", "meta", "body"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// [`BusMessage::VERSION`] of the sender.
    pub version: u32,
    /// [`BusMessage::ROUTING_KEY`] of the body's type.
    pub kind: String,
    /// Upstream's meta fields.
    #[serde(default)]
    pub meta: Meta,
    /// The message itself.
    pub body: T,
}

impl Message {
    /// A message carrying `body` in an [`Envelope`], sent with `T::ROUTING_KEY`.
    pub fn encode<T: BusMessage>(body: &T, meta: Meta) -> Result<Message> {
        let envelope = Envelope {
            version: T::VERSION,
            kind: T::ROUTING_KEY.to_owned(),
            meta,
            body,
        };
        let payload = serde_json::to_vec(&envelope).map_err(|err| {
            Error::with_source(
                ErrorKind::InvalidInput,
                format!("cannot encode message `{}`", T::ROUTING_KEY),
                err,
            )
        })?;
        Ok(Message::new(T::ROUTING_KEY, payload))
    }

    /// The envelope of this message as a `T`: refused ([`ErrorKind::InvalidInput`]) when the
    /// payload is not an envelope, is of another kind or of a newer version than `T`'s.
    pub fn decode<T: BusMessage>(&self) -> Result<(Meta, T)> {
        let invalid = |detail: String| {
            Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "message `{}` is not a valid `{}` envelope: {detail}",
                    self.routing_key,
                    T::ROUTING_KEY
                ),
            )
        };
        #[derive(Deserialize)]
        struct Header {
            version: u32,
            kind: String,
        }
        let header: Header =
            serde_json::from_slice(&self.payload).map_err(|err| invalid(err.to_string()))?;
        if header.kind != T::ROUTING_KEY {
            return Err(invalid(format!("its kind is `{}`", header.kind)));
        }
        if header.version > T::VERSION {
            return Err(invalid(format!(
                "its version {} is newer than the known version {}",
                header.version,
                T::VERSION
            )));
        }
        let envelope: Envelope<T> =
            serde_json::from_slice(&self.payload).map_err(|err| invalid(err.to_string()))?;
        Ok((envelope.meta, envelope.body))
    }
}

impl Delivery {
    /// The delivered envelope as a `T` (see [`Message::decode`]); `meta.retry_count` is at
    /// least the number of retries this delivery went through.
    pub fn decode<T: BusMessage>(&self) -> Result<(Meta, T)> {
        let (mut meta, body) = self.message().decode::<T>()?;
        let retries = self.attempt().saturating_sub(1);
        if retries > 0 {
            meta.retry_count = Some(meta.retry_count.unwrap_or(0).max(retries));
        }
        Ok((meta, body))
    }
}

/// A delivery whose envelope decoded, with its meta and body.
#[derive(Debug)]
pub struct Decoded<T> {
    /// The delivery, to settle.
    pub delivery: Delivery,
    /// The envelope's meta.
    pub meta: Meta,
    /// The envelope's body.
    pub body: T,
}

impl Consumer {
    /// The next delivery whose envelope decodes as a `T`. Deliveries that do not decode (bad
    /// JSON, another kind, a newer version) are dead-lettered with a warning and skipped: a
    /// malformed message never stops the consumer. `None` once the bus is closed.
    pub async fn next_decoded<T: BusMessage>(&mut self) -> Option<Decoded<T>> {
        loop {
            let delivery = self.next().await?;
            match delivery.decode::<T>() {
                Ok((meta, body)) => {
                    return Some(Decoded {
                        delivery,
                        meta,
                        body,
                    });
                }
                Err(err) => {
                    tracing::warn!(routing_key = %delivery.message().routing_key, "bus: dead-lettering a message that does not decode: {err}");
                    let reason = err.to_string();
                    if let Err(err) = delivery.dead_letter(&reason).await {
                        tracing::warn!(
                            "bus: dead-lettering failed, the message will be redelivered: {err}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Echo {
        message: String,
    }

    impl BusMessage for Echo {
        const ROUTING_KEY: &'static str = "send.echo.request";
        const VERSION: u32 = 2;
    }

    #[test]
    fn round_trip_and_refusals() {
        let meta = Meta {
            request_id: "r".into(),
            correlation_id: Some("c".into()),
            ..Meta::default()
        };
        let message = Message::encode(
            &Echo {
                message: "hi".into(),
            },
            meta.clone(),
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(json["meta"]["request_id"], "r");
        assert!(json["meta"].get("initiator_id").is_none());
        let (decoded_meta, body) = message.decode::<Echo>().unwrap();
        assert_eq!(decoded_meta, meta);
        assert_eq!(body.message, "hi");

        let bad = Message::new("send.echo.request", b"{nope".to_vec());
        assert_eq!(
            bad.decode::<Echo>().unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let other_kind = Message::new(
            "send.echo.request",
            br#"{"version":1,"kind":"x","meta":{},"body":{"message":"a"}}"#.to_vec(),
        );
        assert!(
            other_kind
                .decode::<Echo>()
                .unwrap_err()
                .to_string()
                .contains("kind is `x`")
        );
        let newer = Message::new(
            "send.echo.request",
            br#"{"version":3,"kind":"send.echo.request","body":{"message":"a"}}"#.to_vec(),
        );
        assert!(
            newer
                .decode::<Echo>()
                .unwrap_err()
                .to_string()
                .contains("newer")
        );
        let older = Message::new(
            "send.echo.request",
            br#"{"version":1,"kind":"send.echo.request","body":{"message":"a"}}"#.to_vec(),
        );
        assert_eq!(older.decode::<Echo>().unwrap().1.message, "a");
    }
}
