//! Benchmarks the message bus: broadcast fan-out and work-queue throughput (1 KiB payloads,
//! 1 and 4 receivers) and RPC round trips (p50/p99), on each backend named on the command
//! line: `memory`, an `amqp://user:pass@host:port/vhost` URL or a `nats://host:port` URL.
//!
//! ```text
//! cargo run --release -p example-bench-bus -- [messages] memory amqp://guest:guest@127.0.0.1:5672/%2f nats://127.0.0.1:4222
//! ```
//!
//! Publishers keep up to 256 publishes in flight (each one still waits for its own publisher
//! confirm / JetStream ack) and consumers hold up to 256 unacked deliveries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use infrahub_bus::{AmqpBus, BusBackend, BusConfig, Message, MessageBus, NatsBus};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PAYLOAD: usize = 1024;
const IN_FLIGHT: usize = 256;

fn config_for(target: &str) -> anyhow::Result<BusConfig> {
    let base = if target == "memory" {
        BusConfig::default()
    } else {
        BusConfig::from_url(target)?
    };
    Ok(BusConfig {
        namespace: format!("bench-{}", std::process::id()),
        maximum_concurrent_messages: IN_FLIGHT as u16,
        ..base
    })
}

/// Broadcasts `messages` to `subscribers` subscriptions; messages/s counted per broadcast.
async fn broadcast(
    bus: &Arc<dyn MessageBus>,
    messages: usize,
    subscribers: usize,
) -> anyhow::Result<f64> {
    let mut receivers = Vec::new();
    for _ in 0..subscribers {
        let mut subscription = bus.subscribe(&["bench.broadcast.*"]).await?;
        receivers.push(tokio::spawn(async move {
            let mut got = 0;
            while got < messages {
                match tokio::time::timeout(Duration::from_secs(10), subscription.next()).await {
                    Ok(Some(_)) => got += 1,
                    _ => break,
                }
            }
            got
        }));
    }
    let started = Instant::now();
    let payload = vec![b'x'; PAYLOAD];
    let results: Vec<_> = futures::stream::iter(0..messages)
        .map(|_| bus.broadcast(Message::new("bench.broadcast.event", payload.clone())))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mut received = 0;
    for receiver in receivers {
        received += receiver.await?;
    }
    let elapsed = started.elapsed();
    if received < messages * subscribers {
        println!(
            "    (broadcast: {received} of {} copies arrived; the rest were dropped or late)",
            messages * subscribers
        );
    }
    Ok(messages as f64 / elapsed.as_secs_f64())
}

/// Publishes `messages` work messages consumed by `consumers` competing consumers.
async fn work_queue(
    bus: &Arc<dyn MessageBus>,
    bus_is_memory: bool,
    messages: usize,
    consumers: usize,
) -> anyhow::Result<f64> {
    let consumed = Arc::new(AtomicUsize::new(0));
    let all_consumed = Arc::new(tokio::sync::Notify::new());
    // The in-process bus acks at once; a broker's ack is a message, sent off the loop.
    let inline_ack = bus_is_memory;
    let mut workers = Vec::new();
    for _ in 0..consumers {
        let mut consumer = bus.consume(&["bench.work.*"]).await?;
        let consumed = Arc::clone(&consumed);
        let all_consumed = Arc::clone(&all_consumed);
        workers.push(tokio::spawn(async move {
            while let Some(delivery) = consumer.next().await {
                if inline_ack {
                    delivery.ack().await;
                } else {
                    tokio::spawn(async move { delivery.ack().await });
                }
                if consumed.fetch_add(1, Ordering::Relaxed) + 1 == messages {
                    all_consumed.notify_one();
                }
            }
        }));
    }
    let started = Instant::now();
    let payload = vec![b'w'; PAYLOAD];
    let publishing = async {
        let results: Vec<_> = futures::stream::iter(0..messages)
            .map(|_| bus.publish(Message::new("bench.work.item", payload.clone()), None))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<_>, _>>()
    };
    let consuming = async {
        while consumed.load(Ordering::Relaxed) < messages {
            let wait = tokio::time::timeout(Duration::from_secs(30), all_consumed.notified());
            if wait.await.is_err() && consumed.load(Ordering::Relaxed) < messages {
                bail!("work queue stalled");
            }
        }
        anyhow::Ok(())
    };
    let (published, finished) = tokio::join!(publishing, consuming);
    published?;
    finished?;
    let elapsed = started.elapsed();
    for worker in workers {
        worker.abort();
    }
    Ok(messages as f64 / elapsed.as_secs_f64())
}

/// `requests` sequential requests answered by one responder: p50 and p99 round trips.
async fn rpc(bus: &Arc<dyn MessageBus>, requests: usize) -> anyhow::Result<(Duration, Duration)> {
    let mut consumer = bus.consume(&["bench.rpc.*"]).await?;
    let responder = tokio::spawn(async move {
        while let Some(delivery) = consumer.next().await {
            let response = Message::new("bench.rpc.response", delivery.message().payload.clone());
            let _ = delivery.reply(response).await;
        }
    });
    let mut round_trips = Vec::with_capacity(requests);
    let payload = vec![b'r'; 64];
    for _ in 0..requests {
        let started = Instant::now();
        bus.request(
            Message::new("bench.rpc.echo", payload.clone()),
            Duration::from_secs(10),
        )
        .await?;
        round_trips.push(started.elapsed());
    }
    responder.abort();
    round_trips.sort();
    let at =
        |q: f64| round_trips[((round_trips.len() as f64 * q) as usize).min(round_trips.len() - 1)];
    Ok((at(0.50), at(0.99)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let messages = match args.first().and_then(|a| a.parse::<usize>().ok()) {
        Some(messages) => {
            args.remove(0);
            messages
        }
        None => 20_000,
    };
    if args.is_empty() {
        args.push("memory".into());
    }
    println!("{messages} messages of {PAYLOAD} B per run, {IN_FLIGHT} in flight");
    for target in args {
        let config = config_for(&target)?;
        let bus = infrahub_bus::connect(&config)
            .await
            .with_context(|| format!("connect to {target}"))?;
        let label = format!("{:?}", config.backend).to_lowercase();
        // The in-process bus's costs are per message, the brokers' per round trip: give the
        // memory bus more messages so its run lasts long enough to measure.
        let count = if config.backend == BusBackend::Memory {
            messages * 10
        } else {
            messages
        };
        for subscribers in [1, 4] {
            let rate = broadcast(&bus, count, subscribers).await?;
            println!("{label:<7} broadcast   {subscribers} subscriber(s): {rate:>12.0} msg/s");
        }
        for consumers in [1, 4] {
            let rate =
                work_queue(&bus, config.backend == BusBackend::Memory, count, consumers).await?;
            println!("{label:<7} work queue  {consumers} consumer(s):   {rate:>12.0} msg/s");
        }
        let (p50, p99) = rpc(&bus, 2_000).await?;
        println!("{label:<7} rpc round trip: p50 {p50:?}, p99 {p99:?}");
        drop(bus);
        match config.backend {
            BusBackend::Amqp => AmqpBus::delete_namespace(&config).await?,
            BusBackend::Nats => NatsBus::delete_namespace(&config).await?,
            BusBackend::Memory => {}
        }
    }
    Ok(())
}
