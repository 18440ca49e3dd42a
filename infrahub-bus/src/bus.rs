//! The [`MessageBus`] trait and the handles it returns.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::{Message, Result};

/// A message bus: broadcasts to every interested process, a durable work queue with competing
/// consumers, retries and dead letters, and request/reply with a timeout.
///
/// Users hold an `Arc<dyn MessageBus>` built by [`connect`](crate::connect). Every backend runs
/// the conformance suite (module `conformance`, feature `conformance`), which is this contract made
/// executable.
///
/// # Delivery contract
///
/// - [`broadcast`](MessageBus::broadcast) is fire-and-forget fan-out: each live
///   [`Subscription`] (of any process, the sender's own included) whose patterns match the
///   routing key receives the message once. Nothing is stored for subscribers that come later.
/// - [`publish`](MessageBus::publish) puts the message into the namespace's durable work queue
///   and returns once the broker has stored it (publisher confirms, JetStream acks). Each
///   message is handed to exactly one [`Consumer`] at a time and stays in the queue until a
///   [`Delivery`] settles it (ack, reply, retry, dead letter): a delivery that is dropped, or
///   whose consumer or connection goes away, is redelivered, so handlers must be idempotent
///   (at-least-once). Every delivery counts as an attempt: after
///   [`maximum_message_retries`](crate::BusConfig::maximum_message_retries) retries (retried
///   or unsettled deliveries alike) the message goes to the dead letters instead of a
///   consumer, so a message that crashes every worker does not come back forever.
/// - All consumers of a namespace share its one work queue (as upstream's workers do): the
///   patterns given to [`consume`](MessageBus::consume) are declared as bindings (RabbitMQ) but
///   a consumer may be handed any message of its namespace's queue, so every worker of one
///   namespace should handle the same routing keys.
/// - Order: per publisher, roughly in publishing order; priorities and retries reorder.
#[async_trait]
pub trait MessageBus: Send + Sync + fmt::Debug + 'static {
    /// Fan-out: every live subscription whose patterns match gets the message (the sender's
    /// own included). Not durable.
    async fn broadcast(&self, message: Message) -> Result<()>;

    /// A subscription to broadcasts whose routing key matches one of `patterns` (AMQP topic
    /// patterns: `refresh.registry.*`, `#`).
    async fn subscribe(&self, patterns: &[&str]) -> Result<Subscription>;

    /// Puts `message` into the durable work queue `<ns>.rpcs`: exactly one consumer gets it;
    /// `delay` postpones its first delivery.
    async fn publish(&self, message: Message, delay: Option<Duration>) -> Result<()>;

    /// A competing consumer of the work queue, holding at most
    /// [`maximum_concurrent_messages`](crate::BusConfig::maximum_concurrent_messages)
    /// unsettled deliveries. `patterns` are the routing keys it handles (see the trait docs).
    async fn consume(&self, patterns: &[&str]) -> Result<Consumer>;

    /// RPC: publishes `message` to the work queue with a reply address and a correlation id and
    /// waits for the reply up to `timeout` ([`ErrorKind::Timeout`](crate::ErrorKind::Timeout)
    /// naming the routing key).
    async fn request(&self, message: Message, timeout: Duration) -> Result<Message>;

    /// The dead letters (retries exhausted, malformed, rejected), for operators and tests: a
    /// competing consumer of the namespace's dead-letter queue. Each delivery carries the
    /// reason in the header `x-dead-letter-reason`.
    async fn dead_letters(&self) -> Result<Consumer>;
}

/// Header naming why a message was dead-lettered, on deliveries of
/// [`MessageBus::dead_letters`].
pub const DEAD_LETTER_REASON_HEADER: &str = "x-dead-letter-reason";

/// Broadcasts received by one [`MessageBus::subscribe`] call. Dropping it unsubscribes.
pub struct Subscription {
    receiver: mpsc::UnboundedReceiver<Message>,
    _guard: Box<dyn Send + Sync>,
}

impl Subscription {
    /// A subscription fed by `receiver`; `guard` is dropped with it (to stop a backend task).
    pub(crate) fn new(
        receiver: mpsc::UnboundedReceiver<Message>,
        guard: Box<dyn Send + Sync>,
    ) -> Self {
        Subscription {
            receiver,
            _guard: guard,
        }
    }

