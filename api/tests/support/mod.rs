//! Test support: finds the shared conformance data and validates objects against our CRD schema.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The `shared/` folder beside the repository (override with `ROLLOUTS_SHARED_DIR`).
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("ROLLOUTS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    assert!(
        dir.join("conformance").is_dir(),
        "conformance data not found at {}: set ROLLOUTS_SHARED_DIR to the shared/ folder",
        dir.display()
    );
    dir
}

/// One YAML document of a conformance file.
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

/// Every `kind: Rollout` document under `shared/conformance/<sub>` (recursively).
pub fn rollout_docs(sub: &str) -> Vec<Doc> {
    let mut files = Vec::new();
    collect_yaml(&shared_dir().join("conformance").join(sub), &mut files);
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (index, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let value: Value = serde::Deserialize::deserialize(de)
                .unwrap_or_else(|e| panic!("{}#{index}: not YAML: {e}", file.display()));
            if value.get("kind").and_then(Value::as_str) == Some("Rollout") {
                docs.push(Doc {
                    file: file.clone(),
                    index,
                    value,
                });
            }
        }
    }
    docs
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
