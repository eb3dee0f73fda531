//! `app-metrics --cluster-dir D --name N [--max-seconds S]`: plays an application's request
//! metrics for the Prometheus of the local cluster in D (rollouts_e2e::app_metrics). Prints its
//! URL on the first line of stdout, then serves until SIGTERM, SIGINT or S seconds (default
//! 3600) and removes its target file `D/prometheus/targets/N.json` on the way out.
//!
//! Settings: `curl -X PUT '<url>/revisions/<namespace>/<app>/<revision>?rps=10&errorRatio=0.5&p99=0.2'`
//! (a parameter left out keeps its value); `curl <url>/` lists them, `curl <url>/metrics` shows
//! what Prometheus scrapes.

use rollouts_e2e::app_metrics::AppMetrics;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

const USAGE: &str = "usage: app-metrics --cluster-dir D --name N [--max-seconds S (default 3600)]";

struct Args {
    cluster_dir: PathBuf,
    name: String,
    max_seconds: u64,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut cluster_dir, mut name, mut max_seconds) = (None, None, 3600);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--cluster-dir" => cluster_dir = Some(PathBuf::from(value()?)),
            "--name" => name = Some(value()?),
            "--max-seconds" => {
                let v = value()?;
                max_seconds = v.parse().map_err(|e| format!("--max-seconds {v}: {e}"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        cluster_dir: cluster_dir.ok_or("--cluster-dir is required")?,
        name: name.ok_or("--name is required")?,
        max_seconds,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("app-metrics: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("app-metrics: cannot handle SIGTERM/SIGINT");
        return ExitCode::FAILURE;
    };
    let metrics = AppMetrics::start(&args.cluster_dir, &args.name).await;
    println!("{}", metrics.url());
    let _ = std::io::stdout().flush();
    if let Some(file) = metrics.target_file() {
        eprintln!(
            "app-metrics: serving {}/metrics, registered in {}",
            metrics.url(),
            file.display()
        );
    }
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM".to_string(),
        _ = int.recv() => "SIGINT".to_string(),
        _ = tokio::time::sleep(Duration::from_secs(args.max_seconds)) => {
            format!("--max-seconds {} passed", args.max_seconds)
        }
    };
    drop(metrics);
    eprintln!("app-metrics: {why}; target file removed, stopped");
    ExitCode::SUCCESS
}
