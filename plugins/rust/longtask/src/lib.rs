//! toolhost example plugin `longtask`: one long-running tool.
//!
//! | tool | args | what |
//! |---|---|---|
//! | `jobs.crunch` | `{"items"?, "step_ms"?, "seed"?}` | works through `items` numbers (default 20), `step_ms` (default 150) each, reporting progress after every item and streaming each item's result; value `{"items","longest","total_steps"}` |
//! | `jobs.publish` | same as `jobs.crunch` | crunches, then asks the user (a form: `publish`, `note`) whether to publish the result; value `{"published", "note"?, "result"}` |
//!
//! The tool is marked `long-running`, so MCP clients that support tasks are asked to call
//! it as a task. Each item computes the Collatz chain length of `seed + i`, then sleeps on
//! the WASI monotonic clock (`std::thread::sleep`), standing in for slow work. When the
//! call's deadline would pass before the next item, it stops early with a transient error
//! that says how far it got.
//!
//! `jobs.publish` asks its question mid-task: over MCP 2026-07-28 the task turns
//! `input_required` until the client answers with `tasks/update`; over 2025-11-25 the host
//! sends the client an `elicitation/create` request related to the task.

use std::time::Duration;

use toolhost_sdk::prelude::*;

/// Arguments of `jobs.crunch`.
#[derive(Deserialize, JsonSchema)]
struct CrunchArgs {
    /// How many items to process (1-200, default 20).
    #[serde(default)]
    items: Option<u32>,
    /// Milliseconds of simulated work per item (0-1000, default 150).
    #[serde(default)]
    step_ms: Option<u64>,
    /// The first number (default 27).
    #[serde(default)]
    seed: Option<u64>,
}

/// Result of `jobs.crunch`.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
struct Crunched {
    /// Items processed.
    items: u32,
    /// The number with the longest chain, and its length.
    longest: (u64, u32),
    /// Sum of all chain lengths.
    total_steps: u64,
}

/// Steps for `n` to reach 1 under the Collatz map (saturating on overflow).
fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n > 1 {
        n = if n % 2 == 0 { n / 2 } else { n.saturating_mul(3).saturating_add(1) };
        steps += 1;
    }
    steps
}

fn crunch(a: CrunchArgs, ctx: &Context) -> Result<Crunched, ToolError> {
    let items = a.items.unwrap_or(20);
    let step = Duration::from_millis(a.step_ms.unwrap_or(150));
    if !(1..=200).contains(&items) || step > Duration::from_secs(1) {
        return Err(ToolError::invalid_input("`items` must be 1-200 and `step_ms` at most 1000"));
    }
    let seed = a.seed.unwrap_or(27);
    let total = f64::from(items);
    ctx.progress(0.0, Some(total), Some("starting"));
    let mut result = Crunched { items: 0, longest: (seed, 0), total_steps: 0 };
    for i in 0..items {
        if ctx.remaining().is_some_and(|left| left < step) {
            return Err(ToolError::transient(format!("deadline reached after {i} of {items} items"))
                .details(json!({ "done": i, "total": items })));
        }
        let n = seed + u64::from(i);
        let steps = collatz_steps(n);
        std::thread::sleep(step);
        if steps > result.longest.1 {
            result.longest = (n, steps);
        }
        result.total_steps += u64::from(steps);
        result.items = i + 1;
        ctx.emit(&json!({ "n": n, "steps": steps }))?;
        ctx.progress(f64::from(i + 1), Some(total), Some(&format!("crunched {} of {items}", i + 1)));
    }
    Ok(result)
}

/// The answer to `jobs.publish`'s question.
#[derive(Deserialize, Serialize, JsonSchema, Debug)]
struct Decision {
    /// Publish the result?
    publish: bool,
    /// A note to publish with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

fn publish(a: CrunchArgs, ctx: &Context) -> Result<Value, ToolError> {
    let result = crunch(a, ctx)?;
    let schema = json!({
        "type": "object",
        "properties": {
            "publish": { "type": "boolean", "title": "Publish", "description": "Publish the result?" },
            "note": { "type": "string", "title": "Note" }
        },
        "required": ["publish"]
    });
    let message = format!("Crunched {} items (longest chain {}). Publish?", result.items, result.longest.1);
    let answer = ctx.elicit(&ElicitRequest::form(&message, schema))?;
    let decision = answer.accepted::<Decision>()?;
    let published = decision.as_ref().is_some_and(|d| d.publish);
    let note = decision.and_then(|d| d.note);
    Ok(json!({ "published": published, "note": note, "result": result }))
}

toolhost_sdk::plugin! {
    tool("jobs.crunch", "Run a slow batch computation (several seconds), reporting progress per item.", crunch)
        .title("Crunch numbers")
        .read_only()
        .idempotent()
        .long_running()
        .output_schema(),
    tool("jobs.publish", "Crunch numbers like jobs.crunch, then ask the user whether to publish the result.", publish)
        .title("Crunch and publish")
        .long_running(),
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost_sdk::testing::{self, HostEvent};

    #[test]
    fn crunch_reports_progress_and_streams_items() {
        testing::reset();
        let out = plugin_registry()
            .call("jobs.crunch", r#"{"items":3,"step_ms":0,"seed":6}"#, &Context::new("t"))
            .unwrap();
        assert_eq!(out.value().unwrap(), &json!({ "items": 3, "longest": [7, 16], "total_steps": 27 }));
        let events = testing::take_events();
        let progress: Vec<f64> = events
            .iter()
            .filter_map(|e| match e {
                HostEvent::Progress { done, total, .. } if *total == Some(3.0) => Some(*done),
                _ => None,
            })
            .collect();
        assert_eq!(progress, [0.0, 1.0, 2.0, 3.0]);
        assert!(events.contains(&HostEvent::Emit(r#"{"n":6,"steps":8}"#.into())));
    }

    #[test]
    fn publish_asks_after_crunching() {
        testing::reset();
        testing::answer_elicit(Ok(toolhost_sdk::ElicitResponse::accept(
            json!({ "publish": true, "note": "ok" }),
        )));
        let out = plugin_registry()
            .call("jobs.publish", r#"{"items":2,"step_ms":0,"seed":6}"#, &Context::new("t"))
            .unwrap();
        let value = out.value().unwrap();
        assert_eq!((value["published"].clone(), value["note"].clone()), (json!(true), json!("ok")));
        assert_eq!(value["result"]["items"], 2);
        assert!(testing::take_events().iter().any(|e| matches!(e, HostEvent::Elicit(_))));
    }

    #[test]
    fn crunch_is_long_running() {
        let d = plugin_registry().get("jobs.crunch").unwrap().descriptor();
        assert!(d.long_running && d.annotations.read_only && d.idempotent);
    }

    #[test]
    fn crunch_stops_at_the_deadline() {
        let ctx = Context::new("t").with_deadline_ms(50);
        let err = plugin_registry().call("jobs.crunch", r#"{"items":10,"step_ms":40}"#, &ctx).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert!(err.message().starts_with("deadline reached after 1 of 10"), "{}", err.message());
    }
}
