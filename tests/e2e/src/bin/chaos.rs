//! `make chaos`: the reliability soak (see `rollouts_e2e::chaos` and docs/reliability.md).
//!
//! chaos [--duration 3m] [--seed N] [--lease-seconds 4] [--report FILE]

use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: chaos [--duration 3m|90s] [--seed N] [--lease-seconds 4] [--report FILE]");
    std::process::exit(2)
}

fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    match unit {
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

fn main() {
    let mut duration = Duration::from_secs(180);
    let mut seed = 1u64;
    let mut lease_seconds = 4u64;
    let mut report = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--duration" => duration = parse_duration(&value).unwrap_or_else(|| usage()),
            "--seed" => seed = value.parse().unwrap_or_else(|_| usage()),
            "--lease-seconds" => lease_seconds = value.parse().unwrap_or_else(|_| usage()),
            "--report" => report = Some(std::path::PathBuf::from(value)),
            _ => usage(),
        }
    }
    let command = format!(
        "make chaos CHAOS_DURATION={}s CHAOS_SEED={seed}",
        duration.as_secs()
    );
    let options = rollouts_e2e::chaos::Options {
        duration,
        seed,
        lease_seconds,
        command,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime");
    let outcome = runtime.block_on(rollouts_e2e::chaos::run(options));
    let (text, ok) = match outcome {
        Ok(text) => (text, true),
        Err(text) => (text, false),
    };
    println!("{text}");
    if let Some(path) = report {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("report written to {}", path.display());
    }
    std::process::exit(if ok { 0 } else { 1 });
}
