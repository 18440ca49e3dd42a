//! The work queue: competing consumers, redelivery, retries, delays and dead letters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{PATIENCE, Ping, QUIET, RETRIES, RETRY_DELAY, next_delivery, text};
use crate::{DEAD_LETTER_REASON_HEADER, Message, MessageBus, Meta};

/// Each of N published messages is delivered to exactly one of two competing consumers, and
/// all of them arrive.
pub async fn work_queue_exactly_once(bus: Arc<dyn MessageBus>) {
    const COUNT: u32 = 60;
    let (seen_sender, mut seen) = mpsc::unbounded_channel();
    let mut workers = Vec::new();
    for worker in 0..2 {
        let mut consumer = bus.consume(&["work.*"]).await.expect("consume");
        let seen_sender = seen_sender.clone();
        workers.push(tokio::spawn(async move {
            while let Some(delivery) = consumer.next().await {
                let payload = text(&delivery.message().payload);
                delivery.ack().await;
                if seen_sender.send((worker, payload)).is_err() {
                    return;
                }
            }
        }));
    }
    for sequence in 0..COUNT {
        let message = Message::new("work.item", sequence.to_string().into_bytes())
            .with_header("sequence", sequence.to_string());
        bus.publish(message, None).await.expect("publish");
    }
    let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
    for _ in 0..COUNT {
        let got = tokio::time::timeout(PATIENCE, seen.recv()).await;
        let Ok(Some((_, payload))) = got else {
            panic!(
                "work queue: only {} of {COUNT} published messages arrived",
                counts.len()
            );
        };
        let sequence: u32 = payload.parse().expect("work queue: payload kept");
        *counts.entry(sequence).or_default() += 1;
    }
    if let Ok(Some((_, payload))) = tokio::time::timeout(QUIET, seen.recv()).await {
        panic!("work queue: message {payload} was delivered twice though it was acked");
    }
    for sequence in 0..COUNT {
        assert_eq!(
            counts.get(&sequence),
            Some(&1),
            "work queue: message {sequence} must reach exactly one consumer once"
        );
    }
    for worker in workers {
        worker.abort();
    }
}

/// A delivery dropped without being settled, and the deliveries of a dropped consumer, are
/// redelivered.
pub async fn unsettled_redelivered(bus: Arc<dyn MessageBus>) {
    let mut first = bus.consume(&["redeliver.*"]).await.expect("consume");
    bus.publish(Message::new("redeliver.one", b"dropped".to_vec()), None)
        .await
        .expect("publish");
    let delivery = next_delivery(&mut first, PATIENCE).await;
    let delivery = delivery.expect("redelivery: the published message never arrived");
    drop(delivery);
    let again = next_delivery(&mut first, PATIENCE).await;
    let again = again.expect("redelivery: a dropped delivery was not redelivered");
    assert_eq!(
        again.message().payload,
        b"dropped",
        "redelivery: same message"
    );
    again.ack().await;

    // A consumer that goes away with a delivery in hand: another consumer gets it.
    bus.publish(Message::new("redeliver.two", b"held".to_vec()), None)
        .await
        .expect("publish");
    let held = next_delivery(&mut first, PATIENCE).await;
    let held = held.expect("redelivery: the second message never arrived");
    let mut second = bus.consume(&["redeliver.*"]).await.expect("consume");
    drop(first);
    drop(held);
    let got = next_delivery(&mut second, PATIENCE).await;
    let got = got.expect("redelivery: a message held by a dropped consumer was lost");
    assert_eq!(got.message().payload, b"held", "redelivery: same message");
    got.ack().await;
    if let Some(extra) = next_delivery(&mut second, QUIET).await {
        panic!(
            "redelivery: `{}` came back after it was acked",
            text(&extra.message().payload)
        );
    }
}

/// `retry` redelivers the message after the retry delay with `attempt` one higher.
pub async fn retry_with_delay(bus: Arc<dyn MessageBus>) {
    let mut consumer = bus.consume(&["retry.*"]).await.expect("consume");
    let message = Message::new("retry.me", b"again".to_vec()).with_header("origin", "test");
    bus.publish(message, None).await.expect("publish");
    let delivery = next_delivery(&mut consumer, PATIENCE).await;
    let delivery = delivery.expect("retry: the published message never arrived");
    assert_eq!(
        delivery.attempt(),
        1,
        "retry: a first delivery is attempt 1"
    );
    assert!(
        !delivery.expects_reply(),
        "retry: a published message expects no reply"
    );
    let retried_at = Instant::now();
    delivery.retry().await.expect("retry");
    let again = next_delivery(&mut consumer, PATIENCE).await;
    let again = again.expect("retry: a retried message never came back");
    let waited = retried_at.elapsed();
    assert_eq!(again.attempt(), 2, "retry: the redelivery is attempt 2");
    assert_eq!(again.message().payload, b"again", "retry: payload kept");
    assert_eq!(
        again.message().headers.get("origin").map(String::as_str),
        Some("test"),
        "retry: headers kept"
    );
    assert!(
        waited >= RETRY_DELAY.mul_f32(0.75),
        "retry: redelivered after {waited:?}, before the retry delay {RETRY_DELAY:?}"
    );
    again.ack().await;
}

