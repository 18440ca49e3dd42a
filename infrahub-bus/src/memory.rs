//! The in-process backend: one broker per namespace inside this process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::bus::{DEAD_LETTER_REASON_HEADER, DeliveryParts, Settle};
use crate::topic::{check_patterns, check_routing_key, matches_any};
use crate::{
    BusConfig, Consumer, Delivery, Error, ErrorKind, Message, MessageBus, Result, Subscription,
};

/// The in-process message bus: broadcasts, a work queue, retries, dead letters and
/// request/reply between the tasks of one process. Nothing survives the process.
///
/// Buses connected with the same [`namespace`](BusConfig::namespace) share one broker, as
/// processes sharing a RabbitMQ would; other namespaces are invisible.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> infrahub_bus::Result<()> {
/// use infrahub_bus::{BusConfig, Message, MessageBus, MemoryBus};
///
/// let bus = MemoryBus::new(&BusConfig::default())?;
/// let mut worker = bus.consume(&["send.*.*"]).await?;
/// bus.publish(Message::new("send.echo.request", b"hi".to_vec()), None).await?;
/// let delivery = worker.next().await.expect("a delivery");
/// assert_eq!(delivery.message().payload, b"hi");
/// delivery.ack().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryBus {
    broker: Arc<Broker>,
    maximum_retries: u32,
    prefetch: usize,
    retry_delay: Duration,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus")
            .field("namespace", &self.broker.namespace)
            .finish_non_exhaustive()
    }
}

/// The shared state of one namespace.
struct Broker {
    namespace: String,
    state: Mutex<State>,
    work_ready: Notify,
    dead_ready: Notify,
}

#[derive(Default)]
struct State {
    next_subscriber: u64,
    subscribers: Vec<Subscriber>,
    work: VecDeque<Queued>,
    dead: VecDeque<Queued>,
    pending_replies: HashMap<String, oneshot::Sender<Message>>,
}

struct Subscriber {
    id: u64,
    patterns: Vec<String>,
    sender: mpsc::UnboundedSender<Message>,
}

/// A message waiting in a queue.
struct Queued {
    message: Message,
    attempt: u32,
    correlation_id: Option<String>,
}

#[derive(Clone, Copy)]
enum Queue {
    Work,
    Dead,
}

fn brokers() -> &'static Mutex<HashMap<String, Weak<Broker>>> {
    static BROKERS: OnceLock<Mutex<HashMap<String, Weak<Broker>>>> = OnceLock::new();
    BROKERS.get_or_init(Default::default)
}

/// Locks a mutex, taking the data of a poisoned one (every critical section leaves the state
/// consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryBus {
    /// The bus of `config.namespace` in this process (created on first use).
    pub fn new(config: &BusConfig) -> Result<Self> {
        config.validate()?;
        let mut brokers = lock(brokers());
        brokers.retain(|_, broker| broker.strong_count() > 0);
        let broker = match brokers.get(&config.namespace).and_then(Weak::upgrade) {
            Some(broker) => broker,
            None => {
                let broker = Arc::new(Broker {
                    namespace: config.namespace.clone(),
                    state: Mutex::new(State::default()),
                    work_ready: Notify::new(),
                    dead_ready: Notify::new(),
                });
                brokers.insert(config.namespace.clone(), Arc::downgrade(&broker));
                broker
            }
        };
        Ok(MemoryBus {
            broker,
            maximum_retries: config.maximum_message_retries,
            prefetch: usize::from(config.maximum_concurrent_messages.max(1)),
            retry_delay: config.retry_delay,
        })
    }

    fn consumer(&self, queue: Queue) -> Consumer {
        let (sender, receiver) = mpsc::channel(self.prefetch);
        let permits = Arc::new(Semaphore::new(self.prefetch));
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => return,
                    },
                    () = sender.closed() => return,
                };
                let Some(queued) = bus.broker.take(queue, &sender).await else {
                    return;
                };
                let delivery = bus.delivery(queue, queued, permit);
                if let Err(unsent) = sender.try_send(delivery) {
                    // The consumer went away: dropping the delivery gives it back.
                    drop(unsent);
                    return;
                }
                // Hand over whatever else is ready, up to the free prefetch slots, without
                // waiting again.
                while let Ok(permit) = Arc::clone(&permits).try_acquire_owned() {
                    let Some(queued) = bus.broker.try_take(queue) else {
                        drop(permit);
                        break;
                    };
                    let delivery = bus.delivery(queue, queued, permit);
                    if let Err(unsent) = sender.try_send(delivery) {
                        drop(unsent);
                        return;
                    }
                }
            }
        });
        Consumer::new(receiver, Box::new(()))
    }

    fn delivery(&self, queue: Queue, queued: Queued, permit: OwnedSemaphorePermit) -> Delivery {
        let settle = MemorySettle {
            broker: Arc::clone(&self.broker),
            queue,
            attempt: queued.attempt,
            maximum_retries: self.maximum_retries,
            correlation_id: queued.correlation_id.clone(),
            _permit: permit,
        };
        let parts = DeliveryParts {
            message: queued.message,
            attempt: queued.attempt,
            reply_to: queued.correlation_id.as_ref().map(|_| "memory".to_owned()),
            correlation_id: queued.correlation_id,
            maximum_retries: self.maximum_retries,
            retry_delay: self.retry_delay,
        };
        Delivery::new(parts, Box::new(settle))
    }
}

