//! Rollout files pass validation with no error: the repository's examples and fixtures always,
//! and the seed's and upstream's Rollouts when the team's conformance data is available.

use rollouts_plan::validation::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Names the folder of the team's conformance data. When it is set, the folder must exist.
const CONFORMANCE_ENV: &str = "ROLLOUTS_CONFORMANCE_DIR";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The conformance data folder: `$ROLLOUTS_CONFORMANCE_DIR` (which must then be an absolute
/// path to a folder), else none: nothing outside the repository is read unless asked for.
fn conformance_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFORMANCE_ENV) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_absolute(),
            "{CONFORMANCE_ENV}={} must be an absolute path (tests run in their crate's folder)",
            dir.display()
        );
        assert!(
            dir.is_dir(),
            "{CONFORMANCE_ENV}={} is not a folder: point it at the conformance data or unset it",
            dir.display()
        );
        return Some(dir);
    }
    None
}

/// Prints past the test harness's capture, so that a normal `cargo test` run shows the line.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Validation errors of the one Rollout in `file`, as new (no old object, no other Rollouts).
fn errors_of(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let value: Value = serde_yaml::from_str(&text).unwrap();
    let ctx = Context {
        old: None,
        others: &[],
        partition_percent_limit: DEFAULT_PARTITION_PERCENT_LIMIT,
    };
    let errors = if value["apiVersion"] == "rollouts.kruise.io/v1alpha1" {
        validate_v1alpha1(&serde_json::from_value(value).unwrap(), None, &ctx)
    } else {
        validate_v1beta1(&serde_json::from_value(value).unwrap(), &ctx)
    };
    errors.iter().map(ToString::to_string).collect()
}

fn assert_valid(files: &[PathBuf]) {
    for file in files {
        let found = errors_of(file);
        assert!(found.is_empty(), "{}: {found:?}", file.display());
    }
}

#[test]
fn example_and_fixture_rollouts_are_valid() {
    let mut files: Vec<PathBuf> = [
        "rollout-canary.yaml",
        "rollout-ab.yaml",
        "rollout-partition.yaml",
        "rollout-cloneset.yaml",
        "rollout-blue-green.yaml",
        "rollout-analysis.yaml",
    ]
    .iter()
    .map(|f| repo_root().join("examples/echoserver").join(f))
    .collect();
    let fixtures = repo_root().join("tests/fixtures/rollouts");
    for entry in std::fs::read_dir(&fixtures).unwrap_or_else(|e| panic!("{fixtures:?}: {e}")) {
        files.push(entry.unwrap().path());
    }
    assert!(files.len() >= 10, "{files:?}");
    assert_valid(&files);
}

#[test]
fn conformance_seed_and_upstream_rollouts_are_valid() {
    let test = "conformance_seed_and_upstream_rollouts_are_valid";
    let Some(dir) = conformance_dir() else {
        return say(&format!(
            "conformance data: {test}: not found (set {CONFORMANCE_ENV}); skipped upstream part"
        ));
    };
    let files: Vec<PathBuf> = [
        "seed/rollout-canary.yaml",
        "seed/rollout-ab.yaml",
        "seed/rollout-partition.yaml",
        "upstream/rollout/rollout_v1beta1_canary_base.yaml",
        "upstream/rollout/rollout_v1beta1_partition_base.yaml",
        "upstream/rollout/rollout_v1beta1_bluegreen_base.yaml",
        "upstream/rollout/rollout_canary_base.yaml",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    assert_valid(&files);
    say(&format!(
        "conformance data: {test}: ran over {} ({} files)",
        dir.display(),
        files.len()
    ));
}
