//! The NATS backend: JetStream for the work queue and dead letters, core NATS for broadcasts
//! and replies.

mod settle;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::connection::State;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::stream::{RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use async_nats::{ConnectErrorKind, HeaderMap};
use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::bus::DeliveryParts;
use crate::message::HEADER_PREFIX;
use crate::topic::{check_patterns, check_routing_key, matches_any};
use crate::{
    BusConfig, Consumer, Delivery, Error, ErrorKind, Message, MessageBus, Result, Subscription,
};

const ROUTING_KEY_HEADER: &str = "x-infrahub-routing-key";
const ATTEMPT_HEADER: &str = "x-infrahub-attempt";
const NOT_BEFORE_HEADER: &str = "x-infrahub-not-before";
const PRIORITY_HEADER: &str = "x-infrahub-priority";
const REPLY_TO_HEADER: &str = "x-infrahub-reply-to";
const CORRELATION_HEADER: &str = "x-infrahub-correlation-id";

/// The NATS bus: JetStream streams `<ns>-rpcs` (work queue, durable consumer `workers` with
/// explicit acks) and `<ns>-dead-letters`; broadcasts on core subjects
/// `<ns>.broadcast.<routing key>` that every subscriber receives; replies on a core inbox.
///
/// The client reconnects by itself (backoff capped at 5 s); subscriptions and consumers
/// resume, and the streams are declared again if the server lost them. Calls made while it
/// is disconnected fail with [`ErrorKind::Unavailable`] naming the server.
pub struct NatsBus {
    shared: Arc<Shared>,
}

struct Shared {
    config: BusConfig,
    endpoint: String,
    client: async_nats::Client,
    jetstream: jetstream::Context,
    /// Prefix of this bus's reply subjects (`<inbox>.<correlation id>`).
    inbox: String,
    pending: Mutex<HashMap<String, oneshot::Sender<Message>>>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("endpoint", &self.shared.endpoint)
            .field("namespace", &self.shared.config.namespace)
            .finish_non_exhaustive()
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// One word of a routing key as a subject token: `[A-Za-z0-9_-]` kept, anything else as
/// `~XX` (hex), an empty word as `~`.
fn escape_word(word: &str) -> String {
    if word.is_empty() {
        return "~".to_owned();
    }
    let mut out = String::with_capacity(word.len());
    for byte in word.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => out.push(byte as char),
            other => out.push_str(&format!("~{other:02X}")),
        }
    }
    out
}

/// A routing key as subject tokens (one per word, so subject wildcards still line up).
fn escape_key(key: &str) -> String {
    key.split('.')
        .map(escape_word)
        .collect::<Vec<_>>()
        .join(".")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn map_connect_error(endpoint: &str, err: async_nats::ConnectError) -> Error {
    match err.kind() {
        ConnectErrorKind::Tls => crate::tls::tls_cause(&err)
            .map(|detail| crate::tls::handshake_error(endpoint, &detail))
            .unwrap_or_else(|| {
                Error::new(
                    ErrorKind::Tls,
                    format!("TLS with the message broker at {endpoint} failed: {err}"),
                )
            }),
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => Error::new(
            ErrorKind::Auth,
            format!("the message broker at {endpoint} refused the credentials: {err}"),
        ),
        ConnectErrorKind::ServerParse => Error::new(
            ErrorKind::InvalidInput,
            format!("broker address `{endpoint}` is not usable: {err}"),
        ),
        _ => {
            let text = err.to_string();
            if let Some(detail) = crate::tls::tls_cause(&err) {
                return crate::tls::handshake_error(endpoint, &detail);
            }
            Error::unavailable(endpoint, format!("cannot connect: {text}"))
        }
    }
}

impl NatsBus {
    /// Connects to the NATS server of `config` and declares the namespace's streams.
    pub async fn connect(config: &BusConfig) -> Result<NatsBus> {
        config.validate()?;
        crate::tls::ensure_default_provider();
        let endpoint = config.endpoint();
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("infrahub-bus {}", config.namespace))
            .connection_timeout(config.connect_timeout)
            .request_timeout(Some(config.connect_timeout))
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100u64.saturating_mul(1 << attempts.min(6)))
                    .min(Duration::from_secs(5))
            });
        if !config.username.is_empty() {
            options = options.user_and_password(config.username.clone(), config.password.clone());
        }
        if config.tls.enabled {
            let tls = crate::tls::client_config(&config.tls)?;
            options = options.require_tls(true).tls_client_config((*tls).clone());
        }
        let client = options
            .connect(format!("{}:{}", config.address, config.effective_port()))
            .await
            .map_err(|err| map_connect_error(&endpoint, err))?;
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(config.connect_timeout.min(Duration::from_secs(5)));
        let inbox = client.new_inbox();
        let shared = Arc::new(Shared {
            config: config.clone(),
            endpoint,
            client,
            jetstream,
            inbox,
            pending: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
        });
        shared.declare_streams().await?;
        let mut replies = shared
            .client
            .subscribe(format!("{}.*", shared.inbox))
            .await
            .map_err(|err| shared.unavailable("cannot subscribe to replies", err))?;
        let weak = Arc::downgrade(&shared);
        let shutdown = shared.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let reply = tokio::select! {
                    reply = replies.next() => reply,
                    () = shutdown.cancelled() => return,
                };
                let Some(reply) = reply else { return };
                let Some(shared) = weak.upgrade() else { return };
                let correlation_id = reply.subject.rsplit('.').next().unwrap_or("").to_owned();
                let waiter = shared
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&correlation_id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(core_message(
                        reply.subject.as_str(),
                        &reply.payload,
                        reply.headers.as_ref(),
                    ));
                }
            }
        });
        Ok(NatsBus { shared })
    }

    /// Deletes the namespace's streams from the server of `config` (tests,
    /// decommissioning). Messages in them are lost.
    pub async fn delete_namespace(config: &BusConfig) -> Result<()> {
        let bus = NatsBus::connect(config).await?;
        let names = [bus.shared.work_stream(), bus.shared.dead_stream()];
        for name in names {
            if let Err(err) = bus.shared.jetstream.delete_stream(&name).await {
                return Err(bus.shared.unavailable("cannot delete a stream", err));
            }
        }
        Ok(())
    }
}

