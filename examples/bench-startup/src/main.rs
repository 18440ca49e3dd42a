//! Measures how long `infrahub server start` takes from process start to `GET /api/info`
//! answering, and the server's resident memory once ready, over several fresh data directories.
//!
//! ```text
//! cargo build --release -p infrahub-server -p example-bench-startup
//! target/release/example-bench-startup [path/to/infrahub] [runs]
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn info_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request = "GET /api/info HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).is_ok()
        && response.starts_with("HTTP/1.1 200")
        && response.contains("deployment_id")
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .unwrap_or_else(|| "target/release/infrahub".to_string());
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(10);
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for run in 0..runs {
        let data_dir = std::env::temp_dir().join(format!(
            "infrahub-bench-startup-{}-{run}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        let port = free_port()?;
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .args(["server", "start", "--port", &port.to_string()])
            .env("INFRAHUB_DATA_DIR", &data_dir)
            .env_remove("INFRAHUB_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        loop {
            if info_answers(port) {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                bail!("the server did not answer within 30 s");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        times.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(100));
        rss.push(rss_kib(child.id()).unwrap_or(0));
        child.kill()?;
        child.wait()?;
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    times.sort();
    rss.sort_unstable();
    println!("runs: {runs}");
    println!(
        "start to /api/info answering: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times[runs / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[runs - 1].as_secs_f64() * 1e3
    );
    println!(
        "RSS once ready: median {:.1} MiB, max {:.1} MiB",
        rss[runs / 2] as f64 / 1024.0,
        rss[runs - 1] as f64 / 1024.0
    );
    Ok(())
}
