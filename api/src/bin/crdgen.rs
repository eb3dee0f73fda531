//! Writes the generated CRDs to `manifests/crds/` (or checks them with `--check`).

use std::path::PathBuf;
use std::process::ExitCode;

const CRD_FILE: &str = "rollouts.kruise.io_rollouts.yaml";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut check = false;
    let mut dir = PathBuf::from("manifests/crds");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--dir" => match args.next() {
                Some(d) => dir = PathBuf::from(d),
                None => return usage("--dir needs a folder"),
            },
            "-h" | "--help" => {
                println!("usage: crdgen [--check] [--dir manifests/crds]");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let path = dir.join(CRD_FILE);
    let wanted = rollouts_api::crd::rollout_crd_yaml();
    if check {
        return match std::fs::read_to_string(&path) {
            Ok(current) if current == wanted => ExitCode::SUCCESS,
            Ok(_) => fail(&format!(
                "{} is out of date: run `make manifests`",
                path.display()
            )),
            Err(e) => fail(&format!("cannot read {}: {e}", path.display())),
        };
    }
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, wanted)) {
        return fail(&format!("cannot write {}: {e}", path.display()));
    }
    println!("wrote {}", path.display());
    ExitCode::SUCCESS
}

fn usage(message: &str) -> ExitCode {
    eprintln!("crdgen: {message}\nusage: crdgen [--check] [--dir manifests/crds]");
    ExitCode::from(2)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("crdgen: {message}");
    ExitCode::FAILURE
}