/// After [`RETRIES`] retries, `retry` moves the message to the dead letters with a reason.
pub async fn retries_exhausted(bus: Arc<dyn MessageBus>) {
    let mut consumer = bus.consume(&["exhaust.*"]).await.expect("consume");
    bus.publish(Message::new("exhaust.me", b"poison".to_vec()), None)
        .await
        .expect("publish");
    for attempt in 1..=RETRIES + 1 {
        let delivery = next_delivery(&mut consumer, PATIENCE).await;
        let delivery = delivery
            .unwrap_or_else(|| panic!("retries: attempt {attempt} of {} never came", RETRIES + 1));
        assert_eq!(delivery.attempt(), attempt, "retries: attempts count up");
        delivery.retry().await.expect("retry");
    }
    if let Some(extra) = next_delivery(&mut consumer, RETRY_DELAY * 3).await {
        panic!(
            "retries: attempt {} was delivered past the {RETRIES} retries",
            extra.attempt()
        );
    }
    let mut dead = bus.dead_letters().await.expect("dead letters");
    let letter = next_delivery(&mut dead, PATIENCE).await;
    let letter = letter.expect("retries: an exhausted message did not reach the dead letters");
    assert_eq!(
        letter.message().payload,
        b"poison",
        "dead letters: payload kept"
    );
    assert_eq!(
        letter.message().routing_key,
        "exhaust.me",
        "dead letters: routing key kept"
    );
    let reason = letter.message().headers.get(DEAD_LETTER_REASON_HEADER);
    assert!(
        reason.is_some_and(|reason| reason.contains("retries")),
        "dead letters: the reason header says why: {reason:?}"
    );
    letter.ack().await;
}

/// `next_decoded` dead-letters deliveries that do not decode (bad JSON, another kind, a newer
/// version) and returns the next good one.
pub async fn malformed_dead_lettered(bus: Arc<dyn MessageBus>) {
    let mut consumer = bus.consume(&["conformance.*"]).await.expect("consume");
    let bad_json = Message::new("conformance.ping", b"{not json".to_vec());
    let other_kind = Message::new(
        "conformance.ping",
        br#"{"version":1,"kind":"other","meta":{},"body":{"sequence":1}}"#.to_vec(),
    );
    let newer = Message::new(
        "conformance.ping",
        br#"{"version":99,"kind":"conformance.ping","meta":{},"body":{"sequence":1}}"#.to_vec(),
    );
    for message in [bad_json, other_kind, newer] {
        bus.publish(message, None).await.expect("publish");
    }
    let meta = Meta {
        request_id: "request-7".into(),
        ..Meta::default()
    };
    let good = Message::encode(&Ping { sequence: 7 }, meta).expect("encode");
    bus.publish(good, None).await.expect("publish");

    let decoded = tokio::time::timeout(PATIENCE, consumer.next_decoded::<Ping>()).await;
    let decoded = decoded
        .ok()
        .flatten()
        .expect("envelopes: the consumer stopped at a malformed message");
    assert_eq!(
        decoded.body,
        Ping { sequence: 7 },
        "envelopes: body decoded"
    );
    assert_eq!(
        decoded.meta.request_id, "request-7",
        "envelopes: meta decoded"
    );
    decoded.delivery.ack().await;

    let mut dead = bus.dead_letters().await.expect("dead letters");
    for index in 0..3 {
        let letter = next_delivery(&mut dead, PATIENCE).await;
        let letter = letter.unwrap_or_else(|| {
            panic!("envelopes: malformed message {index} did not reach the dead letters")
        });
        assert!(
            letter
                .message()
                .headers
                .contains_key(DEAD_LETTER_REASON_HEADER),
            "envelopes: a dead letter carries its reason"
        );
        letter.ack().await;
    }
}

/// A message published with a delay is not delivered before the delay.
pub async fn delayed_publish(bus: Arc<dyn MessageBus>) {
    let delay = Duration::from_millis(500);
    let mut consumer = bus.consume(&["delay.*"]).await.expect("consume");
    let published_at = Instant::now();
    bus.publish(Message::new("delay.me", b"later".to_vec()), Some(delay))
        .await
        .expect("publish with a delay");
    let delivery = next_delivery(&mut consumer, PATIENCE).await;
    let delivery = delivery.expect("delay: a delayed message never arrived");
    let waited = published_at.elapsed();
    assert!(
        waited >= delay.mul_f32(0.75),
        "delay: delivered after {waited:?}, before the delay {delay:?}"
    );
    assert_eq!(
        delivery.attempt(),
        1,
        "delay: a delayed message is attempt 1"
    );
    delivery.ack().await;
}

