//! The README's defaults table is the code's defaults: same keys, same values.

use serde_json::Value;
use std::collections::BTreeMap;

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() && !prefix.ends_with(".window") => {
            for (k, x) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn code_defaults() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten("", &serde_json::to_value(toolhost::Config::default()).unwrap(), &mut out);
    let retry = serde_json::to_value(toolhost::exec::retry::RetryPolicy::default()).unwrap();
    flatten("retry", &retry, &mut out);
    let breaker = serde_json::to_value(toolhost::exec::breaker::BreakerConfig::default()).unwrap();
    flatten("breaker", &breaker, &mut out);
    out
}

fn readme_defaults() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(crate::common::repo().join("README.md")).unwrap();
    let start = text.find("<!-- defaults:start -->").expect("defaults table start marker");
    let end = text.find("<!-- defaults:end -->").expect("defaults table end marker");
    let mut out = BTreeMap::new();
    for line in text[start..end].lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let key = cells[1].trim_matches('`').to_string();
        let raw = cells[2].trim_matches('`');
        let value = if raw == "none" {
            Value::Null
        } else {
            serde_json::from_str(raw).unwrap_or_else(|e| panic!("{key}: {raw}: {e}"))
        };
        assert!(out.insert(key.clone(), value).is_none(), "{key} listed twice");
    }
    out
}

#[test]
fn readme_defaults_table_matches_the_code() {
    let code = code_defaults();
    let doc = readme_defaults();
    let mut problems = vec![];
    for (k, v) in &code {
        match doc.get(k) {
            None => problems.push(format!("{k} = {v} is not in the README table")),
            Some(d) if d != v => problems.push(format!("{k}: README says {d}, code says {v}")),
            _ => {}
        }
    }
    for k in doc.keys().filter(|k| !code.contains_key(*k)) {
        problems.push(format!("README lists {k}, which the code does not have"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_config_example_parses() {
    let text = std::fs::read_to_string(crate::common::repo().join("README.md")).unwrap();
    let start = text.find("## Host configuration").unwrap();
    let block = &text[start..];
    let toml_start = block.find("```toml\n").unwrap() + 8;
    let toml_end = block[toml_start..].find("```").unwrap() + toml_start;
    let cfg = toolhost::Config::from_toml(&block[toml_start..toml_end]);
    assert!(cfg.is_ok(), "{cfg:?}");
}

#[test]
fn the_readme_slo_recipe_parses() {
    let text = std::fs::read_to_string(crate::common::repo().join("README.md")).unwrap();
    let start = text.find("### Recipe: an API with a 2-second SLO").unwrap();
    let block = &text[start..];
    let s = block.find("```toml\n").unwrap() + 8;
    let e = block[s..].find("```").unwrap() + s;
    let cfg = toolhost::Config::from_toml(&block[s..e]).unwrap();
    assert_eq!(cfg.policy.global.total_timeout_ms, Some(1900));
    assert!(cfg.cache.enabled);
}

/// The Grafana dashboard only queries metrics the host exports.
#[test]
fn the_grafana_dashboard_uses_exported_metric_names() {
    let text = std::fs::read_to_string(crate::common::repo().join("deploy/grafana/toolhost.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in doc["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    for v in doc["templating"]["list"].as_array().unwrap() {
        exprs.push(v["query"].as_str().unwrap().to_string());
    }
    let exported = toolhost::observe::metrics::METRIC_NAMES;
    let mut used = std::collections::BTreeSet::new();
    for e in &exprs {
        for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("tool_") || word.starts_with("toolhost_") {
                let base =
                    ["_bucket", "_sum", "_count"].iter().fold(word, |w, s| w.strip_suffix(s).unwrap_or(w));
                assert!(exported.contains(&base), "dashboard queries {word}, which the host does not export");
                used.insert(base.to_string());
            }
        }
    }
    assert!(used.len() >= 10, "the dashboard covers most metrics: {used:?}");
}
