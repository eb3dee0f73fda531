//! Traffic-routing scripts in Lua 5.1, run in a sandbox, with the contract users' scripts are
//! written for: the input is the global table `obj`, the script's return value is the result;
//! `math`, `string`, `table` and a `json` module (`encode`, `decode`) are there, nothing that
//! reaches files, processes or the network. Each run has an instruction, a time and a memory
//! limit, and an error names the script and the line.

mod builtin;
mod convert;
mod sandbox;

pub use builtin::{
    builtin_for_ingress_class, builtin_for_object, ingress_class_key, object_key,
    script_for_ingress_class, script_for_object,
};
pub use sandbox::{Limits, run};

use std::fmt;

/// A script and the name its errors are reported under (e.g. the ConfigMap key it came from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Where it came from, e.g. `lua.traffic.routing.VirtualService.networking.istio.io`.
    pub name: String,
    /// The Lua source.
    pub source: String,
}

impl Script {
    /// A script named `name`.
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
        }
    }
}

/// Why a script gave no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    /// The script's name.
    pub script: String,
    /// The line the error points at, when Lua names one.
    pub line: Option<u32>,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "Lua script {} line {line}: {}",
                self.script, self.message
            ),
            None => write!(f, "Lua script {}: {}", self.script, self.message),
        }
    }
}

impl std::error::Error for ScriptError {}
