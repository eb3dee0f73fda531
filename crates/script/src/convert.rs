//! JSON to Lua and back, as scripts written for the upstream project expect: a JSON `null`
//! becomes an absent key, an integral number comes back as a JSON integer, an empty table comes
//! back as `null`, a table is an array when its keys are exactly 1..n and an object when they
//! are all strings.

use mlua::{Lua, Table, Value as LuaValue};
use serde_json::{Map, Number, Value};

/// Tables nested deeper than this are refused (a table that contains itself never ends).
const MAX_DEPTH: usize = 128;

/// `value` as a Lua value.
pub fn to_lua(lua: &Lua, value: &Value) -> mlua::Result<LuaValue> {
    Ok(match value {
        Value::Null => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => LuaValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            LuaValue::Table(table)
        }
        Value::Object(fields) => {
            let table = lua.create_table_with_capacity(0, fields.len())?;
            for (key, item) in fields {
                table.raw_set(key.as_str(), to_lua(lua, item)?)?;
            }
            LuaValue::Table(table)
        }
    })
}

/// `value` as JSON, or why it has none.
pub fn from_lua(value: &LuaValue) -> Result<Value, String> {
    from_lua_at(value, 0)
}

fn from_lua_at(value: &LuaValue, depth: usize) -> Result<Value, String> {
    match value {
        LuaValue::Nil => Ok(Value::Null),
        LuaValue::Boolean(b) => Ok(Value::Bool(*b)),
        LuaValue::Integer(i) => Ok(Value::from(*i)),
        LuaValue::Number(n) => number(*n),
        LuaValue::String(s) => s
            .to_str()
            .map(|s| Value::String(s.to_string()))
            .map_err(|_| "a string that is not UTF-8".to_string()),
        LuaValue::Table(_) if depth >= MAX_DEPTH => Err(format!(
            "tables nested deeper than {MAX_DEPTH} levels (does a table contain itself?)"
        )),
        LuaValue::Table(table) => table_value(table, depth),
        other => Err(format!("a {} cannot be JSON", other.type_name())),
    }
}

fn number(n: f64) -> Result<Value, String> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact
    if n.fract() == 0.0 && n.abs() < EXACT {
        return Ok(Value::from(n as i64));
    }
    Number::from_f64(n)
        .map(Value::Number)
        .ok_or_else(|| format!("the number {n} cannot be JSON"))
}

fn table_value(table: &Table, depth: usize) -> Result<Value, String> {
    let mut indexed: Vec<(i64, Value)> = Vec::new();
    let mut named = Map::new();
    for pair in table.clone().pairs::<LuaValue, LuaValue>() {
        let (key, item) = pair.map_err(|e| e.to_string())?;
        let item = from_lua_at(&item, depth + 1)?;
        match key {
            LuaValue::String(s) => {
                let key = s.to_str().map_err(|_| "a key that is not UTF-8")?;
                named.insert(key.to_string(), item);
            }
            LuaValue::Integer(i) => indexed.push((i, item)),
            LuaValue::Number(n) if n.fract() == 0.0 => indexed.push((n as i64, item)),
            other => return Err(format!("a table key of type {}", other.type_name())),
        }
    }
    match (indexed.is_empty(), named.is_empty()) {
        (true, true) => Ok(Value::Null),
        (true, false) => Ok(Value::Object(named)),
        (false, true) => {
            indexed.sort_by_key(|(i, _)| *i);
            let dense = indexed
                .iter()
                .enumerate()
                .all(|(n, (i, _))| *i == n as i64 + 1);
            if !dense {
                return Err("an array with holes (its keys must be 1, 2, 3, ...)".into());
            }
            Ok(Value::Array(indexed.into_iter().map(|(_, v)| v).collect()))
        }
        (false, false) => Err("a table with both array items and named keys".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(value: Value) -> Result<Value, String> {
        let lua = Lua::new();
        from_lua(&to_lua(&lua, &value).map_err(|e| e.to_string())?)
    }

    #[test]
    fn json_survives_the_trip_through_lua_as_upstream_scripts_expect() {
        let cases = [
            (
                json!({"a": 1, "b": [1, 2.5, "x"]}),
                json!({"a": 1, "b": [1, 2.5, "x"]}),
            ),
            (json!({"a": null, "b": true}), json!({"b": true})),
            (json!({"a": {}, "b": []}), json!({"a": null, "b": null})),
            (json!({}), Value::Null),
            (json!([{"weight": 50}]), json!([{"weight": 50}])),
            (json!(-3), json!(-3)),
        ];
        for (input, expected) in cases {
            assert_eq!(round_trip(input.clone()), Ok(expected), "{input}");
        }
    }

    #[test]
    fn tables_that_are_neither_arrays_nor_objects_are_refused_by_name() {
        let lua = Lua::new();
        let cases = [
            ("return {1, 2, x = 3}", "both array items and named keys"),
            ("local t = {}; t[1] = 1; t[3] = 3; return t", "holes"),
            ("return {[true] = 1}", "table key of type boolean"),
            ("return {f = print}", "function cannot be JSON"),
            ("local t = {}; t.self = t; return t", "nested deeper"),
            ("return 0/0", "cannot be JSON"),
        ];
        for (source, expected) in cases {
            let value: LuaValue = lua.load(source).eval().unwrap();
            let error = from_lua(&value).unwrap_err();
            assert!(error.contains(expected), "{source}: {error}");
        }
    }
}