impl Shared {
    fn ns(&self) -> &str {
        &self.config.namespace
    }

    fn work_stream(&self) -> String {
        format!("{}-rpcs", self.ns())
    }

    fn dead_stream(&self) -> String {
        format!("{}-dead-letters", self.ns())
    }

    fn work_subject(&self, key: &str) -> String {
        format!("{}.rpcs.{}", self.ns(), escape_key(key))
    }

    fn dead_subject(&self, key: &str) -> String {
        format!("{}.dead-letters.{}", self.ns(), escape_key(key))
    }

    fn unavailable(&self, context: &str, err: impl std::fmt::Display) -> Error {
        Error::unavailable(&self.endpoint, format!("{context}: {err}"))
    }

    /// `Unavailable` unless the client is connected now (the client would otherwise buffer
    /// the call until it reconnects).
    fn check_connected(&self) -> Result<()> {
        if self.shutdown.is_cancelled() {
            return Err(Error::new(ErrorKind::Closed, "the message bus is closed"));
        }
        match self.client.connection_state() {
            State::Connected => Ok(()),
            _ => Err(Error::unavailable(
                &self.endpoint,
                "the connection is lost, reconnecting",
            )),
        }
    }

    /// Returns once the server has processed everything this connection sent before (a
    /// message to a private inbox comes back): a subscription is then live server-side, so
    /// broadcasts of other processes reach it.
    async fn sync_with_server(&self) -> Result<()> {
        let inbox = self.client.new_inbox();
        let mut echo = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|err| self.unavailable("cannot subscribe", err))?;
        self.client
            .publish(inbox, Default::default())
            .await
            .map_err(|err| self.unavailable("cannot subscribe", err))?;
        let answered = tokio::time::timeout(self.config.connect_timeout, echo.next()).await;
        let _ = echo.unsubscribe().await;
        match answered {
            Ok(Some(_)) => Ok(()),
            _ => Err(Error::unavailable(
                &self.endpoint,
                "the server did not confirm a subscription",
            )),
        }
    }

    /// Declares (or finds) the work and dead-letter streams.
    async fn declare_streams(&self) -> Result<()> {
        for (name, subjects) in [
            (self.work_stream(), format!("{}.rpcs.>", self.ns())),
            (self.dead_stream(), format!("{}.dead-letters.>", self.ns())),
        ] {
            let config = jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![subjects],
                retention: RetentionPolicy::WorkQueue,
                storage: StorageType::File,
                ..Default::default()
            };
            self.jetstream
                .get_or_create_stream(config)
                .await
                .map_err(|err| self.unavailable(&format!("cannot declare stream `{name}`"), err))?;
        }
        Ok(())
    }

    /// The durable pull consumer of `stream`.
    async fn pull_consumer(
        &self,
        stream: &str,
        durable: &str,
    ) -> Result<jetstream::consumer::Consumer<pull::Config>> {
        self.declare_streams().await?;
        let stream_handle = self
            .jetstream
            .get_stream(stream)
            .await
            .map_err(|err| self.unavailable(&format!("cannot open stream `{stream}`"), err))?;
        let config = pull::Config {
            durable_name: Some(durable.to_owned()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.config.ack_wait,
            // Unlimited: the bus counts deliveries itself and dead-letters the message past
            // the retries (a server limit would leave it in the stream for good).
            max_deliver: -1,
            ..Default::default()
        };
        stream_handle
            .get_or_create_consumer(durable, config)
            .await
            .map_err(|err| self.unavailable(&format!("cannot open consumer `{durable}`"), err))
    }

    async fn messages(
        &self,
        consumer: &jetstream::consumer::Consumer<pull::Config>,
    ) -> Result<pull::Stream> {
        consumer
            .stream()
            .max_messages_per_batch(usize::from(self.config.maximum_concurrent_messages.max(1)))
            .heartbeat(Duration::from_secs(2))
            .expires(Duration::from_secs(10))
            .messages()
            .await
            .map_err(|err| self.unavailable("cannot pull messages", err))
    }

    /// Publishes to JetStream and waits for its ack.
    async fn store(&self, subject: String, headers: HeaderMap, payload: &[u8]) -> Result<()> {
        self.check_connected()?;
        let ack = self
            .jetstream
            .publish_with_headers(subject, headers, payload.to_vec().into())
            .await
            .map_err(|err| self.unavailable("cannot publish", err))?;
        ack.await
            .map_err(|err| self.unavailable("publish not acknowledged", err))?;
        Ok(())
    }

    /// Puts a work message into `<ns>-rpcs`, not to be delivered before `delay`.
    async fn enqueue(
        &self,
        message: &Message,
        attempt: u32,
        delay: Option<Duration>,
        reply: Option<(&str, &str)>,
    ) -> Result<()> {
        let mut headers = headers_of(message);
        headers.insert(ATTEMPT_HEADER, attempt.to_string().as_str());
        headers.insert(PRIORITY_HEADER, message.priority.to_string().as_str());
        if let Some(delay) = delay.filter(|delay| !delay.is_zero()) {
            let not_before = now_ms() + delay.as_millis() as u64;
            headers.insert(NOT_BEFORE_HEADER, not_before.to_string().as_str());
        }
        if let Some((reply_to, correlation_id)) = reply {
            headers.insert(REPLY_TO_HEADER, reply_to);
            headers.insert(CORRELATION_HEADER, correlation_id);
        }
        self.store(
            self.work_subject(&message.routing_key),
            headers,
            &message.payload,
        )
        .await
    }

    async fn dead_letter(&self, message: &Message, reason: &str) -> Result<()> {
        let mut headers = headers_of(message);
        headers.insert(crate::DEAD_LETTER_REASON_HEADER, reason);
        self.store(
            self.dead_subject(&message.routing_key),
            headers,
            &message.payload,
        )
        .await
    }

    /// The delivery of a JetStream message, or `None` when it is handed over later or not
    /// at all:
    ///
    /// - every delivery counts as an attempt (the header's attempt, set by `retry`, plus the
    ///   server's redeliveries of this stream message, after a drop, a crash or an expired
    ///   `ack_wait`): past `maximum_message_retries + 1` deliveries of the work stream the
    ///   message goes to the dead letters instead of the consumer;
    /// - a message not due yet (a delay) is held here, its `ack_wait` extended, and sent to
    ///   `sender` once due, so waiting costs no delivery.
    async fn delivery(
        self: &Arc<Self>,
        message: jetstream::Message,
        work: bool,
        sender: &mpsc::Sender<Delivery>,
    ) -> Option<Delivery> {
        let delivered = message.info().map(|info| info.delivered).unwrap_or(1);
        let redeliveries = u32::try_from(delivered.saturating_sub(1)).unwrap_or(u32::MAX);
        let (message, acker) = message.split();
        let headers = message.headers.as_ref();
        let header = |name: &str| {
            headers
                .and_then(|headers| headers.get(name))
                .map(|value| value.as_str().to_owned())
        };
        let first_attempt: u32 = header(ATTEMPT_HEADER)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1);
        let attempt = first_attempt.saturating_add(redeliveries);
        let mut bus_message = core_message(message.subject.as_str(), &message.payload, headers);
        if let Some(priority) = header(PRIORITY_HEADER).and_then(|v| v.parse().ok()) {
            bus_message.priority = priority;
        }
        let maximum_retries = self.config.maximum_message_retries;
        if work && attempt > maximum_retries.saturating_add(1) {
            let previous = attempt - 1;
            let reason = format!(
                "delivered {previous} times without being acknowledged (`{}`)",
                bus_message.routing_key
            );
            tracing::warn!(routing_key = %bus_message.routing_key, attempt = previous, "bus: {reason}; dead-lettering");
            match self.dead_letter(&bus_message, &reason).await {
                Ok(()) => {
                    if let Err(err) = acker.double_ack().await {
                        tracing::warn!(routing_key = %bus_message.routing_key, "bus: cannot acknowledge a dead-lettered message, it may come twice: {err}");
                    }
                }
                Err(err) => {
                    tracing::warn!(routing_key = %bus_message.routing_key, "bus: cannot dead-letter, giving it back: {err}");
                    let _ = acker
                        .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                        .await;
                }
            }
            return None;
        }
        let not_before = header(NOT_BEFORE_HEADER).and_then(|v| v.parse::<u64>().ok());
        let parts = DeliveryParts {
            message: bus_message,
            attempt,
            reply_to: header(REPLY_TO_HEADER),
            correlation_id: header(CORRELATION_HEADER),
            maximum_retries,
            retry_delay: self.config.retry_delay,
        };
        match not_before {
            Some(not_before) if not_before > now_ms() => {
                let shared = Arc::clone(self);
                let sender = sender.clone();
                tokio::spawn(async move {
                    let extend = (shared.config.ack_wait / 2).max(Duration::from_millis(100));
                    loop {
                        let now = now_ms();
                        if now >= not_before {
                            break;
                        }
                        let wait = Duration::from_millis(not_before - now).min(extend);
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = sender.closed() => {
                                let rest = Duration::from_millis(not_before.saturating_sub(now_ms()));
                                let _ = acker.ack_with(AckKind::Nak(Some(rest))).await;
                                return;
                            }
                            () = shared.shutdown.cancelled() => return,
                        }
                        if now_ms() < not_before {
                            let _ = acker.ack_with(AckKind::Progress).await;
                        }
                    }
                    let settle = settle::NatsSettle::new(Arc::clone(&shared), acker, &parts);
                    let _ = sender.send(Delivery::new(parts, Box::new(settle))).await;
                });
                None
            }
            _ => {
                let settle = settle::NatsSettle::new(Arc::clone(self), acker, &parts);
                Some(Delivery::new(parts, Box::new(settle)))
            }
        }
    }
}

