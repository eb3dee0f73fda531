//! The Grafana dashboard `charts/rollouts-rs/dashboards/rollouts-rs.json` queries only series the
//! services really expose: every metric name in a panel's PromQL is provided by a `# TYPE` line
//! of the controller's or the webhook's `/metrics` (controller/src/metrics.rs,
//! webhook/src/metrics.rs). The checks of the JSON alone need no cluster.

use rollouts_e2e::{admin_get, controller, repo_root, webhook};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::PoisonError;

const DASHBOARD: &str = "charts/rollouts-rs/dashboards/rollouts-rs.json";
const DATASOURCE: &str = "${datasource}";

fn dashboard() -> Value {
    let path = repo_root().join(DASHBOARD);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// Every panel, including those nested in rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn title(panel: &Value) -> &str {
    panel["title"].as_str().unwrap_or("<untitled>")
}

/// The PromQL of a panel's targets.
fn exprs(panel: &Value) -> Vec<&str> {
    panel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|target| target["expr"].as_str())
        .collect()
}

/// Series names an exposition provides, from its `# TYPE <name> <kind>` lines: a histogram
/// `x` provides `x_bucket`, `x_sum` and `x_count`, a summary `x`, `x_sum` and `x_count`, any
/// other kind `x`.
fn provided_series(exposition: &str) -> BTreeSet<String> {
    let mut series = BTreeSet::new();
    for line in exposition.lines() {
        let mut words = line.split_whitespace();
        if (words.next(), words.next()) != (Some("#"), Some("TYPE")) {
            continue;
        }
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "histogram" => &["_bucket", "_sum", "_count"],
            "summary" => &["", "_sum", "_count"],
            _ => &[""],
        };
        series.extend(suffixes.iter().map(|suffix| format!("{name}{suffix}")));
    }
    series
}

