//! A script runs with the upstream contract and nothing more: no files, no processes, bounded
//! instructions, time and memory, and a failure names the script and the line.

use rollouts_script::{Limits, Script, ScriptError, run};
use serde_json::{Value, json};
use std::time::Duration;

fn outcome(source: &str) -> Result<Value, ScriptError> {
    run(
        &Script::new("lua.traffic.routing.Route.example.com", source),
        &json!({"weight": 5}),
        &Limits::default(),
    )
}

fn error(source: &str) -> ScriptError {
    outcome(source).expect_err(source)
}

#[test]
fn a_script_reads_obj_and_returns_a_table_with_json_at_hand() {
    let source = r#"
        local copy = json.decode(json.encode({ w = obj.weight, list = { 1, 2 } }))
        print("ignored")
        return { weight = copy.w * 2, list = copy.list, text = string.upper("a"), pi = math.floor(3.7) }
    "#;
    assert_eq!(
        outcome(source),
        Ok(json!({"weight": 10, "list": [1, 2], "text": "A", "pi": 3}))
    );
}

#[test]
fn nothing_reaches_files_processes_or_other_code() {
    let cases = [
        "return io.open('/etc/passwd')",
        "return os.execute('true')",
        "return dofile('/etc/passwd')",
        "return loadfile('/etc/passwd')",
        "return require('os')",
        "return debug.getinfo(1)",
        "return package.loadlib('x', 'y')",
    ];
    for source in cases {
        let error = error(source);
        assert!(error.message.contains("nil"), "{source}: {error}");
        assert_eq!(error.line, Some(1), "{source}: {error}");
    }
}

#[test]
fn failures_name_the_script_and_the_line() {
    let cases = [
        (
            "local a = 1\nlocal b = obj.missing.field\nreturn {}",
            Some(2),
            "attempt to index",
        ),
        ("return {\n  a = \n}", Some(3), "unexpected symbol"),
        (
            "\n\nerror('no route for this step')",
            Some(3),
            "no route for this step",
        ),
        (
            "return 'text'",
            None,
            "must return a table, it returned string",
        ),
        (
            "return { f = function() end }",
            None,
            "function cannot be JSON",
        ),
    ];
    for (source, line, message) in cases {
        let error = error(source);
        assert_eq!(error.line, line, "{source}: {error}");
        assert!(error.message.contains(message), "{source}: {error}");
        assert!(
            error
                .to_string()
                .starts_with("Lua script lua.traffic.routing.Route.example.com"),
            "{error}"
        );
    }
}

#[test]
fn runaway_scripts_stop_at_their_limits() {
    let limits = Limits {
        instructions: 100_000,
        time: Duration::from_secs(5),
        memory_bytes: 4 << 20,
    };
    let script = |source: &str| Script::new("runaway", source);
    let endless = run(&script("while true do end"), &json!({}), &limits).unwrap_err();
    assert!(endless.message.contains("100000 instructions"), "{endless}");
    let greedy = "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end return t";
    let greedy = run(
        &script(greedy),
        &json!({}),
        &Limits {
            instructions: u64::MAX,
            ..limits
        },
    )
    .unwrap_err();
    assert!(greedy.message.contains("memory limit"), "{greedy}");
    let slow = Limits {
        instructions: u64::MAX,
        time: Duration::from_millis(50),
        ..limits
    };
    let slow = run(&script("while true do end"), &json!({}), &slow).unwrap_err();
    assert!(slow.message.contains("time limit"), "{slow}");
}
