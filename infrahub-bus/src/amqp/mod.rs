//! The RabbitMQ backend (AMQP 0-9-1 over lapin), with upstream Infrahub's topology.

mod acks;
mod link;
mod settle;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::Confirmation;
use lapin::options::{
    BasicPublishOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use self::acks::AckBook;
use self::link::{Link, declare_delay, establish, manual_ack, map_error};
use crate::bus::DeliveryParts;
use crate::message::HEADER_PREFIX;
use crate::topic::{check_patterns, check_routing_key};
use crate::{
    BusConfig, Consumer, Delivery, Error, ErrorKind, Message, MessageBus, Result, Subscription,
};

/// Header carrying a work message's routing key (work messages travel to `<ns>.rpcs` through
/// the default exchange, whose routing key is the queue's name).
const ROUTING_KEY_HEADER: &str = "x-infrahub-routing-key";
/// Header carrying the delivery attempt (1 for the first).
const ATTEMPT_HEADER: &str = "x-infrahub-attempt";

/// The names of a namespace's exchanges and queues (upstream's for the shared ones).
#[derive(Clone, Debug)]
pub(crate) struct Names {
    events: String,
    dlx: String,
    delayed: String,
    rpcs: String,
    dead_letters: String,
    namespace: String,
}

impl Names {
    fn new(namespace: &str) -> Self {
        Names {
            events: format!("{namespace}.events"),
            dlx: format!("{namespace}.dlx"),
            delayed: format!("{namespace}.delayed"),
            rpcs: format!("{namespace}.rpcs"),
            dead_letters: format!("{namespace}.dead-letters"),
            namespace: namespace.to_owned(),
        }
    }

    fn delay_queue(&self, delay_ms: u64) -> String {
        let ns = &self.namespace;
        match delay_ms {
            5_000 => format!("{ns}.delay.five_seconds"),
            10_000 => format!("{ns}.delay.ten_seconds"),
            20_000 => format!("{ns}.delay.twenty_seconds"),
            other => format!("{ns}.delay.{other}ms"),
        }
    }
}

/// The RabbitMQ bus. See the crate documentation for the topology.
///
/// It keeps one connection (plus one channel per consumer and subscription); when the
/// connection drops it reconnects with a backoff capped at 5 s and declares the topology
/// again, and consumers and subscriptions resume on the new connection. Calls made while it
/// is down fail with [`ErrorKind::Unavailable`] naming the broker.
pub struct AmqpBus {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    config: BusConfig,
    endpoint: String,
    names: Names,
    /// `<ns>.callback.<id>`: this process's reply queue (exclusive).
    callback_queue: String,
    bus_id: String,
    link: watch::Sender<Option<Arc<Link>>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Message>>>,
    shutdown: CancellationToken,
    tls: Option<Arc<rustls::ClientConfig>>,
    next_queue: AtomicU64,
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBus")
            .field("endpoint", &self.shared.endpoint)
            .field("namespace", &self.shared.names.namespace)
            .finish_non_exhaustive()
    }
}

impl Drop for AmqpBus {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

impl AmqpBus {
    /// Connects to the RabbitMQ of `config` and declares the namespace's topology.
    pub async fn connect(config: &BusConfig) -> Result<AmqpBus> {
        config.validate()?;
        let tls = if config.tls.enabled {
            Some(crate::tls::client_config(&config.tls)?)
        } else {
            None
        };
        let bus_id = uuid::Uuid::new_v4().simple().to_string();
        let names = Names::new(&config.namespace);
        let shared = Arc::new(Shared {
            config: config.clone(),
            endpoint: config.endpoint(),
            callback_queue: format!("{}.callback.{bus_id}", config.namespace),
            names,
            bus_id,
            link: watch::channel(None).0,
            pending: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            tls,
            next_queue: AtomicU64::new(0),
        });
        let link = shared.open_link().await?;
        shared.link.send_replace(Some(Arc::clone(&link)));
        tokio::spawn(supervise(Arc::clone(&shared), link));
        Ok(AmqpBus { shared })
    }