/// A bus message from a core or JetStream message: the routing key from its header (or the
/// subject), headers as strings.
fn core_message(subject: &str, payload: &[u8], headers: Option<&HeaderMap>) -> Message {
    let mut map = BTreeMap::new();
    if let Some(headers) = headers {
        for (name, values) in headers.iter() {
            if let Some(value) = values.first() {
                map.insert(name.to_string(), value.as_str().to_owned());
            }
        }
    }
    let routing_key = map
        .get(ROUTING_KEY_HEADER)
        .cloned()
        .unwrap_or_else(|| subject.to_owned());
    Message {
        routing_key,
        payload: payload.to_vec(),
        headers: map,
        priority: Message::DEFAULT_PRIORITY,
    }
}

/// The application headers of `message` plus its routing key.
fn headers_of(message: &Message) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &message.headers {
        if !name.starts_with(HEADER_PREFIX) {
            headers.insert(name.as_str(), value.as_str());
        }
    }
    headers.insert(ROUTING_KEY_HEADER, message.routing_key.as_str());
    headers
}

/// Pulls `stream` through durable consumer `durable` into `sender`, re-opening the pull
/// after errors (server restart, lost stream).
async fn run_consumer(
    shared: Arc<Shared>,
    stream: String,
    durable: String,
    mut messages: Option<pull::Stream>,
    sender: mpsc::Sender<Delivery>,
) {
    let work = stream == shared.work_stream();
    loop {
        let mut current = match messages.take() {
            Some(current) => current,
            None => {
                let opened = async {
                    let consumer = shared.pull_consumer(&stream, &durable).await?;
                    shared.messages(&consumer).await
                };
                tokio::select! {
                    opened = opened => match opened {
                        Ok(current) => current,
                        Err(err) => {
                            tracing::debug!("bus: cannot resume consuming `{stream}`: {err}");
                            tokio::select! {
                                () = tokio::time::sleep(Duration::from_millis(500)) => continue,
                                () = sender.closed() => return,
                                () = shared.shutdown.cancelled() => return,
                            }
                        }
                    },
                    () = sender.closed() => return,
                    () = shared.shutdown.cancelled() => return,
                }
            }
        };
        loop {
            tokio::select! {
                next = current.next() => match next {
                    Some(Ok(message)) => {
                        if let Some(delivery) = shared.delivery(message, work, &sender).await
                            && sender.send(delivery).await.is_err()
                        {
                            return;
                        }
                    }
                    Some(Err(err)) => {
                        tracing::debug!("bus: pulling `{stream}` failed: {err}");
                        break;
                    }
                    None => break,
                },
                () = sender.closed() => return,
                () = shared.shutdown.cancelled() => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}

#[async_trait]
impl MessageBus for NatsBus {
    async fn broadcast(&self, message: Message) -> Result<()> {
        check_routing_key(&message.routing_key)?;
        let shared = &self.shared;
        shared.check_connected()?;
        let subject = format!(
            "{}.broadcast.{}",
            shared.ns(),
            escape_key(&message.routing_key)
        );
        shared
            .client
            .publish_with_headers(subject, headers_of(&message), message.payload.into())
            .await
            .map_err(|err| shared.unavailable("cannot broadcast", err))?;
        shared
            .client
            .flush()
            .await
            .map_err(|err| shared.unavailable("cannot broadcast", err))
    }

    async fn subscribe(&self, patterns: &[&str]) -> Result<Subscription> {
        check_patterns(patterns)?;
        let shared = &self.shared;
        shared.check_connected()?;
        // One subject for all broadcasts of the namespace, filtered here with AMQP topic
        // semantics: each subscription gets a message once however many patterns match.
        let mut subscriber = shared
            .client
            .subscribe(format!("{}.broadcast.>", shared.ns()))
            .await
            .map_err(|err| shared.unavailable("cannot subscribe", err))?;
        shared.sync_with_server().await?;
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let (sender, receiver) = mpsc::unbounded_channel();
        let shutdown = shared.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = subscriber.next() => next,
                    () = sender.closed() => break,
                    () = shutdown.cancelled() => break,
                };
                let Some(received) = next else { break };
                let mut message = core_message(
                    received.subject.as_str(),
                    &received.payload,
                    received.headers.as_ref(),
                );
                if !matches_any(&patterns, &message.routing_key) {
                    continue;
                }
                message.strip_reserved_headers();
                if sender.send(message).is_err() {
                    break;
                }
            }
            let _ = subscriber.unsubscribe().await;
        });
        Ok(Subscription::new(receiver, Box::new(())))
    }

    async fn publish(&self, message: Message, delay: Option<Duration>) -> Result<()> {
        check_routing_key(&message.routing_key)?;
        self.shared.enqueue(&message, 1, delay, None).await
    }

    async fn consume(&self, patterns: &[&str]) -> Result<Consumer> {
        check_patterns(patterns)?;
        let stream = self.shared.work_stream();
        self.consume_stream(stream, "workers").await
    }

    async fn request(&self, message: Message, timeout: Duration) -> Result<Message> {
        check_routing_key(&message.routing_key)?;
        let shared = &self.shared;
        let correlation_id = uuid::Uuid::now_v7().simple().to_string();
        let reply_to = format!("{}.{correlation_id}", shared.inbox);
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
        let reply = Some((reply_to.as_str(), correlation_id.as_str()));
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
        let stream = self.shared.dead_stream();
        self.consume_stream(stream, "dead-letters").await
    }
}

fn timed_out(routing_key: &str, timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("no reply to `{routing_key}` within {timeout:?}"),
    )
}

impl NatsBus {
    async fn consume_stream(&self, stream: String, durable: &str) -> Result<Consumer> {
        let shared = &self.shared;
        shared.check_connected()?;
        let consumer = shared.pull_consumer(&stream, durable).await?;
        let messages = shared.messages(&consumer).await?;
        let (sender, receiver) = mpsc::channel(usize::from(
            shared.config.maximum_concurrent_messages.max(1),
        ));
        tokio::spawn(run_consumer(
            Arc::clone(shared),
            stream,
            durable.to_owned(),
            Some(messages),
            sender,
        ));
        Ok(Consumer::new(receiver, Box::new(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_become_safe_subjects() {
        assert_eq!(
            escape_key("refresh.registry.branches"),
            "refresh.registry.branches"
        );
        assert_eq!(escape_key("a>b.c*d"), "a~3Eb.c~2Ad");
        assert_eq!(escape_key("a..b"), "a.~.b");
        assert_eq!(escape_key("ü"), "~C3~BC");
    }
}
