//! Broadcast fan-out and namespace isolation.

use std::sync::Arc;
use std::time::Duration;

use super::{PATIENCE, QUIET, next_delivery, next_message, text};
use crate::{Message, MessageBus};

/// Every live subscription whose patterns match gets a broadcast exactly once (the sender's
/// own included); subscriptions whose patterns do not match get nothing.
pub async fn broadcast_fan_out(bus: Arc<dyn MessageBus>) {
    let mut registry = bus
        .subscribe(&["refresh.registry.*"])
        .await
        .expect("subscribe");
    // Two patterns matching the same key: still one copy.
    let mut overlapping = bus
        .subscribe(&["refresh.registry.branches", "refresh.#"])
        .await
        .expect("subscribe");
    let mut git = bus.subscribe(&["refresh.git.*"]).await.expect("subscribe");

    bus.broadcast(Message::new("refresh.registry.branches", b"one".to_vec()))
        .await
        .expect("broadcast");
    bus.broadcast(Message::new("refresh.git.fetch", b"two".to_vec()))
        .await
        .expect("broadcast");
    bus.broadcast(Message::new("unrelated.key", b"three".to_vec()))
        .await
        .expect("broadcast");

    let got = next_message(&mut registry, PATIENCE).await;
    let got = got.expect("broadcast: a subscription matching `refresh.registry.*` got nothing");
    assert_eq!(
        got.routing_key, "refresh.registry.branches",
        "broadcast: routing key kept"
    );
    assert_eq!(got.payload, b"one", "broadcast: payload kept");

    let mut seen = Vec::new();
    for _ in 0..2 {
        let got = next_message(&mut overlapping, PATIENCE).await;
        let got = got.expect("broadcast: a subscription with `refresh.#` missed a message");
        seen.push(text(&got.payload));
    }
    assert_eq!(
        seen,
        ["one", "two"],
        "broadcast: one copy per subscription, in order"
    );

    let got = next_message(&mut git, PATIENCE).await;
    let got = got.expect("broadcast: a subscription matching `refresh.git.*` got nothing");
    assert_eq!(
        got.payload, b"two",
        "broadcast: a subscription got a key it does not match"
    );

    for (name, subscription) in [
        ("refresh.registry.*", &mut registry),
        ("refresh.registry.branches + refresh.#", &mut overlapping),
        ("refresh.git.*", &mut git),
    ] {
        if let Some(extra) = next_message(subscription, QUIET).await {
            panic!(
                "broadcast: subscription `{name}` got `{}` (a duplicate or a key it does not match)",
                extra.routing_key
            );
        }
    }

    // A dropped subscription no longer counts; the others still receive.
    drop(git);
    bus.broadcast(Message::new(
        "refresh.registry.rebased_branch",
        b"four".to_vec(),
    ))
    .await
    .expect("broadcast after a subscription was dropped");
    let got = next_message(&mut registry, PATIENCE).await;
    assert!(
        got.is_some_and(|m| m.payload == b"four"),
        "broadcast: a live subscription missed a message after another one was dropped"
    );
}

/// Broadcasts, work, requests and dead letters of one namespace never reach another.
pub async fn namespaces_isolated(bus: Arc<dyn MessageBus>, other: Arc<dyn MessageBus>) {
    let mut other_subscription = other.subscribe(&["#"]).await.expect("subscribe");
    let mut other_consumer = other.consume(&["#"]).await.expect("consume");
    let mut own_subscription = bus.subscribe(&["#"]).await.expect("subscribe");

    bus.broadcast(Message::new("isolation.broadcast", b"b".to_vec()))
        .await
        .expect("broadcast");
    bus.publish(Message::new("isolation.work", b"w".to_vec()), None)
        .await
        .expect("publish");
    let timeout = bus
        .request(
            Message::new("isolation.request", b"r".to_vec()),
            Duration::from_millis(300),
        )
        .await;
    assert!(
        timeout.is_err(),
        "namespaces: a request was answered from another namespace"
    );

    assert!(
        next_message(&mut own_subscription, PATIENCE)
            .await
            .is_some(),
        "namespaces: the broadcast did not reach its own namespace"
    );
    if let Some(message) = next_message(&mut other_subscription, QUIET).await {
        panic!(
            "namespaces: broadcast `{}` reached another namespace",
            message.routing_key
        );
    }
    if let Some(delivery) = next_delivery(&mut other_consumer, QUIET).await {
        panic!(
            "namespaces: work `{}` reached another namespace",
            delivery.message().routing_key
        );
    }
    let mut own_consumer = bus.consume(&["#"]).await.expect("consume");
    let delivery = next_delivery(&mut own_consumer, PATIENCE).await;
    let delivery = delivery.expect("namespaces: published work did not stay in its namespace");
    delivery.ack().await;
}