    /// Deletes the namespace's queues and exchanges from the broker of `config` (tests,
    /// decommissioning). Messages in them are lost.
    pub async fn delete_namespace(config: &BusConfig) -> Result<()> {
        let tls = if config.tls.enabled {
            Some(crate::tls::client_config(&config.tls)?)
        } else {
            None
        };
        let names = Names::new(&config.namespace);
        let endpoint = config.endpoint();
        let link = establish(config, &names, tls).await?;
        let channel = &link.publisher;
        let delete = |err| map_error(&endpoint, "cannot delete the namespace", err);
        let mut queues = vec![names.rpcs.clone(), names.dead_letters.clone()];
        queues.extend(
            [5_000, 10_000, 20_000, 200, 500]
                .into_iter()
                .chain([config.retry_delay.as_millis() as u64])
                .map(|ms| names.delay_queue(ms)),
        );
        for queue in queues {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(delete)?;
        }
        for exchange in [&names.events, &names.dlx, &names.delayed] {
            channel
                .exchange_delete(exchange.as_str().into(), Default::default())
                .await
                .map_err(delete)?;
        }
        let _ = link.connection.close(200, "namespace deleted".into()).await;
        Ok(())
    }
}

impl Shared {
    /// A new connection with the topology declared and the reply queue consumed.
    async fn open_link(self: &Arc<Self>) -> Result<Arc<Link>> {
        let link = Arc::new(establish(&self.config, &self.names, self.tls.clone()).await?);
        let channel = self.channel(&link).await?;
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(
                self.callback_queue.as_str().into(),
                options,
                FieldTable::default(),
            )
            .await
            .map_err(|err| self.error("cannot declare the reply queue", err))?;
        let mut replies = channel
            .basic_consume(
                self.callback_queue.as_str().into(),
                ShortString::from(""),
                lapin::options::BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|err| self.error("cannot consume the reply queue", err))?;
        let shared = Arc::downgrade(self);
        tokio::spawn(async move {
            let _channel = channel;
            while let Some(Ok(delivery)) = replies.next().await {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let Some(correlation_id) = delivery.properties.correlation_id() else {
                    continue;
                };
                let waiter = shared
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(correlation_id.as_str());
                if let Some(waiter) = waiter {
                    let _ = waiter.send(to_message(delivery));
                }
            }
        });
        Ok(link)
    }

    fn error(&self, context: &str, err: lapin::Error) -> Error {
        map_error(&self.endpoint, context, err)
    }

    /// The live connection, or `Unavailable` while reconnecting.
    fn link(&self) -> Result<Arc<Link>> {
        if self.shutdown.is_cancelled() {
            return Err(Error::new(ErrorKind::Closed, "the message bus is closed"));
        }
        self.link.borrow().clone().ok_or_else(|| {
            Error::unavailable(&self.endpoint, "the connection is lost, reconnecting")
        })
    }

    async fn channel(&self, link: &Link) -> Result<Channel> {
        link.connection
            .create_channel()
            .await
            .map_err(|err| self.error("cannot open a channel", err))
    }

    /// Publishes and waits for the broker's confirm; `mandatory` refuses unroutable
    /// messages.
    async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
        mandatory: bool,
    ) -> Result<()> {
        let link = self.link()?;
        self.publish_on(&link, exchange, routing_key, payload, properties, mandatory)
            .await
    }

