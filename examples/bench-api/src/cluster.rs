//! `--cluster`: the cost of coordination. The same mixed load (8 clients, three lookups by
//! unique name for each create) against one server, then against two servers sharing one
//! fresh Bolt database, one broker and one Redis, the clients spread round-robin over them.
//! On a 2-core machine two servers cannot add throughput; the ratio shows what sharing costs.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::{Backend, CREATE, Client, SCHEMA, Server, TOKEN, ms, percentile, start_server_with};

/// Operations each of the 8 clients sends.
const OPERATIONS: usize = 400;
/// Devices created before the load, looked up by it.
const SEEDED: usize = 200;

/// Where the servers of a cluster run: database, broker and cache.
pub(crate) struct ClusterSetup {
    /// The Bolt database server.
    pub(crate) backend: Backend,
    /// `rabbitmq` or `nats`.
    pub(crate) broker: String,
    /// `amqp://user:password@host:port/vhost` or `nats://host:port`.
    pub(crate) broker_url: String,
    /// `redis://host:port`.
    pub(crate) redis_url: String,
}

/// `scheme://[user:password@]host:port[/path]` split into (user, password, host, port).
fn split_url(url: &str) -> anyhow::Result<(String, String, String, String)> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let (credentials, address) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let (host, port) = address
        .rsplit_once(':')
        .with_context(|| format!("{url} needs host:port"))?;
    Ok((user.into(), password.into(), host.into(), port.into()))
}

impl ClusterSetup {
    /// The environment of every server: a fresh database, the broker under a namespace of
    /// this run, Redis.
    fn environment(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut environment = self.backend.environment()?;
        let (user, password, host, port) = split_url(&self.broker_url)?;
        let (_, _, redis_host, redis_port) = split_url(&self.redis_url)?;
        let namespace = format!("bench{}", std::process::id());
        environment.extend(
            [
                ("INFRAHUB_BROKER_DRIVER", self.broker.clone()),
                ("INFRAHUB_BROKER_ADDRESS", host),
                ("INFRAHUB_BROKER_PORT", port),
                ("INFRAHUB_BROKER_NAMESPACE", namespace),
                ("INFRAHUB_CACHE_DRIVER", "redis".into()),
                ("INFRAHUB_CACHE_ADDRESS", redis_host),
                ("INFRAHUB_CACHE_PORT", redis_port),
                ("INFRAHUB_SECURITY_SECRET_KEY", "bench-cluster".into()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        if !user.is_empty() {
            environment.push(("INFRAHUB_BROKER_USERNAME".into(), user));
            environment.push(("INFRAHUB_BROKER_PASSWORD".into(), password));
        }
        Ok(environment)
    }
}

/// Rounds of (one server, two servers), alternated so that drift of the database server
/// (its JIT, its collector) lands on both.
const ROUNDS: usize = 3;

/// Runs the mixed load on one server, then on two, [`ROUNDS`] times, and prints each run, the
/// medians and their ratio.
pub(crate) async fn run(binary: &str, setup: &ClusterSetup) -> anyhow::Result<()> {
    let mut one = Vec::new();
    let mut two = Vec::new();
    for _ in 0..ROUNDS {
        one.push(measure(binary, setup, 1).await?);
        two.push(measure(binary, setup, 2).await?);
    }
    let median = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let (one, two) = (median(&mut one), median(&mut two));
    println!(
        "{}: median of {ROUNDS}: one server {one:.0}/s, two servers {two:.0}/s: {:.2}x",
        setup.broker,
        two / one
    );
    Ok(())
}

/// Starts `count` servers on a fresh deployment and measures the mixed load; returns
/// operations per second.
async fn measure(binary: &str, setup: &ClusterSetup, count: usize) -> anyhow::Result<f64> {
    let environment = setup.environment()?;
    let mut servers: Vec<Server> = Vec::new();
    let mut addresses = Vec::new();
    for instance in 0..count {
        let (server, address, ready) =
            start_server_with(binary, environment.clone(), true, instance).await?;
        println!("server {instance}: start to ready {:.0} ms", ms(ready));
        servers.push(server);
        addresses.push(address);
    }
    let mut admin = Client::connect(&addresses[0], TOKEN).await?;
    let (status, body) = admin
        .send(
            "POST",
            "/api/schema/load?branch=main",
            Some(SCHEMA.to_string()),
        )
        .await?;
    if status != 200 {
        bail!("schema load answered {status}: {body}");
    }
    // Every server serves the new schema before the load starts.
    for address in &addresses {
        let mut client = Client::connect(address, TOKEN).await?;
        let started = Instant::now();
        while client
            .graphql("{ BenchDevice { count } }", json!({}))
            .await
            .is_err()
        {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("{address} did not serve the loaded schema within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for index in 0..SEEDED {
        admin
            .graphql(
                CREATE,
                json!({"name": format!("seed-{index:04}"), "serial": "S"}),
            )
            .await?;
    }
    let lookup = "query ($name: String!) { BenchDevice(name__value: $name) { edges { node { id name { value } } } } }";
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client_index in 0..8 {
        let address = addresses[client_index % addresses.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&address, TOKEN).await?;
            let mut latencies = Vec::with_capacity(OPERATIONS);
            for operation in 0..OPERATIONS {
                let begin = Instant::now();
                if operation % 4 == 3 {
                    client
                        .graphql(
                            CREATE,
                            json!({"name": format!("mixed-{client_index}-{operation:04}"), "serial": "M"}),
                        )
                        .await?;
                } else {
                    let name = format!("seed-{:04}", (operation * 7919 + client_index) % SEEDED);
                    let data = client.graphql(lookup, json!({"name": name})).await?;
                    if data["BenchDevice"]["edges"].as_array().map_or(0, Vec::len) != 1 {
                        bail!("lookup of {name} did not find it");
                    }
                }
                latencies.push(begin.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{count} server(s), {}: mixed 8 clients (3 lookups : 1 create), {} operations in {:.0} ms = {rate:.0}/s; p50 {:.2} ms, p99 {:.2} ms",
        setup.broker,
        latencies.len(),
        ms(elapsed),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
    );
    drop(servers);
    Ok(rate)
}