    /// The next broadcast; `None` once the bus is closed.
    pub async fn next(&mut self) -> Option<Message> {
        self.receiver.recv().await
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

/// Deliveries of the work queue (or of the dead letters) for one consumer. Dropping it gives
/// its unsettled deliveries back to the queue.
pub struct Consumer {
    receiver: mpsc::Receiver<Delivery>,
    _guard: Box<dyn Send + Sync>,
}

impl Consumer {
    /// A consumer fed by `receiver`; `guard` is dropped with it.
    pub(crate) fn new(receiver: mpsc::Receiver<Delivery>, guard: Box<dyn Send + Sync>) -> Self {
        Consumer {
            receiver,
            _guard: guard,
        }
    }

    /// The next delivery; `None` once the bus is closed.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.receiver.recv().await
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

/// How a backend settles one delivery.
#[async_trait]
pub(crate) trait Settle: Send + Sync {
    /// Removes the message from the queue.
    async fn ack(self: Box<Self>) -> Result<()>;
    /// Sends `response` to the requester's reply address, then acks.
    async fn reply(self: Box<Self>, response: Message) -> Result<()>;
    /// Puts `message` (with its next attempt number) back after `delay`, then acks this one.
    async fn requeue_later(
        self: Box<Self>,
        message: Message,
        next_attempt: u32,
        delay: Duration,
    ) -> Result<()>;
    /// Moves `message` to the dead letters with `reason`, then acks this one.
    async fn dead_letter(self: Box<Self>, message: Message, reason: &str) -> Result<()>;
    /// The delivery of `message` was dropped unsettled: give it back for redelivery (without
    /// waiting).
    fn abandon(self: Box<Self>, message: Message);
}

/// One message handed to a [`Consumer`], to settle exactly once.
///
/// Settle it with [`ack`](Delivery::ack), [`reply`](Delivery::reply),
/// [`retry`](Delivery::retry) or [`dead_letter`](Delivery::dead_letter); dropped unsettled, it
/// is redelivered (to this or another consumer) and that delivery counts as an attempt.
pub struct Delivery {
    message: Message,
    attempt: u32,
    reply_to: Option<String>,
    correlation_id: Option<String>,
    maximum_retries: u32,
    retry_delay: Duration,
    settle: Option<Box<dyn Settle>>,
}

/// What a backend knows about one delivery, to build a [`Delivery`].
pub(crate) struct DeliveryParts {
    pub(crate) message: Message,
    pub(crate) attempt: u32,
    pub(crate) reply_to: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) maximum_retries: u32,
    pub(crate) retry_delay: Duration,
}

impl Delivery {
    pub(crate) fn new(parts: DeliveryParts, settle: Box<dyn Settle>) -> Self {
        let mut message = parts.message;
        message.strip_reserved_headers();
        Delivery {
            message,
            attempt: parts.attempt.max(1),
            reply_to: parts.reply_to,
            correlation_id: parts.correlation_id,
            maximum_retries: parts.maximum_retries,
            retry_delay: parts.retry_delay,
            settle: Some(settle),
        }
    }

    /// The message.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// Which delivery this is: 1 for the first, one more for each delivery before it, whether
    /// it ended in [`retry`](Delivery::retry) or was never settled (dropped, or its consumer,
    /// connection or process went away).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether the sender waits for a [`reply`](Delivery::reply) (it came from
    /// [`MessageBus::request`]).
    pub fn expects_reply(&self) -> bool {
        self.reply_to.is_some()
    }

    /// The correlation id of a request, if any.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    fn take_settle(&mut self) -> Option<Box<dyn Settle>> {
        self.settle.take()
    }

    /// Removes the message from the queue: it was handled.
    pub async fn ack(mut self) {
        if let Some(settle) = self.take_settle()
            && let Err(err) = settle.ack().await
        {
            tracing::warn!(routing_key = %self.message.routing_key, "bus: ack failed, the message will be redelivered: {err}");
        }
    }

    /// Sends `response` to the requester and acks. Without a reply address (not a request) it
    /// only acks.
    pub async fn reply(mut self, response: Message) -> Result<()> {
        match self.take_settle() {
            Some(settle) if self.reply_to.is_some() => settle.reply(response).await,
            Some(settle) => settle.ack().await,
            None => Ok(()),
        }
    }

    /// Redelivers the message after [`retry_delay`](crate::BusConfig::retry_delay) with
    /// [`attempt`](Delivery::attempt) + 1; once
    /// [`maximum_message_retries`](crate::BusConfig::maximum_message_retries) retries are used
    /// up it goes to the dead letters instead. Retrying a delivery of
    /// [`MessageBus::dead_letters`] replays the message into the work queue.
    pub async fn retry(mut self) -> Result<()> {
        let Some(settle) = self.take_settle() else {
            return Ok(());
        };
        let message = self.message.clone();
        if self.attempt > self.maximum_retries {
            let reason = format!(
                "retries exhausted after {} attempts of `{}`",
                self.attempt, message.routing_key
            );
            tracing::warn!(routing_key = %message.routing_key, attempt = self.attempt, "bus: {reason}; dead-lettering");
            return settle.dead_letter(message, &reason).await;
        }
        settle
            .requeue_later(message, self.attempt + 1, self.retry_delay)
            .await
    }

    /// Moves the message to the dead letters with `reason` (shown to operators).
    pub async fn dead_letter(mut self, reason: &str) -> Result<()> {
        match self.take_settle() {
            Some(settle) => settle.dead_letter(self.message.clone(), reason).await,
            None => Ok(()),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(settle) = self.settle.take() {
            let message = std::mem::replace(&mut self.message, Message::new("", Vec::new()));
            settle.abandon(message);
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .field("attempt", &self.attempt)
            .field("expects_reply", &self.expects_reply())
            .finish_non_exhaustive()
    }
}