/// Words that stand where a metric name could, but are PromQL keywords.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
];
/// Words after which a parenthesised list holds label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression selects: identifiers outside label matchers (`{...}`),
/// range and subquery brackets (`[...]`), label lists (`by (...)` and the like), strings and
/// comments, that are neither functions (followed by `(`), aggregations (followed by `by` or
/// `without`), keywords, numbers, durations nor Grafana variables (`$x`, `${x}`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let (mut braces, mut brackets) = (0usize, 0usize);
    // One entry per open parenthesis: whether it holds label names.
    let mut parens: Vec<bool> = Vec::new();
    // The word just before the current token, when nothing but blanks came between.
    let mut last_word: Option<String> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let word_before = last_word.take();
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' && c != '`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && is_word(chars[i]) {
                        i += 1;
                    }
                }
            }
            '{' => {
                braces += 1;
                i += 1;
            }
            '}' => {
                braces = braces.saturating_sub(1);
                i += 1;
            }
            '[' => {
                brackets += 1;
                i += 1;
            }
            ']' => {
                brackets = brackets.saturating_sub(1);
                i += 1;
            }
            '(' => {
                parens.push(word_before.is_some_and(|w| LABEL_LISTS.contains(&w.as_str())));
                i += 1;
            }
            ')' => {
                parens.pop();
                i += 1;
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number or a duration (`0.99`, `1e3`, `5m30s`, `0x1f`).
                while i < chars.len() && (is_word(chars[i]) || chars[i] == '.') {
                    i += 1;
                }
            }
            c if is_word(c) => {
                let start = i;
                while i < chars.len() && is_word(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let rest: String = chars[i..].iter().collect();
                let rest = rest.trim_start();
                // `sum by (le) (...)`: an aggregation, whose grouping comes before its argument.
                let next_word: String = rest.chars().take_while(|c| is_word(*c)).collect();
                let selects = braces == 0
                    && brackets == 0
                    && !parens.last().copied().unwrap_or(false)
                    && !rest.starts_with('(')
                    && !["by", "without"].contains(&next_word.to_ascii_lowercase().as_str())
                    && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str());
                if selects {
                    names.insert(word.clone());
                }
                last_word = Some(word.to_ascii_lowercase());
            }
            _ => i += 1,
        }
    }
    names
}

/// Whether `name` is one of this project's metric names: `rollouts_[a-z0-9_]+`.
fn is_rollouts_name(name: &str) -> bool {
    name.strip_prefix("rollouts_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Every metric name the dashboard queries, with the panel that queries it; panics on a
/// selector by `__name__`, which this parser would not see.
fn queried_series(dashboard: &Value) -> Vec<(String, String)> {
    let mut queried = Vec::new();
    for panel in panels(dashboard) {
        for expr in exprs(panel) {
            assert!(
                !expr.contains("__name__"),
                "panel {:?}: select by metric name, not by __name__: {expr}",
                title(panel)
            );
            for name in metric_names(expr) {
                queried.push((name, title(panel).to_string()));
            }
        }
    }
    queried
}

#[test]
fn metric_names_skip_functions_labels_strings_ranges_and_variables() {
    let expr = "histogram_quantile(0.99, sum by (le, path) (rate(\
                rollouts_webhook_request_duration_seconds_bucket{path=\"/rollouts_x\",\
                decision!~'rollouts_y'}[$__rate_interval] offset 5m)))\
                / on (instance) group_left (pod) rollouts_controller_leader \
                + sum without (kind) (rollouts_a_total[${wait_window}:1m]) # rollouts_comment";
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(
        names,
        [
            "rollouts_a_total",
            "rollouts_controller_leader",
            "rollouts_webhook_request_duration_seconds_bucket",
        ]
    );
    assert!(is_rollouts_name("rollouts_controller_leader"));
    assert!(!is_rollouts_name("rollouts_"));
    assert!(!is_rollouts_name("up"));
}

#[test]
fn histograms_provide_bucket_sum_and_count_and_others_their_name() {
    let text = "# HELP a_seconds x\n# TYPE a_seconds histogram\na_seconds_count 0\n\
                # TYPE b_total counter\n# TYPE c gauge\nc 1\n";
    let series: Vec<String> = provided_series(text).into_iter().collect();
    assert_eq!(
        series,
        [
            "a_seconds_bucket",
            "a_seconds_count",
            "a_seconds_sum",
            "b_total",
            "c"
        ]
    );
}

/// Needs no cluster: the JSON parses, has a Prometheus datasource variable every panel and
/// target uses, and every panel has a target with PromQL of this project's metrics.
#[test]
fn dashboard_is_valid_json_and_every_panel_uses_the_datasource_variable() {
    let dashboard = dashboard();
    assert!(dashboard["title"].is_string(), "a title");
    assert!(
        dashboard["schemaVersion"].as_u64().is_some(),
        "a schemaVersion"
    );
    let variable = dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == "datasource")
        .expect("a `datasource` template variable");
    assert_eq!(variable["type"], "datasource", "{variable}");
    assert_eq!(variable["query"], "prometheus", "{variable}");
    let panels = panels(&dashboard);
    assert!(!panels.is_empty(), "no panels");
    let mut ids = BTreeSet::new();
    for panel in panels {
        let title = title(panel);
        assert!(ids.insert(panel["id"].to_string()), "duplicate id: {title}");
        assert_eq!(
            panel["datasource"]["uid"], DATASOURCE,
            "panel {title:?} datasource: {}",
            panel["datasource"]
        );
        let targets = panel["targets"].as_array().map_or(&[][..], Vec::as_slice);
        assert!(!targets.is_empty(), "panel {title:?} has no target");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "panel {title:?}: {target}");
            assert!(target["refId"].is_string(), "panel {title:?}: {target}");
            let datasource = &target["datasource"];
            assert!(
                datasource.is_null() || datasource["uid"] == DATASOURCE,
                "panel {title:?} target datasource: {datasource}"
            );
        }
    }
    for (name, panel) in queried_series(&dashboard) {
        assert!(
            is_rollouts_name(&name),
            "panel {panel:?} queries {name}, not a series of rollouts-controller or rollouts-webhook"
        );
    }
}

/// Against the services this test process starts on the local cluster.
#[test]
fn every_series_the_dashboard_queries_is_exposed_by_the_controller_or_the_webhook() {
    let dashboard = dashboard();
    // The webhook installs the Rollout CRD the controller's caches need.
    let hook = webhook();
    let scrape = |service: &str, port: u16| {
        let (status, body) = admin_get(port, "/metrics")
            .unwrap_or_else(|| panic!("{service} /metrics does not answer"));
        assert_eq!(status, 200, "{service} /metrics: {body}");
        let series = provided_series(&body);
        assert!(!series.is_empty(), "{service} declares no family:\n{body}");
        series
    };
    let webhook_series = scrape("rollouts-webhook", hook.admin_port);
    let controller_series = {
        let controller = controller().lock().unwrap_or_else(PoisonError::into_inner);
        scrape("rollouts-controller", controller.admin_port)
    };
    for panel in panels(&dashboard) {
        assert!(
            !exprs(panel).is_empty(),
            "panel {:?} has no target",
            title(panel)
        );
    }
    let queried = queried_series(&dashboard);
    for (name, panel) in &queried {
        assert!(
            is_rollouts_name(name),
            "panel {panel:?} queries {name}, which is none of ours"
        );
        assert!(
            controller_series.contains(name) || webhook_series.contains(name),
            "panel {panel:?} queries {name}, which neither service exposes;\n\
             controller: {controller_series:?}\nwebhook: {webhook_series:?}"
        );
    }
    let names: BTreeSet<&String> = queried.iter().map(|(name, _)| name).collect();
    for (service, series) in [
        ("rollouts-controller", &controller_series),
        ("rollouts-webhook", &webhook_series),
    ] {
        assert!(
            names.iter().any(|name| series.contains(*name)),
            "the dashboard queries no series of {service}: {names:?}"
        );
    }
}