/// Every delivery counts as an attempt, whether it ended in `retry` or was dropped unsettled
/// (a crashed or killed worker): after [`RETRIES`] retries, the next delivery goes to the dead
/// letters with a reason instead of reaching a consumer, so a message that crashes every
/// worker does not come back forever.
pub async fn dropped_deliveries_dead_lettered(bus: Arc<dyn MessageBus>) {
    let mut consumer = bus.consume(&["crash.*"]).await.expect("consume");
    bus.publish(Message::new("crash.me", b"crasher".to_vec()), None)
        .await
        .expect("publish");
    for attempt in 1..=RETRIES + 1 {
        let delivery = next_delivery(&mut consumer, PATIENCE).await;
        let delivery = delivery.unwrap_or_else(|| {
            panic!(
                "dropped deliveries: delivery {attempt} of {} never came",
                RETRIES + 1
            )
        });
        assert_eq!(
            delivery.attempt(),
            attempt,
            "dropped deliveries: every delivery counts as an attempt"
        );
        assert_eq!(
            delivery.message().payload,
            b"crasher",
            "dropped deliveries: same message"
        );
        if attempt == 1 {
            // Retries and drops share one count.
            delivery.retry().await.expect("retry");
        } else {
            drop(delivery);
        }
    }
    if let Some(extra) = next_delivery(&mut consumer, RETRY_DELAY * 3).await {
        panic!(
            "dropped deliveries: attempt {} was delivered past the {RETRIES} retries",
            extra.attempt()
        );
    }
    let mut dead = bus.dead_letters().await.expect("dead letters");
    let letter = next_delivery(&mut dead, PATIENCE).await;
    let letter = letter.expect(
        "dropped deliveries: a message dropped past its retries did not reach the dead letters",
    );
    assert_eq!(
        letter.message().payload,
        b"crasher",
        "dead letters: payload kept"
    );
    assert_eq!(
        letter.message().routing_key,
        "crash.me",
        "dead letters: routing key kept"
    );
    let reason = letter.message().headers.get(DEAD_LETTER_REASON_HEADER);
    assert!(
        reason.is_some_and(|reason| reason.contains("without being acknowledged")),
        "dead letters: the reason header says why: {reason:?}"
    );
    letter.ack().await;
    if let Some(extra) = next_delivery(&mut consumer, QUIET).await {
        panic!(
            "dropped deliveries: attempt {} came back after the message was dead-lettered",
            extra.attempt()
        );
    }
}

/// Settling out of order: a delivery held unsettled does not stop the others (the prefetch of
/// 2 would fill if their acks waited for it), acks of later deliveries never settle it, and a
/// dropped delivery between acked ones is redelivered alone.
pub async fn out_of_order_settlement(bus: Arc<dyn MessageBus>) {
    const COUNT: u32 = 20;
    let mut consumer = bus.consume(&["order.*"]).await.expect("consume");
    for sequence in 0..COUNT {
        let message = Message::new("order.item", sequence.to_string().into_bytes());
        bus.publish(message, None).await.expect("publish");
    }
    let held = next_delivery(&mut consumer, PATIENCE)
        .await
        .expect("out of order: the first message never arrived");
    // Every other message is acked once; the tenth is dropped the first time it comes.
    let mut dropped = None;
    let mut acked = std::collections::BTreeSet::new();
    while acked.len() < (COUNT - 1) as usize {
        let delivery = next_delivery(&mut consumer, PATIENCE).await;
        let delivery = delivery.unwrap_or_else(|| {
            panic!("out of order: {} of {} acked while the first was held (acks of later deliveries must not wait for it)", acked.len(), COUNT - 1)
        });
        let payload = text(&delivery.message().payload);
        if dropped.is_none() && acked.len() == (COUNT / 2) as usize {
            dropped = Some(payload);
            drop(delivery);
            continue;
        }
        assert!(
            acked.insert(payload.clone()),
            "out of order: message {payload} came again though it was acked"
        );
        if dropped.as_ref() == Some(&payload) {
            assert!(
                delivery.attempt() > 1,
                "out of order: a redelivery counts as an attempt"
            );
        }
        delivery.ack().await;
    }
    held.ack().await;
    if let Some(extra) = next_delivery(&mut consumer, QUIET).await {
        panic!(
            "out of order: message {} came again though it was acked",
            text(&extra.message().payload)
        );
    }
}
