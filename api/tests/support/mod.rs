//! Test support: the repository's example and fixture Rollouts, the team's conformance data
//! when it is available, and validation of objects against our CRD schema.

#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Names the folder of the team's conformance data (holding `seed/`, `upstream/` and
/// `upstream-crds/`). When it is set, the folder must exist.
pub const CONFORMANCE_ENV: &str = "ROLLOUTS_CONFORMANCE_DIR";

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The conformance data folder: `$ROLLOUTS_CONFORMANCE_DIR` (which must then be a folder), else none:
/// nothing outside the repository is read unless asked for.
pub fn conformance_dir() -> Option<PathBuf> {
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

/// Prints one line to the test process's stderr, past the test harness's capture, so that it
/// shows in a normal `cargo test` run.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Says that `test` ran over `files` files of the conformance data in `dir`.
pub fn report_ran(test: &str, dir: &Path, files: usize) {
    say(&format!(
        "conformance data: {test}: ran over {} ({files} files)",
        dir.display()
    ));
}

/// Says that `test` skipped its conformance part because there is no conformance data.
pub fn report_skipped(test: &str) {
    say(&format!(
        "conformance data: {test}: not found (set {CONFORMANCE_ENV}); skipped upstream part"
    ));
}

/// One YAML document of a file.
pub struct Doc {
    pub file: PathBuf,
    pub index: usize,
    pub value: Value,
}

impl Doc {
    pub fn label(&self) -> String {
        format!("{}#{}", self.file.display(), self.index)
    }
}

/// Every `kind: Rollout` document in the YAML files under `dir` (recursively), sorted by file.
pub fn rollout_docs_in(dir: &Path) -> Vec<Doc> {
    yaml_files(dir)
        .iter()
        .flat_map(|file| yaml_docs(file))
        .filter(|doc| doc.value.get("kind").and_then(Value::as_str) == Some("Rollout"))
        .collect()
}

/// The Rollouts of this repository: `examples/` and `tests/fixtures/rollouts/`.
pub fn own_rollout_docs() -> Vec<Doc> {
    let mut docs = rollout_docs_in(&repo_root().join("examples"));
    docs.extend(rollout_docs_in(
        &repo_root().join("tests/fixtures/rollouts"),
    ));
    docs
}

/// Every document of one YAML file.
pub fn yaml_docs(file: &Path) -> Vec<Doc> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_yaml::Deserializer::from_str(&text)
        .enumerate()
        .map(|(index, de)| {
            let value: Value = serde::Deserialize::deserialize(de)
                .unwrap_or_else(|e| panic!("{}#{index}: not YAML: {e}", file.display()));
            Doc {
                file: file.to_path_buf(),
                index,
                value,
            }
        })
        .collect()
}

/// The YAML files under `dir` (recursively), sorted. A missing folder fails the test.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    collect_yaml(dir, &mut files);
    files.sort();
    files
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// The openAPIV3Schema of one version of a CRD given as JSON.
pub fn version_schema(crd: &Value, version: &str) -> Value {
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap_or_else(|| panic!("CRD has no version {version}"))["schema"]["openAPIV3Schema"]
        .clone()
}

/// Our generated Rollout CRD as JSON.
pub fn our_crd() -> Value {
    serde_json::to_value(rollouts_api::crd::rollout_crd()).unwrap()
}

/// Validation errors of `object` against our CRD schema for its apiVersion, as
/// `"<field path>: <message>"` lines (the path in `a.b[0].c` form, like the API server's).
pub fn schema_errors(object: &Value) -> Vec<String> {
    let version = object["apiVersion"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let schema = version_schema(&our_crd(), version);
    let validator = jsonschema::validator_for(&schema).expect("our schema compiles");
    validator
        .iter_errors(object)
        .map(|e| format!("{}: {}", field_path(&e.instance_path().to_string()), e))
        .collect()
}

/// `/spec/steps/0/weight` -> `spec.steps[0].weight`.
fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}
