//! The executable contract of [`MessageBus`]: every backend runs it.
//!
//! Each check takes fresh buses (each in a namespace of its own, configured as
//! [`config`] says: [`RETRIES`] retries, [`RETRY_DELAY`] between them), exercises one rule of
//! the contract stated on [`MessageBus`] and panics with a message naming the rule that broke.
//! A backend runs the whole suite with [`run_all`]:
//!
//! ```
//! use std::sync::Arc;
//!
//! use infrahub_bus::{BusConfig, MemoryBus, MessageBus, conformance};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! conformance::run_all(|| async {
//!     let config = BusConfig {
//!         namespace: format!("conformance-{}", uuid::Uuid::new_v4().simple()),
//!         ..conformance::config()
//!     };
//!     Arc::new(MemoryBus::new(&config).unwrap()) as Arc<dyn MessageBus>
//! })
//! .await;
//! # }
//! ```
//!
//! | function | what it checks |
//! |---|---|
//! | [`broadcast_fan_out`] | every matching subscription gets a broadcast once; others get nothing |
//! | [`work_queue_exactly_once`] | 2 consumers share N messages: each arrives exactly once |
//! | [`unsettled_redelivered`] | a dropped delivery and the deliveries of a dropped consumer come back |
//! | [`retry_with_delay`] | `retry` redelivers after the delay with `attempt` + 1 |
//! | [`retries_exhausted`] | past the retries a message goes to the dead letters with a reason |
//! | [`dropped_deliveries_dead_lettered`] | dropped deliveries count as attempts: past the retries the message goes to the dead letters |
//! | [`malformed_dead_lettered`] | `next_decoded` dead-letters what does not decode and keeps going |
//! | [`delayed_publish`] | `publish` with a delay is not delivered before it |
//! | [`request_reply`] | concurrent requests each get their own reply |
//! | [`request_timeout`] | a request nobody answers fails with `Timeout` naming the routing key |
//! | [`namespaces_isolated`] | nothing crosses namespaces |
//!
//! Priority ordering is not checked: backends may deliver in publishing order.

mod broadcast;
mod rpc;
mod work;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use broadcast::{broadcast_fan_out, namespaces_isolated};
pub use rpc::{request_reply, request_timeout};
pub use work::{
    delayed_publish, dropped_deliveries_dead_lettered, malformed_dead_lettered,
    out_of_order_settlement, retries_exhausted, retry_with_delay, unsettled_redelivered,
    work_queue_exactly_once,
};

use crate::{BusConfig, BusMessage, Consumer, Delivery, Message, MessageBus, Subscription};

/// The retries the suite expects the buses to be configured with.
pub const RETRIES: u32 = 2;
/// The retry delay the suite expects the buses to be configured with.
pub const RETRY_DELAY: Duration = Duration::from_millis(200);

/// The settings the suite expects (on the in-process backend; set `backend`, the address and
/// a fresh `namespace`): [`RETRIES`], [`RETRY_DELAY`], prefetch 2, a 2 s NATS ack wait.
pub fn config() -> BusConfig {
    BusConfig {
        maximum_message_retries: RETRIES,
        retry_delay: RETRY_DELAY,
        maximum_concurrent_messages: 2,
        ack_wait: Duration::from_secs(2),
        ..BusConfig::default()
    }
}

/// Runs every check, each against buses that `open` builds in a fresh namespace.
pub async fn run_all<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn MessageBus>>,
{
    broadcast_fan_out(open().await).await;
    work_queue_exactly_once(open().await).await;
    unsettled_redelivered(open().await).await;
    out_of_order_settlement(open().await).await;
    retry_with_delay(open().await).await;
    retries_exhausted(open().await).await;
    dropped_deliveries_dead_lettered(open().await).await;
    malformed_dead_lettered(open().await).await;
    delayed_publish(open().await).await;
    request_reply(open().await).await;
    request_timeout(open().await).await;
    namespaces_isolated(open().await, open().await).await;
}

/// How long a check waits for something that must come.
const PATIENCE: Duration = Duration::from_secs(15);
/// How long a check waits to be sure that something does not come.
const QUIET: Duration = Duration::from_millis(400);

/// A typed message for the envelope checks.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Ping {
    sequence: u32,
}

impl BusMessage for Ping {
    const ROUTING_KEY: &'static str = "conformance.ping";
    const VERSION: u32 = 1;
}

/// The next broadcast within `wait`.
async fn next_message(subscription: &mut Subscription, wait: Duration) -> Option<Message> {
    tokio::time::timeout(wait, subscription.next())
        .await
        .ok()
        .flatten()
}

/// The next delivery within `wait`.
async fn next_delivery(consumer: &mut Consumer, wait: Duration) -> Option<Delivery> {
    tokio::time::timeout(wait, consumer.next())
        .await
        .ok()
        .flatten()
}

/// A payload as text, for messages.
fn text(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload).into_owned()
}
