//! One run of a script in a fresh Lua state: only the `math`, `string` and `table` libraries and
//! a `json` module, no way to files or other code (`dofile`, `loadfile`, `require` are gone and
//! `print` does nothing), and limits on instructions, time and memory.

use crate::convert::{from_lua, to_lua};
use crate::{Script, ScriptError};
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Value as LuaValue, VmState};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one run may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Lua VM instructions.
    pub instructions: u64,
    /// Wall-clock time.
    pub time: Duration,
    /// Bytes the Lua state may allocate.
    pub memory_bytes: usize,
}

impl Default for Limits {
    /// Far more than a routing script needs (the largest built-in one runs a few thousand
    /// instructions), small enough that a runaway script costs the controller little.
    fn default() -> Self {
        Self {
            instructions: 10_000_000,
            time: Duration::from_secs(1),
            memory_bytes: 32 << 20,
        }
    }
}

/// Instructions between two checks of the limits.
const CHECK_EVERY: u32 = 1_000;

/// Runs `script` with `input` as the global `obj` and returns what it returns (a table).
pub fn run(script: &Script, input: &Value, limits: &Limits) -> Result<Value, ScriptError> {
    let failed = |message: String| ScriptError {
        script: script.name.clone(),
        line: None,
        message,
    };
    let lua = Lua::new_with(
        StdLib::MATH | StdLib::STRING | StdLib::TABLE,
        LuaOptions::new(),
    )
    .map_err(|e| failed(e.to_string()))?;
    prepare(&lua, input).map_err(|e| failed(e.to_string()))?;
    lua.set_memory_limit(limits.memory_bytes)
        .map_err(|e| failed(e.to_string()))?;
    let executed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let limits_copy = *limits;
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(CHECK_EVERY),
        move |_, _| {
            let done = executed.fetch_add(u64::from(CHECK_EVERY), Ordering::Relaxed);
            if done >= limits_copy.instructions {
                return Err(mlua::Error::runtime(format!(
                    "stopped after {} instructions (the limit)",
                    limits_copy.instructions
                )));
            }
            if started.elapsed() > limits_copy.time {
                return Err(mlua::Error::runtime(format!(
                    "stopped after {:?} (the time limit)",
                    limits_copy.time
                )));
            }
            Ok(VmState::Continue)
        },
    )
    .map_err(|e| failed(e.to_string()))?;
    let returned: LuaValue = lua
        .load(script.source.as_str())
        .set_name(format!("={}", script.name))
        .eval()
        .map_err(|e| located(script, &e, limits))?;
    if !returned.is_table() {
        return Err(failed(format!(
            "it must return a table, it returned {}",
            returned.type_name()
        )));
    }
    from_lua(&returned).map_err(|e| failed(format!("its result cannot be JSON: {e}")))
}

/// The globals a script sees: `obj`, `json`, and the base library without file access.
fn prepare(lua: &Lua, input: &Value) -> mlua::Result<()> {
    let globals = lua.globals();
    for name in ["dofile", "loadfile", "require", "module"] {
        globals.raw_set(name, LuaValue::Nil)?;
    }
    globals.set("print", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    let json = lua.create_table()?;
    json.set(
        "encode",
        lua.create_function(|_, value: LuaValue| {
            let value = from_lua(&value).map_err(mlua::Error::runtime)?;
            serde_json::to_string(&value).map_err(mlua::Error::runtime)
        })?,
    )?;
    json.set(
        "decode",
        lua.create_function(|lua, text: String| {
            let value: Value = serde_json::from_str(&text).map_err(mlua::Error::runtime)?;
            to_lua(lua, &value)
        })?,
    )?;
    globals.set("json", json)?;
    globals.set("obj", to_lua(lua, input)?)?;
    Ok(())
}

/// The error of a failed run, with the line Lua names (`<name>:<line>: <message>`).
fn located(script: &Script, error: &mlua::Error, limits: &Limits) -> ScriptError {
    let message = match root(error) {
        mlua::Error::MemoryError(_) => format!(
            "stopped at the memory limit of {} bytes",
            limits.memory_bytes
        ),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let message = message
        .split("\nstack traceback")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let prefix = format!("{}:", script.name);
    if let Some(rest) = message.strip_prefix(&prefix)
        && let Some((line, text)) = rest.split_once(':')
        && let Ok(line) = line.parse()
    {
        return ScriptError {
            script: script.name.clone(),
            line: Some(line),
            message: text.trim().to_string(),
        };
    }
    ScriptError {
        script: script.name.clone(),
        line: None,
        message,
    }
}

fn root(error: &mlua::Error) -> &mlua::Error {
    match error {
        mlua::Error::CallbackError { cause, .. } => root(cause),
        other => other,
    }
}