impl Broker {
    fn notify(&self, queue: Queue) -> &Notify {
        match queue {
            Queue::Work => &self.work_ready,
            Queue::Dead => &self.dead_ready,
        }
    }

    fn push(&self, queue: Queue, queued: Queued, front: bool) {
        {
            let mut state = lock(&self.state);
            let deque = match queue {
                Queue::Work => &mut state.work,
                Queue::Dead => &mut state.dead,
            };
            if front {
                deque.push_front(queued);
            } else {
                deque.push_back(queued);
            }
        }
        self.notify(queue).notify_waiters();
    }

    /// The next message of `queue` if one is ready.
    fn try_take(&self, queue: Queue) -> Option<Queued> {
        let mut state = lock(&self.state);
        match queue {
            Queue::Work => state.work.pop_front(),
            Queue::Dead => state.dead.pop_front(),
        }
    }

    /// The next message of `queue`, waiting for one; `None` when `consumer` is gone.
    async fn take(&self, queue: Queue, consumer: &mpsc::Sender<Delivery>) -> Option<Queued> {
        loop {
            let notified = self.notify(queue).notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = lock(&self.state);
                let deque = match queue {
                    Queue::Work => &mut state.work,
                    Queue::Dead => &mut state.dead,
                };
                if let Some(queued) = deque.pop_front() {
                    return Some(queued);
                }
            }
            tokio::select! {
                () = notified => {}
                () = consumer.closed() => return None,
            }
        }
    }

    fn dead_letter(&self, mut message: Message, reason: &str) {
        message
            .headers
            .insert(DEAD_LETTER_REASON_HEADER.to_owned(), reason.to_owned());
        let queued = Queued {
            message,
            attempt: 1,
            correlation_id: None,
        };
        self.push(Queue::Dead, queued, false);
    }
}

/// Settles one delivery of the in-process bus; holds a prefetch slot until then.
struct MemorySettle {
    broker: Arc<Broker>,
    queue: Queue,
    attempt: u32,
    maximum_retries: u32,
    correlation_id: Option<String>,
    _permit: OwnedSemaphorePermit,
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(self: Box<Self>) -> Result<()> {
        Ok(())
    }

    async fn reply(self: Box<Self>, response: Message) -> Result<()> {
        if let Some(correlation_id) = &self.correlation_id {
            let waiter = lock(&self.broker.state)
                .pending_replies
                .remove(correlation_id);
            // A requester that timed out is gone: the reply is dropped, as a broker would.
            if let Some(waiter) = waiter {
                let _ = waiter.send(response);
            }
        }
        Ok(())
    }

    async fn requeue_later(
        self: Box<Self>,
        message: Message,
        next_attempt: u32,
        delay: Duration,
    ) -> Result<()> {
        let queued = Queued {
            message,
            attempt: next_attempt,
            correlation_id: self.correlation_id.clone(),
        };
        // A retried dead letter is replayed into the work queue, as the brokers do.
        let broker = Arc::clone(&self.broker);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            broker.push(Queue::Work, queued, false);
        });
        Ok(())
    }

    async fn dead_letter(self: Box<Self>, message: Message, reason: &str) -> Result<()> {
        self.broker.dead_letter(message, reason);
        Ok(())
    }

    fn abandon(self: Box<Self>, message: Message) {
        // A dropped delivery counts as an attempt: past the retries the next delivery would
        // be one too many, so the message goes to the dead letters instead. Dead letters
        // themselves just come back.
        if matches!(self.queue, Queue::Work) && self.attempt > self.maximum_retries {
            let reason = format!(
                "delivered {} times without being acknowledged (`{}`)",
                self.attempt, message.routing_key
            );
            tracing::warn!(routing_key = %message.routing_key, attempt = self.attempt, "bus: {reason}; dead-lettering");
            self.broker.dead_letter(message, &reason);
            return;
        }
        let attempt = match self.queue {
            Queue::Work => self.attempt.saturating_add(1),
            Queue::Dead => self.attempt,
        };
        let queued = Queued {
            message,
            attempt,
            correlation_id: self.correlation_id.clone(),
        };
        self.broker.push(self.queue, queued, true);
    }
}

