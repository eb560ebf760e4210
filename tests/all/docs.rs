//! The README's configuration reference is the code's: the table is
//! generated from `toolhost::config::reference` (`toolhost config reference`)
//! and compared both ways, every documented key parses at its path and changes
//! the parsed configuration, and a path the parser rejects is never documented.

use serde_json::Value;
use std::collections::BTreeMap;
use toolhost::config::reference::{self, SETTINGS, Setting};

/// The README's reference table, row by row (header included).
fn readme_rows() -> Vec<String> {
    let text = std::fs::read_to_string(crate::common::repo().join("README.md")).unwrap();
    let start = text.find("<!-- defaults:start -->").expect("defaults table start marker");
    let end = text.find("<!-- defaults:end -->").expect("defaults table end marker");
    text[start..end].lines().filter(|l| l.starts_with('|')).map(str::to_string).collect()
}

/// A new key in the code (another `Config` field) fails here with the row to add.
#[test]
fn every_key_in_the_code_is_in_the_reference() {
    let drift = reference::drift();
    assert!(drift.is_empty(), "the configuration reference is out of date:\n{}", drift.join("\n"));
}

#[test]
fn the_readme_table_is_the_generated_reference() {
    let generated: Vec<String> = reference::table().lines().map(str::to_string).collect();
    let readme = readme_rows();
    let missing: Vec<&String> = generated.iter().filter(|r| !readme.contains(r)).collect();
    let extra: Vec<&String> = readme.iter().filter(|r| !generated.contains(r)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README.md's configuration reference differs from `toolhost config reference` \
         (paste its output between the defaults markers):\n\
         rows to add:\n{}\nrows to remove:\n{}",
        missing.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("\n"),
        extra.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(readme, generated, "same rows, same order");
}

/// `key = example` as a TOML document (dotted keys at the root).
fn doc(key: &str, example: &str) -> String {
    format!("{key} = {example}\n")
}

/// The parsed configuration's value at a dotted key path.
fn at(cfg: &toolhost::Config, key: &str) -> Value {
    let v = serde_json::to_value(cfg).unwrap();
    let pointer = format!("/{}", key.replace('.', "/"));
    v.pointer(&pointer).cloned().unwrap_or(Value::Null)
}

/// Every documented key parses at its documented path and is wired: given a
/// non-default value, the parsed configuration differs from the default there.
#[test]
fn every_documented_key_parses_at_its_path_and_takes_effect() {
    let defaults: BTreeMap<String, Value> = reference::defaults();
    let mut problems = vec![];
    for Setting { key, example, .. } in SETTINGS {
        let text = doc(key, example);
        match toolhost::Config::from_toml(&text) {
            Err(e) => problems.push(format!("{key}: `{}` does not parse: {e}", text.trim())),
            Ok(cfg) => {
                let got = at(&cfg, key);
                let default = defaults.get(*key).cloned().unwrap_or(Value::Null);
                if got == default || got.is_null() {
                    problems
                        .push(format!("{key}: `{}` left the value at its default {default}", text.trim()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A path next to a documented one is refused (unknown fields are errors),
/// and the spellings the README once documented are refused too.
#[test]
fn paths_that_are_not_documented_are_refused() {
    let mut accepted = vec![];
    for Setting { key, example, .. } in SETTINGS {
        let text = doc(&format!("{key}_x"), example);
        if toolhost::Config::from_toml(&text).is_ok() {
            accepted.push(text);
        }
    }
    for text in [
        "retry.max_attempts = 5",
        "[retry]\nmax_attempts = 5",
        "breaker.open_duration_ms = 5000",
        "[breaker]\nminimum_calls = 5",
    ] {
        if toolhost::Config::from_toml(text).is_ok() {
            accepted.push(text.to_string());
        }
    }
    assert!(accepted.is_empty(), "accepted:\n{}", accepted.join("\n"));
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

/// The README's plugin manifest example, line by line: every `key = value`
/// parses at its `[section]` (unknown keys are refused) and lands in that very
/// field of the parsed manifest, and the whole example parses.
#[test]
fn every_documented_manifest_key_parses_at_its_path() {
    let text = std::fs::read_to_string(crate::common::repo().join("README.md")).unwrap();
    let start = text.find("## Plugin manifest").expect("manifest section");
    let block = &text[start..];
    let s = block.find("```toml\n").unwrap() + 8;
    let e = block[s..].find("```").unwrap() + s;
    let example = &block[s..e];
    let parsed = toolhost::registry::manifest::Manifest::parse(example);
    assert!(parsed.is_ok(), "the README's manifest example: {parsed:?}");
    let (mut section, mut problems, mut keys) = (String::new(), vec![], 0);
    for line in example.lines().map(|l| l.split(" #").next().unwrap().trim()) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once(" = ") else { continue };
        keys += 1;
        let doc = format!("[{section}]\n{key} = {value}\n");
        let want: Value = serde_json::to_value(toml::from_str::<toml::Table>(&doc).unwrap()).unwrap();
        let path = format!("/{}/{key}", section.replace('.', "/"));
        match toolhost::registry::manifest::Manifest::parse(&doc) {
            Err(e) => problems.push(format!("{section}.{key}: `{value}` does not parse: {e}")),
            Ok(m) => {
                let got = serde_json::to_value(&m).unwrap().pointer(&path).cloned();
                if got.as_ref() != want.pointer(&path) {
                    problems.push(format!("{section}.{key} = {value} parsed as {got:?}"));
                }
            }
        }
    }
    assert!(keys >= 15, "only {keys} keys found in the README's manifest example");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
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
