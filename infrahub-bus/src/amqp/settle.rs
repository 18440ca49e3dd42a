//! Settling AMQP deliveries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::Shared;
use super::acks::AckBook;
use crate::bus::{DeliveryParts, Settle};
use crate::{Message, Result};

/// Settles one delivery of `<ns>.rpcs` or `<ns>.dead-letters`.
pub(super) struct AmqpSettle {
    shared: Arc<Shared>,
    book: Arc<AckBook>,
    tag: u64,
    reply_to: Option<String>,
    correlation_id: Option<String>,
}

impl AmqpSettle {
    pub(super) fn new(
        shared: Arc<Shared>,
        book: Arc<AckBook>,
        tag: u64,
        parts: &DeliveryParts,
    ) -> Self {
        AmqpSettle {
            shared,
            book,
            tag,
            reply_to: parts.reply_to.clone(),
            correlation_id: parts.correlation_id.clone(),
        }
    }

    /// Hands the ack to the channel's book, which sends it with the next frame: a consumer
    /// that dies before that frame gets the message again, as with any unacked delivery.
    fn ack_now(&self) -> Result<()> {
        self.book.ack(self.tag);
        Ok(())
    }
}

#[async_trait]
impl Settle for AmqpSettle {
    async fn ack(self: Box<Self>) -> Result<()> {
        self.ack_now()
    }

    async fn reply(self: Box<Self>, response: Message) -> Result<()> {
        if let Some(reply_to) = &self.reply_to {
            let mut properties = lapin::BasicProperties::default()
                .with_headers(super::headers_of(&response))
                .with_type(response.routing_key.as_str().into());
            if let Some(correlation_id) = &self.correlation_id {
                properties = properties.with_correlation_id(correlation_id.as_str().into());
            }
            // The requester's queue may be gone (it timed out or exited): not mandatory.
            self.shared
                .publish_confirmed("", reply_to, &response.payload, properties, false)
                .await?;
        }
        self.ack_now()
    }

    async fn requeue_later(
        self: Box<Self>,
        message: Message,
        next_attempt: u32,
        delay: Duration,
    ) -> Result<()> {
        let reply = self.reply_to.as_deref().zip(self.correlation_id.as_deref());
        self.shared
            .enqueue(&message, next_attempt, Some(delay), reply)
            .await?;
        self.ack_now()
    }

    async fn dead_letter(self: Box<Self>, message: Message, reason: &str) -> Result<()> {
        self.shared.dead_letter(&message, reason).await?;
        self.ack_now()
    }

    fn abandon(self: Box<Self>, _message: Message) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            // A closed channel gives its unacked messages back by itself.
            runtime.spawn(async move { self.book.nack(self.tag, true).await });
        }
    }
}
