//! Writes the generated CRDs to `manifests/crds/` and the Helm chart's `charts/rollouts-rs/crds/`
//! (or checks them with `--check`), so the two installs never differ.

use std::path::PathBuf;
use std::process::ExitCode;

const DEFAULT_DIRS: [&str; 2] = ["manifests/crds", "charts/rollouts-rs/crds"];
const USAGE: &str =
    "usage: crdgen [--check] [--dir DIR]... (default: manifests/crds and charts/rollouts-rs/crds)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut check = false;
    let mut dirs: Vec<PathBuf> = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--dir" => match args.next() {
                Some(d) => dirs.push(PathBuf::from(d)),
                None => return usage("--dir needs a folder"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    if dirs.is_empty() {
        dirs = DEFAULT_DIRS.iter().map(PathBuf::from).collect();
    }
    let files = rollouts_api::crd::crd_files();
    let mut failed = false;
    for (dir, (file, wanted)) in dirs
        .iter()
        .flat_map(|dir| files.iter().map(move |file| (dir, file)))
    {
        let path = dir.join(file);
        let outcome = match check {
            true => match std::fs::read_to_string(&path) {
                Ok(current) if current == *wanted => Ok(None),
                Ok(_) => Err(format!(
                    "{} is out of date: run `make manifests`",
                    path.display()
                )),
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            },
            false => std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(&path, wanted))
                .map(|_| Some(format!("wrote {}", path.display())))
                .map_err(|e| format!("cannot write {}: {e}", path.display())),
        };
        match outcome {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => {}
            Err(message) => {
                eprintln!("crdgen: {message}");
                failed = true;
            }
        }
    }
    match failed {
        true => ExitCode::FAILURE,
        false => ExitCode::SUCCESS,
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("crdgen: {message}\n{USAGE}");
    ExitCode::from(2)
}
