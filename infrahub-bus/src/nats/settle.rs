//! Settling JetStream deliveries.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::AckKind;
use async_nats::jetstream::message::Acker;

use super::{CORRELATION_HEADER, Shared};
use crate::bus::{DeliveryParts, Settle};
use crate::{Message, Result};

/// Settles one JetStream delivery.
pub(super) struct NatsSettle {
    shared: Arc<Shared>,
    acker: Acker,
    reply_to: Option<String>,
    correlation_id: Option<String>,
}

impl NatsSettle {
    pub(super) fn new(shared: Arc<Shared>, acker: Acker, parts: &DeliveryParts) -> Self {
        NatsSettle {
            shared,
            acker,
            reply_to: parts.reply_to.clone(),
            correlation_id: parts.correlation_id.clone(),
        }
    }

    async fn ack_now(&self) -> Result<()> {
        // A double ack waits for the server's confirmation: an Ok ack is recorded.
        self.acker.double_ack().await.map_err(|err| {
            self.shared
                .unavailable("cannot acknowledge a delivery", err)
        })
    }
}

#[async_trait::async_trait]
impl Settle for NatsSettle {
    async fn ack(self: Box<Self>) -> Result<()> {
        self.ack_now().await
    }

    async fn reply(self: Box<Self>, response: Message) -> Result<()> {
        if let Some(reply_to) = &self.reply_to {
            let mut headers: HeaderMap = super::headers_of(&response);
            if let Some(correlation_id) = &self.correlation_id {
                headers.insert(CORRELATION_HEADER, correlation_id.as_str());
            }
            let client = &self.shared.client;
            client
                .publish_with_headers(reply_to.clone(), headers, response.payload.into())
                .await
                .map_err(|err| self.shared.unavailable("cannot send a reply", err))?;
            client
                .flush()
                .await
                .map_err(|err| self.shared.unavailable("cannot send a reply", err))?;
        }
        self.ack_now().await
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
        self.ack_now().await
    }

    async fn dead_letter(self: Box<Self>, message: Message, reason: &str) -> Result<()> {
        self.shared.dead_letter(&message, reason).await?;
        self.ack_now().await
    }

    fn abandon(self: Box<Self>, _message: Message) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // Without the nak the server redelivers after `ack_wait` anyway.
                let _ = self.acker.ack_with(AckKind::Nak(None)).await;
            });
        }
    }
}
