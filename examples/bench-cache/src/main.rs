//! Benchmarks the cache backends: lock acquire+release latency (uncontended, and with 8
//! contenders on one lock), and get/set throughput, for each target given.
//!
//! ```text
//! cargo run --release -p example-bench-cache -- [memory] [redis://127.0.0.1:6379] [nats://127.0.0.1:4222]
//! ```
//!
//! Without arguments it measures the memory backend only. Keys and locks live in the namespace
//! `bench-cache` (deleted at the end; NATS keeps the empty bucket `kv_0_bench-cache`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use infrahub_cache::{AcquireOptions, CacheConfig, CacheHandle, SetOptions, connect};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Acquire+release cycles of the uncontended run.
const LOCK_ROUNDS: usize = 2000;
/// Contending tasks, and the cycles each does.
const CONTENDERS: usize = 8;
const CONTENDED_ROUNDS: usize = 100;
/// Operations of each throughput run.
const OPERATIONS: usize = 5000;
/// Concurrent tasks of the parallel `get` run.
const PARALLEL: usize = 16;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    println!(
        "  {what:<38} p50 {:>9.3} ms   p99 {:>9.3} ms   ({} samples)",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.len()
    );
}

fn throughput(what: &str, operations: usize, elapsed: Duration) {
    println!(
        "  {what:<38} {:>10.0} ops/s",
        operations as f64 / elapsed.as_secs_f64()
    );
}

async fn bench(target: &str) -> anyhow::Result<()> {
    let config = CacheConfig {
        namespace: "bench-cache".to_owned(),
        ..CacheConfig::from_url(if target == "memory" {
            "memory://"
        } else {
            target
        })?
    };
    let handle: CacheHandle = connect(&config)
        .await
        .with_context(|| format!("connecting to {target}"))?;
    println!("{target}");

    let mut samples = Vec::with_capacity(LOCK_ROUNDS);
    for _ in 0..LOCK_ROUNDS {
        let started = Instant::now();
        let guard = handle
            .locks
            .acquire("bench.uncontended", AcquireOptions::default())
            .await?;
        guard.release().await?;
        samples.push(started.elapsed());
    }
    report("lock acquire+release, uncontended", samples);

    let started = Instant::now();
    let tasks: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let locks = handle.locks.clone();
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(CONTENDED_ROUNDS);
                for _ in 0..CONTENDED_ROUNDS {
                    let started = Instant::now();
                    let guard = locks
                        .acquire("bench.contended", AcquireOptions::default())
                        .await?;
                    guard.release().await?;
                    samples.push(started.elapsed());
                }
                anyhow::Ok(samples)
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    let elapsed = started.elapsed();
    report(
        &format!("lock acquire+release, {CONTENDERS} contenders"),
        samples,
    );
    throughput(
        &format!("  lock hand-overs, {CONTENDERS} contenders"),
        CONTENDERS * CONTENDED_ROUNDS,
        elapsed,
    );

    let value = vec![b'x'; 200];
    let started = Instant::now();
    for index in 0..OPERATIONS {
        handle
            .cache
            .set(&format!("bench:{index}"), &value, SetOptions::default())
            .await?;
    }
    throughput("set (200 B), sequential", OPERATIONS, started.elapsed());
    let started = Instant::now();
    for index in 0..OPERATIONS {
        handle.cache.get(&format!("bench:{index}")).await?;
    }
    throughput("get, sequential", OPERATIONS, started.elapsed());
    let started = Instant::now();
    let tasks: Vec<_> = (0..PARALLEL)
        .map(|task| {
            let cache = Arc::clone(&handle.cache);
            tokio::spawn(async move {
                for index in (task..OPERATIONS).step_by(PARALLEL) {
                    cache.get(&format!("bench:{index}")).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    throughput(
        &format!("get, {PARALLEL} tasks in parallel"),
        OPERATIONS,
        started.elapsed(),
    );

    for key in handle.cache.keys_with_prefix("").await? {
        handle.cache.delete(&key).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut targets: Vec<String> = std::env::args().skip(1).collect();
    if targets.is_empty() {
        targets.push("memory".to_owned());
    }
    for target in &targets {
        bench(target).await?;
    }
    Ok(())
}
