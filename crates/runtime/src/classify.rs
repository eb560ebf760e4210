//! Turning whatever ended a call into one typed [`Error`].
//!
//! Order matters: the host's own verdicts (cancelled, timed out, a limit the
//! limiter refused) win over the trap they caused, because the trap is only
//! the guest's reaction (a Rust guest aborts when an allocation fails).

use super::CallSpec;
use super::state::{Stop, StoreState};
use toolhost_core::error::{Error, Resource, Result};
use wasmtime::Trap;

pub(super) enum Outcome<T> {
    Finished(wasmtime::Result<T>),
    Backstop,
    Cancelled,
}

/// wasmtime's hostcall-fuel error is a private type; its text is pinned by a test.
pub const HOSTCALL_FUEL_TEXT: &str = "fuel allocated for hostcalls has been exhausted";

pub(super) fn outcome<T>(o: Outcome<T>, state: &StoreState, spec: &CallSpec<'_>) -> Result<T> {
    let tool = spec.tool.to_string();
    let timeout = || Error::Timeout { tool: tool.clone(), timeout_ms: spec.budget.as_millis() as u64 };
    let err = match o {
        Outcome::Finished(Ok(v)) => return Ok(v),
        Outcome::Backstop => return Err(timeout()),
        Outcome::Cancelled => return Err(Error::Cancelled { tool }),
        Outcome::Finished(Err(e)) => e,
    };
    match state.stop {
        Some(Stop::Cancelled) => return Err(Error::Cancelled { tool }),
        Some(Stop::Timeout) => return Err(timeout()),
        None => {}
    }
    if let Some((key, request)) = &state.input_required {
        return Err(Error::InputRequired { tool, key: key.clone(), request: Box::new(request.clone()) });
    }
    if let Some(d) = state.limiter.denial {
        return Err(Error::ResourceExhausted {
            tool: Some(tool),
            resource: d.resource,
            limit: d.limit,
            detail: Some(format!("the guest asked for {}", d.requested)),
        });
    }
    let stderr_tail = {
        let t = state.stderr.tail_text(1024);
        (!t.is_empty()).then_some(t)
    };
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return Err(match trap {
            Trap::Interrupt => timeout(),
            Trap::OutOfFuel => Error::ResourceExhausted {
                tool: Some(tool),
                resource: Resource::Fuel,
                limit: spec.limits.fuel.unwrap_or(u64::MAX),
                detail: Some("the tool used its whole CPU budget".into()),
            },
            Trap::StackOverflow => Error::Trapped { tool, reason: "stack overflow".into(), stderr_tail },
            other => Error::Trapped { tool, reason: other.to_string(), stderr_tail },
        });
    }
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Err(Error::Trapped { tool, reason: format!("exit({})", exit.0), stderr_tail });
    }
    if err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return Err(Error::ResourceExhausted {
            tool: Some(tool),
            resource: Resource::InstancePool,
            limit: 0,
            detail: Some("every instance slot of this host is busy; retry shortly".into()),
        });
    }
    let text = format!("{err:#}");
    if text.contains(HOSTCALL_FUEL_TEXT) {
        return Err(Error::OutputTooLarge { tool, limit: spec.limits.output_bytes });
    }
    if is_lift_error(&text) {
        return Err(Error::InvalidOutput { tool, reason: super::preview(&text) });
    }
    Err(Error::Trapped { tool, reason: super::preview(&text), stderr_tail })
}

/// Errors wasmtime raises while lifting a guest's return value.
fn is_lift_error(text: &str) -> bool {
    const MARKERS: [&str; 8] = [
        "out of bounds",
        "invalid utf-8",
        "invalid utf-16",
        "discriminant",
        "invalid variant",
        "unaligned",
        "not aligned",
        "invalid `bool`",
    ];
    let lower = text.to_ascii_lowercase();
    MARKERS.iter().any(|m| lower.contains(m))
}
