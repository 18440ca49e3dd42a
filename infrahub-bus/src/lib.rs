#![doc = include_str!("../README.md")]

mod bus;
mod config;
mod envelope;
mod error;
mod memory;
mod message;
mod topic;

#[cfg(any(feature = "amqp", feature = "nats"))]
mod tls;

#[cfg(feature = "amqp")]
mod amqp;
#[cfg(feature = "nats")]
mod nats;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

use std::sync::Arc;

pub use bus::{Consumer, DEAD_LETTER_REASON_HEADER, Delivery, MessageBus, Subscription};
pub use config::{BusBackend, BusConfig, BusTlsConfig};
pub use envelope::{BusMessage, Decoded, Envelope, Meta};
pub use error::{Error, ErrorKind, Result};
pub use memory::MemoryBus;
pub use message::Message;

#[cfg(feature = "amqp")]
pub use amqp::AmqpBus;
#[cfg(feature = "nats")]
pub use nats::NatsBus;

/// Connects the backend that `config` names. A backend whose Cargo feature is off answers
/// [`ErrorKind::InvalidInput`] saying which feature to enable.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> infrahub_bus::Result<()> {
/// use infrahub_bus::{BusConfig, Message};
///
/// let bus = infrahub_bus::connect(&BusConfig::default()).await?;
/// let mut refresh = bus.subscribe(&["refresh.registry.*"]).await?;
/// bus.broadcast(Message::new("refresh.registry.branches", Vec::new())).await?;
/// assert_eq!(refresh.next().await.unwrap().routing_key, "refresh.registry.branches");
/// # Ok(())
/// # }
/// ```
pub async fn connect(config: &BusConfig) -> Result<Arc<dyn MessageBus>> {
    match config.backend {
        BusBackend::Memory => Ok(Arc::new(MemoryBus::new(config)?)),
        #[cfg(feature = "amqp")]
        BusBackend::Amqp => Ok(Arc::new(AmqpBus::connect(config).await?)),
        #[cfg(not(feature = "amqp"))]
        BusBackend::Amqp => Err(Error::new(
            ErrorKind::InvalidInput,
            "the RabbitMQ bus backend is not built in: enable feature `amqp` of infrahub-bus",
        )),
        #[cfg(feature = "nats")]
        BusBackend::Nats => Ok(Arc::new(NatsBus::connect(config).await?)),
        #[cfg(not(feature = "nats"))]
        BusBackend::Nats => Err(Error::new(
            ErrorKind::InvalidInput,
            "the NATS bus backend is not built in: enable feature `nats` of infrahub-bus",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_conformance() {
        conformance::run_all(|| async {
            let config = BusConfig {
                namespace: format!("conformance-{}", uuid::Uuid::new_v4().simple()),
                ..conformance::config()
            };
            connect(&config).await.unwrap()
        })
        .await;
    }

    #[cfg(not(feature = "amqp"))]
    #[tokio::test]
    async fn disabled_backend_names_the_feature() {
        let config = BusConfig {
            backend: BusBackend::Amqp,
            ..BusConfig::default()
        };
        let err = connect(&config).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("enable feature `amqp`"), "{err}");
    }
}