    async fn publish_on(
        &self,
        link: &Link,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
        mandatory: bool,
    ) -> Result<()> {
        let options = BasicPublishOptions {
            mandatory,
            ..BasicPublishOptions::default()
        };
        let confirm = link
            .publisher
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                options,
                payload,
                properties,
            )
            .await
            .map_err(|err| self.error("cannot publish", err))?;
        let confirmation = tokio::time::timeout(self.config.connect_timeout, confirm)
            .await
            .map_err(|_| {
                Error::unavailable(
                    &self.endpoint,
                    format!(
                        "a message for `{routing_key}` was not confirmed within {:?}",
                        self.config.connect_timeout
                    ),
                )
            })?
            .map_err(|err| self.error("publish not confirmed", err))?;
        match confirmation {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(_)) => Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "the broker at {} could not route a message to `{routing_key}` (was the \
                     namespace's topology deleted?)",
                    self.endpoint
                ),
            )),
            Confirmation::Nack(_) => Err(Error::unavailable(
                &self.endpoint,
                format!("the broker refused to store a message for `{routing_key}`"),
            )),
        }
    }

    /// Puts a work message into `<ns>.rpcs` (through `<ns>.delayed` when `delay` is set).
    async fn enqueue(
        &self,
        message: &Message,
        attempt: u32,
        delay: Option<Duration>,
        reply: Option<(&str, &str)>,
    ) -> Result<()> {
        let mut headers = headers_of(message);
        headers.insert(
            ROUTING_KEY_HEADER.into(),
            AMQPValue::LongString(message.routing_key.as_str().into()),
        );
        headers.insert(
            ATTEMPT_HEADER.into(),
            AMQPValue::LongLongInt(attempt.into()),
        );
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_priority(message.priority.min(Message::MAX_PRIORITY));
        if let Some((reply_to, correlation_id)) = reply {
            properties = properties
                .with_reply_to(reply_to.into())
                .with_correlation_id(correlation_id.into());
        }
        let link = self.link()?;
        match delay.map(|delay| delay.as_millis() as u64) {
            Some(delay_ms) if delay_ms > 0 => {
                declare_delay(&link, &self.names, delay_ms)
                    .await
                    .map_err(|err| self.error("cannot declare a delay queue", err))?;
                headers.insert("delay".into(), AMQPValue::LongLongInt(delay_ms as i64));
                let properties = properties.with_headers(headers);
                self.publish_on(
                    &link,
                    &self.names.delayed,
                    &self.names.rpcs,
                    &message.payload,
                    properties,
                    true,
                )
                .await
            }
            _ => {
                let properties = properties.with_headers(headers);
                self.publish_on(
                    &link,
                    "",
                    &self.names.rpcs,
                    &message.payload,
                    properties,
                    true,
                )
                .await
            }
        }
    }

    /// Moves `message` to `<ns>.dead-letters` with `reason`.
    async fn dead_letter(&self, message: &Message, reason: &str) -> Result<()> {
        let mut headers = headers_of(message);
        headers.insert(
            ROUTING_KEY_HEADER.into(),
            AMQPValue::LongString(message.routing_key.as_str().into()),
        );
        headers.insert(
            crate::DEAD_LETTER_REASON_HEADER.into(),
            AMQPValue::LongString(reason.into()),
        );
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_headers(headers);
        self.publish_confirmed(
            "",
            &self.names.dead_letters,
            &message.payload,
            properties,
            true,
        )
        .await
    }

    /// Builds a [`Delivery`] of a work or dead-letter queue.
    fn delivery(
        self: &Arc<Self>,
        book: &Arc<AckBook>,
        delivery: lapin::message::Delivery,
    ) -> Delivery {
        let attempt = header_number(&delivery.properties, ATTEMPT_HEADER).unwrap_or(1);
        let (reply_to, correlation_id) = reply_address(&delivery.properties);
        let tag = delivery.delivery_tag;
        book.delivered(tag, delivery.acker.clone());
        let message = to_message(delivery);
        let parts = DeliveryParts {
            message,
            attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
            reply_to,
            correlation_id,
            maximum_retries: self.config.maximum_message_retries,
            retry_delay: self.config.retry_delay,
        };
        let settle = settle::AmqpSettle::new(Arc::clone(self), Arc::clone(book), tag, &parts);
        Delivery::new(parts, Box::new(settle))
    }

    /// A work message the broker redelivers (its previous delivery was never settled: dropped,
    /// or its consumer or connection went away) counts as an attempt, which RabbitMQ does not
    /// count: it is republished with its attempt header one higher, or dead-lettered once the
    /// retries are used up, and only then acked (after the broker's confirm, so it is never
    /// lost).
    async fn recount(&self, book: &Arc<AckBook>, delivery: lapin::message::Delivery) {
        let previous = header_number(&delivery.properties, ATTEMPT_HEADER).unwrap_or(1);
        let previous = u32::try_from(previous).unwrap_or(u32::MAX);
        let (reply_to, correlation_id) = reply_address(&delivery.properties);
        let tag = delivery.delivery_tag;
        book.delivered(tag, delivery.acker.clone());
        let message = to_message(delivery);
        let outcome = if previous > self.config.maximum_message_retries {
            let reason = format!(
                "delivered {previous} times without being acknowledged (`{}`)",
                message.routing_key
            );
            tracing::warn!(routing_key = %message.routing_key, attempt = previous, "bus: {reason}; dead-lettering");
            self.dead_letter(&message, &reason).await
        } else {
            let reply = reply_to.as_deref().zip(correlation_id.as_deref());
            self.enqueue(&message, previous.saturating_add(1), None, reply)
                .await
        };
        match outcome {
            Ok(()) => book.ack(tag),
            Err(err) => {
                tracing::warn!(routing_key = %message.routing_key, "bus: cannot count a redelivery, giving it back: {err}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                book.nack(tag, true).await;
            }
        }
    }

    /// Opens a channel consuming `queue` with manual acks and the configured prefetch.
    async fn consume_queue(&self, link: &Link, queue: &str) -> Result<(Channel, lapin::Consumer)> {
        let channel = self.channel(link).await?;
        channel
            .basic_qos(
                self.config.maximum_concurrent_messages,
                BasicQosOptions::default(),
            )
            .await
            .map_err(|err| self.error("cannot set the prefetch", err))?;
        let consumer = channel
            .basic_consume(
                queue.into(),
                ShortString::from(""),
                manual_ack(),
                FieldTable::default(),
            )
            .await
            .map_err(|err| self.error(&format!("cannot consume `{queue}`"), err))?;
        Ok((channel, consumer))
    }

    /// Declares this subscription's exclusive queue, binds `patterns` and consumes it.
    async fn subscribe_queue(
        &self,
        link: &Link,
        queue: &str,
        patterns: &[String],
    ) -> Result<(Channel, lapin::Consumer)> {
        let channel = self.channel(link).await?;
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await
            .map_err(|err| self.error("cannot declare a subscription queue", err))?;
        for pattern in patterns {
            channel
                .queue_bind(
                    queue.into(),
                    self.names.events.as_str().into(),
                    pattern.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|err| self.error("cannot bind a subscription queue", err))?;
        }
        let consumer = channel
            .basic_consume(
                queue.into(),
                ShortString::from(""),
                lapin::options::BasicConsumeOptions {
                    no_ack: true,
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|err| self.error("cannot consume a subscription queue", err))?;
        Ok((channel, consumer))
    }

    /// Waits for a live connection other than `previous`; `None` when the bus is closed.
    async fn next_link(&self, previous: Option<&Arc<Link>>) -> Option<Arc<Link>> {
        let mut watcher = self.link.subscribe();
        loop {
            if let Some(link) = watcher.borrow_and_update().clone()
                && previous.is_none_or(|previous| !Arc::ptr_eq(previous, &link))
            {
                return Some(link);
            }
            tokio::select! {
                changed = watcher.changed() => if changed.is_err() { return None },
                () = self.shutdown.cancelled() => return None,
            }
        }
    }
}

/// Keeps the connection up: when it drops, reconnects with backoff and republishes it.
async fn supervise(shared: Arc<Shared>, mut link: Arc<Link>) {
    loop {
        loop {
            tokio::select! {
                () = shared.shutdown.cancelled() => {
                    shared.link.send_replace(None);
                    let _ = link.connection.close(200, "bus closed".into()).await;
                    return;
                }
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            if !link.connection.status().connected() {
                break;
            }
        }
        shared.link.send_replace(None);
        tracing::warn!(broker = %shared.endpoint, "bus: connection to the message broker lost, reconnecting");
        let mut backoff = Duration::from_millis(100);
        link = loop {
            tokio::select! {
                () = shared.shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            match shared.open_link().await {
                Ok(link) => break link,
                Err(err) => {
                    tracing::warn!(broker = %shared.endpoint, "bus: reconnecting failed: {err}");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        tracing::info!(broker = %shared.endpoint, "bus: reconnected to the message broker");
        shared.link.send_replace(Some(Arc::clone(&link)));
    }
}

/// Forwards a queue's deliveries to a [`Consumer`], resuming on each new connection.
async fn run_consumer(
    shared: Arc<Shared>,
    queue: String,
    mut current: Option<(Arc<Link>, Channel, lapin::Consumer)>,
    sender: mpsc::Sender<Delivery>,
) {
    let mut last_link = None;
    loop {
        let (link, channel, mut deliveries) = match current.take() {
            Some(current) => current,
            None => {
                let Some(link) = shared.next_link(last_link.as_ref()).await else {
                    return;
                };
                match shared.consume_queue(&link, &queue).await {
                    Ok((channel, deliveries)) => (link, channel, deliveries),
                    Err(err) => {
                        tracing::warn!("bus: cannot resume consuming `{queue}`: {err}");
                        drop(link);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        last_link = None;
                        continue;
                    }
                }
            }
        };
        // Acks of this channel's deliveries (tags are per channel).
        let book = Arc::new(AckBook::default());
        loop {
            tokio::select! {
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        if delivery.redelivered && queue == shared.names.rpcs {
                            // Counted and republished (or dead-lettered): the consumer gets
                            // the republished copy.
                            shared.recount(&book, delivery).await;
                            continue;
                        }
                        let delivery = shared.delivery(&book, delivery);
                        if sender.send(delivery).await.is_err() {
                            book.drain().await;
                            let _ = channel.close(200, "consumer dropped".into()).await;
                            return;
                        }
                    }
                    Some(Err(_)) | None => break,
                },
                () = sender.closed() => {
                    book.drain().await;
                    let _ = channel.close(200, "consumer dropped".into()).await;
                    return;
                }
                () = shared.shutdown.cancelled() => return,
            }
        }
        last_link = Some(link);
    }
}

/// Forwards a subscription's broadcasts, re-declaring its queue on each new connection.
async fn run_subscription(
    shared: Arc<Shared>,
    queue: String,
    patterns: Vec<String>,
    mut current: Option<(Arc<Link>, Channel, lapin::Consumer)>,
    sender: mpsc::UnboundedSender<Message>,
) {
    let mut last_link = None;
    loop {
        let (link, channel, mut deliveries) = match current.take() {
            Some(current) => current,
            None => {
                let Some(link) = shared.next_link(last_link.as_ref()).await else {
                    return;
                };
                match shared.subscribe_queue(&link, &queue, &patterns).await {
                    Ok((channel, deliveries)) => (link, channel, deliveries),
                    Err(err) => {
                        tracing::warn!("bus: cannot resume the subscription `{queue}`: {err}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
        };
        loop {
            tokio::select! {
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        let mut message = to_message(delivery);
                        message.strip_reserved_headers();
                        if sender.send(message).is_err() {
                            let _ = channel.close(200, "subscription dropped".into()).await;
                            return;
                        }
                    }
                    Some(Err(_)) | None => break,
                },
                () = sender.closed() => {
                    let _ = channel.close(200, "subscription dropped".into()).await;
                    return;
                }
                () = shared.shutdown.cancelled() => return,
            }
        }
        last_link = Some(link);
    }
}

/// The reply queue and correlation id of a request (both `None` for other messages).
fn reply_address(properties: &lapin::BasicProperties) -> (Option<String>, Option<String>) {
    (
        properties.reply_to().as_ref().map(|r| r.to_string()),
        properties.correlation_id().as_ref().map(|c| c.to_string()),
    )
}

/// The message of a delivery: routing key from the header set at publishing, or the
/// delivery's own.
fn to_message(delivery: lapin::message::Delivery) -> Message {
    let mut headers = BTreeMap::new();
    if let Some(table) = delivery.properties.headers() {
        for (name, value) in table.inner() {
            if let Some(text) = value_text(value) {
                headers.insert(name.to_string(), text);
            }
        }
    }
    let routing_key = headers
        .get(ROUTING_KEY_HEADER)
        .cloned()
        .unwrap_or_else(|| delivery.routing_key.to_string());
    headers.remove("delay");
    Message {
        routing_key,
        payload: delivery.data,
        headers,
        priority: delivery
            .properties
            .priority()
            .unwrap_or(Message::DEFAULT_PRIORITY),
    }
}

fn value_text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(text) => Some(String::from_utf8_lossy(text.as_bytes()).into_owned()),
        AMQPValue::ShortString(text) => Some(text.to_string()),
        AMQPValue::Boolean(flag) => Some(flag.to_string()),
        AMQPValue::ShortShortInt(n) => Some(n.to_string()),
        AMQPValue::ShortShortUInt(n) => Some(n.to_string()),
        AMQPValue::ShortInt(n) => Some(n.to_string()),
        AMQPValue::ShortUInt(n) => Some(n.to_string()),
        AMQPValue::LongInt(n) => Some(n.to_string()),
        AMQPValue::LongUInt(n) => Some(n.to_string()),
        AMQPValue::LongLongInt(n) => Some(n.to_string()),
        _ => None,
    }
}

fn header_number(properties: &BasicProperties, name: &str) -> Option<u64> {
    let value = properties.headers().as_ref()?.inner().get(name)?;
    value_text(value)?.parse().ok()
}

/// The application headers of `message` as an AMQP table (reserved ones left out).
fn headers_of(message: &Message) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in &message.headers {
        if !name.starts_with(HEADER_PREFIX) && name != "delay" {
            table.insert(
                name.as_str().into(),
                AMQPValue::LongString(value.as_str().into()),
            );
        }
    }
    table
}

#[async_trait]
impl MessageBus for AmqpBus {
    async fn broadcast(&self, message: Message) -> Result<()> {
        check_routing_key(&message.routing_key)?;
        let properties = BasicProperties::default()
            .with_priority(message.priority.min(Message::MAX_PRIORITY))
            .with_headers(headers_of(&message));
        let shared = &self.shared;
        shared
            .publish_confirmed(
                &shared.names.events,
                &message.routing_key,
                &message.payload,
                properties,
                false,
            )
            .await
    }

    async fn subscribe(&self, patterns: &[&str]) -> Result<Subscription> {
        check_patterns(patterns)?;
        let shared = &self.shared;
        let link = shared.link()?;
        let number = shared.next_queue.fetch_add(1, Ordering::Relaxed);
        let queue = format!(
            "{}.events.{}.{number}",
            shared.names.namespace, shared.bus_id
        );
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let (channel, deliveries) = shared.subscribe_queue(&link, &queue, &patterns).await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_subscription(
            Arc::clone(shared),
            queue,
            patterns,
            Some((link, channel, deliveries)),
            sender,
        ));
        Ok(Subscription::new(receiver, Box::new(())))
    }

    async fn publish(&self, message: Message, delay: Option<Duration>) -> Result<()> {
        check_routing_key(&message.routing_key)?;
        self.shared.enqueue(&message, 1, delay, None).await
    }

    async fn consume(&self, patterns: &[&str]) -> Result<Consumer> {
        check_patterns(patterns)?;
        self.consume_named(self.shared.names.rpcs.clone()).await
    }

    async fn request(&self, message: Message, timeout: Duration) -> Result<Message> {
        check_routing_key(&message.routing_key)?;
        let shared = &self.shared;
        let correlation_id = uuid::Uuid::now_v7().to_string();
        let (sender, receiver) = oneshot::channel();
        shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(correlation_id.clone(), sender);
        let forget = || {
            shared
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&correlation_id);
        };
        let reply = Some((shared.callback_queue.as_str(), correlation_id.as_str()));
        let sent = tokio::time::timeout(timeout, shared.enqueue(&message, 1, None, reply)).await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                forget();
                return Err(err);
            }
            Err(_) => {
                forget();
                return Err(timed_out(&message.routing_key, timeout));
            }
        }
        let outcome = tokio::time::timeout(timeout, receiver).await;
        forget();
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(Error::new(
                ErrorKind::Closed,
                format!(
                    "the bus closed before `{}` was answered",
                    message.routing_key
                ),
            )),
            Err(_) => Err(timed_out(&message.routing_key, timeout)),
        }
    }

    async fn dead_letters(&self) -> Result<Consumer> {
        self.consume_named(self.shared.names.dead_letters.clone())
            .await
    }
}

fn timed_out(routing_key: &str, timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("no reply to `{routing_key}` within {timeout:?}"),
    )
}

impl AmqpBus {
    async fn consume_named(&self, queue: String) -> Result<Consumer> {
        let shared = &self.shared;
        let link = shared.link()?;
        let (channel, deliveries) = shared.consume_queue(&link, &queue).await?;
        let (sender, receiver) = mpsc::channel(usize::from(
            shared.config.maximum_concurrent_messages.max(1),
        ));
        tokio::spawn(run_consumer(
            Arc::clone(shared),
            queue,
            Some((link, channel, deliveries)),
            sender,
        ));
        Ok(Consumer::new(receiver, Box::new(())))
    }
}
