//! admission-load: starts the webhook's HTTPS server in a child process (with an in-memory
//! cache of Rollouts and ReplicaSets instead of the API server), then sends Deployment
//! AdmissionReviews that start a release (so every answer carries a patch) over TLS with
//! keep-alive, at several concurrency levels. Prints p50/p99 latency, throughput and the
//! server's resident memory. All traffic stays on 127.0.0.1; every run is bounded in time.

mod fixture;

/// The webhook binary's allocator, so the numbers are the service's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    /// Concurrent connections to measure, comma separated.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    connections: Vec<usize>,
    /// Seconds of load per concurrency level.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve only (the child process): port file and PEM CA are written to `dir`.
    Serve {
        /// Folder for the port and CA files.
        dir: std::path::PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match cli.command {
        Some(Mode::Serve { dir }) => runtime.block_on(fixture::serve(dir)),
        None => runtime.block_on(drive(
            cli.connections,
            Duration::from_secs(cli.seconds.clamp(1, 60)),
        )),
    }
}

/// CPU time (user + system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn drive(levels: Vec<usize>, duration: Duration) {
    let dir = std::env::temp_dir().join(format!("admission-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut server = Command::new(exe)
        .arg("serve")
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    let port_file = dir.join("port");
    let started = Instant::now();
    while !port_file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let port: u16 = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let idle_rss = rss_kib(server.id());
    let body = fixture::review_body();
    let request = Arc::new(fixture::raw_request("/mutate-apps-v1-deployment", &body));
    println!(
        "admission-load: Deployment release reviews ({} bytes each) over TLS 1.3, HTTP/1.1 keep-alive",
        body.len()
    );
    println!("server idle RSS: {:.1} MiB", idle_rss as f64 / 1024.0);
    println!(
        "{:>11} {:>10} {:>10} {:>12} {:>14} {:>16}",
        "connections", "p50 (ms)", "p99 (ms)", "reviews/s", "server RSS MiB", "server CPU/review"
    );
    for connections in levels {
        let deadline = Instant::now() + duration;
        let mut workers = Vec::new();
        for _ in 0..connections.max(1) {
            let (request, ca) = (request.clone(), ca.clone());
            workers.push(tokio::spawn(async move {
                let mut connection = fixture::Connection::open(&ca, port, request)
                    .await
                    .expect("TLS connection");
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match connection.round_trip().await {
                        Ok(200) => latencies.push(sent.elapsed()),
                        Ok(status) => panic!("server answered {status}"),
                        Err(e) => panic!("request failed: {e}"),
                    }
                }
                latencies
            }));
        }
        let load_started = Instant::now();
        let cpu_before = cpu_time(server.id());
        let mut peak_rss = 0;
        let mut all = Vec::new();
        for worker in workers {
            peak_rss = peak_rss.max(rss_kib(server.id()));
            all.extend(worker.await.unwrap());
        }
        let elapsed = load_started.elapsed().as_secs_f64();
        let server_cpu = cpu_time(server.id()).saturating_sub(cpu_before);
        all.sort();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        println!(
            "{connections:>11} {:>10.3} {:>10.3} {:>12.0} {:>14.1} {:>13.1} us",
            pct(0.50).as_secs_f64() * 1000.0,
            pct(0.99).as_secs_f64() * 1000.0,
            all.len() as f64 / elapsed,
            peak_rss.max(rss_kib(server.id())) as f64 / 1024.0,
            server_cpu.as_secs_f64() * 1e6 / all.len().max(1) as f64
        );
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