/// Removes a subscriber when its [`Subscription`] is dropped.
struct Unsubscribe {
    broker: Weak<Broker>,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.upgrade() {
            lock(&broker.state)
                .subscribers
                .retain(|subscriber| subscriber.id != self.id);
        }
    }
}

#[async_trait]
impl MessageBus for MemoryBus {
    async fn broadcast(&self, mut message: Message) -> Result<()> {
        check_routing_key(&message.routing_key)?;
        message.strip_reserved_headers();
        let mut state = lock(&self.broker.state);
        state.subscribers.retain(|subscriber| {
            if !matches_any(&subscriber.patterns, &message.routing_key) {
                return true;
            }
            subscriber.sender.send(message.clone()).is_ok()
        });
        Ok(())
    }

    async fn subscribe(&self, patterns: &[&str]) -> Result<Subscription> {
        check_patterns(patterns)?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut state = lock(&self.broker.state);
        state.next_subscriber += 1;
        let id = state.next_subscriber;
        state.subscribers.push(Subscriber {
            id,
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            sender,
        });
        let guard = Unsubscribe {
            broker: Arc::downgrade(&self.broker),
            id,
        };
        Ok(Subscription::new(receiver, Box::new(guard)))
    }

    async fn publish(&self, message: Message, delay: Option<Duration>) -> Result<()> {
        check_routing_key(&message.routing_key)?;
        let queued = Queued {
            message,
            attempt: 1,
            correlation_id: None,
        };
        match delay {
            Some(delay) if !delay.is_zero() => {
                let broker = Arc::clone(&self.broker);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    broker.push(Queue::Work, queued, false);
                });
            }
            _ => self.broker.push(Queue::Work, queued, false),
        }
        Ok(())
    }

    async fn consume(&self, patterns: &[&str]) -> Result<Consumer> {
        check_patterns(patterns)?;
        Ok(self.consumer(Queue::Work))
    }

    async fn request(&self, message: Message, timeout: Duration) -> Result<Message> {
        check_routing_key(&message.routing_key)?;
        let routing_key = message.routing_key.clone();
        let correlation_id = uuid::Uuid::now_v7().to_string();
        let (sender, receiver) = oneshot::channel();
        lock(&self.broker.state)
            .pending_replies
            .insert(correlation_id.clone(), sender);
        let queued = Queued {
            message,
            attempt: 1,
            correlation_id: Some(correlation_id.clone()),
        };
        self.broker.push(Queue::Work, queued, false);
        let outcome = tokio::time::timeout(timeout, receiver).await;
        lock(&self.broker.state)
            .pending_replies
            .remove(&correlation_id);
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(Error::new(
                ErrorKind::Closed,
                format!("the bus closed before `{routing_key}` was answered"),
            )),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no reply to `{routing_key}` within {timeout:?}"),
            )),
        }
    }

    async fn dead_letters(&self) -> Result<Consumer> {
        Ok(self.consumer(Queue::Dead))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Many messages through several consumers with a large prefetch on a multi-threaded
    /// runtime: none is lost or stuck (batch hand-over, wake-ups).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_messages_many_consumers() {
        const MESSAGES: usize = 20_000;
        let config = BusConfig {
            namespace: format!("stress-{}", uuid::Uuid::new_v4().simple()),
            maximum_concurrent_messages: 64,
            ..BusConfig::default()
        };
        let bus = Arc::new(MemoryBus::new(&config).unwrap());
        let consumed = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..4 {
            let mut consumer = bus.consume(&["#"]).await.unwrap();
            let consumed = Arc::clone(&consumed);
            workers.push(tokio::spawn(async move {
                while let Some(delivery) = consumer.next().await {
                    delivery.ack().await;
                    consumed.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let publishers: Vec<_> = (0..4)
            .map(|_| {
                let bus = Arc::clone(&bus);
                tokio::spawn(async move {
                    for _ in 0..MESSAGES / 4 {
                        bus.publish(Message::new("stress.item", vec![0; 16]), None)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for publisher in publishers {
            publisher.await.unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while consumed.load(Ordering::Relaxed) < MESSAGES {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {MESSAGES} messages were consumed",
                consumed.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for worker in workers {
            worker.abort();
        }
    }
}
