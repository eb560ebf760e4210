//! One audit record as a JSON object (one line of the file). Argument and
//! result text appear only with `payloads`; otherwise their SHA-256.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::SystemTime;
use toolhost_core::audit::{AdminAudit, AuditRecord, CallAudit};

/// The JSON object of `record`.
pub(crate) fn to_json(record: &AuditRecord, payloads: bool) -> Value {
    match record {
        AuditRecord::Call(c) => call(c, payloads),
        AuditRecord::Admin(a) => admin(a),
    }
}

fn call(c: &CallAudit, payloads: bool) -> Value {
    let output = c.result.as_ref().ok().map(|o| serde_json::to_vec(&**o).unwrap_or_default());
    let refused = c.refusal().map(|r| json!({ "by": r.by, "key": r.key }));
    let mut v = json!({
        "time": rfc3339(c.time),
        "kind": "call",
        "principal": c.principal,
        "tenant": c.tenant,
        "tool": c.tool,
        "call_id": c.call_id,
        "request_id": c.request_id,
        "source": c.source,
        "plugin_digest": c.digest,
        "grants_used": { "http": c.hosts },
        "arguments_sha256": c.arguments.as_deref().map(|a| sha256_hex(a.as_bytes())),
        "result_sha256": output.as_deref().map(sha256_hex),
        "verdicts": {
            "cached": c.cached,
            "attempts": c.attempts,
            "retries": c.attempts.saturating_sub(1),
            "refused": refused,
            "fallback_for": c.fallback_for.as_ref().map(|e| e.code().as_str()),
        },
        "outcome": c.outcome(),
        "duration_ms": (c.duration.as_secs_f64() * 1e6).round() / 1e3,
    });
    if payloads {
        v["arguments"] = c.arguments.clone().map_or(Value::Null, Value::String);
        v["result"] = match &c.result {
            Ok(o) => serde_json::to_value(&**o).unwrap_or(Value::Null),
            Err(e) => json!({ "code": e.code().as_str(), "message": e.to_string() }),
        };
    }
    v
}

fn admin(a: &AdminAudit) -> Value {
    json!({
        "time": rfc3339(a.time),
        "kind": "admin",
        "principal": a.principal,
        "action": a.action,
        "target": a.target,
        "outcome": a.outcome,
    })
}

/// `2026-12-06T18:04:05.123Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use toolhost_core::{Error, ToolOutput};

    fn record(result: Result<Arc<ToolOutput>, Error>) -> CallAudit {
        CallAudit {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_780_000_000_123),
            principal: Some("alice".into()),
            tenant: "acme".into(),
            tool: "text.upper".into(),
            call_id: "call_1".into(),
            request_id: "r1".into(),
            source: Some("plugin"),
            digest: Some("sha256:ab".into()),
            hosts: vec!["127.0.0.1:8080".into()],
            arguments: Some(r#"{"text":"secret words"}"#.into()),
            result,
            attempts: 3,
            cached: false,
            fallback_for: None,
            duration: Duration::from_micros(1500),
        }
    }

    #[test]
    fn hashes_not_payloads_unless_asked() {
        let out = Arc::new(ToolOutput { value: Some(json!({"text": "SECRET WORDS"})), content: vec![] });
        let c = AuditRecord::Call(Box::new(record(Ok(out))));
        let line = to_json(&c, false).to_string();
        assert!(!line.contains("secret words") && !line.contains("SECRET WORDS"), "{line}");
        let v = to_json(&c, false);
        assert_eq!(v["time"], "2026-05-28T20:26:40.123Z");
        assert_eq!(v["arguments_sha256"], sha256_hex(br#"{"text":"secret words"}"#));
        assert_eq!(v["result_sha256"], sha256_hex(br#"{"value":{"text":"SECRET WORDS"}}"#));
        assert_eq!((v["verdicts"]["retries"].as_u64(), v["outcome"].as_str()), (Some(2), Some("ok")));
        assert_eq!(v["duration_ms"], 1.5);
        let with = to_json(&c, true);
        assert_eq!(with["arguments"], r#"{"text":"secret words"}"#);
        assert_eq!(with["result"]["value"]["text"], "SECRET WORDS");
    }

    #[test]
    fn refusals_name_their_limit() {
        let e = Error::RateLimited { tool: "t".into(), key: "tool:t".into(), retry_after_ms: 5 };
        let v = to_json(&AuditRecord::Call(Box::new(record(Err(e)))), false);
        assert_eq!(v["verdicts"]["refused"], json!({"by": "rate_limit", "key": "tool:t"}));
        assert_eq!((v["outcome"].as_str(), &v["result_sha256"]), (Some("TOOL_RATE_LIMITED"), &Value::Null));
    }
}
