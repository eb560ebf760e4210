//! The inner layers of a call, below the cache: rate limits (once per call),
//! then the retry loop, and per attempt the circuit breaker, the bulkheads and
//! the attempt itself under `min(attempt timeout, remaining deadline)`.

use crate::admission::{Admitted, Ran};
use crate::attempt::{Attempt, AttemptSpec};
use crate::breaker::{Outcome, Permit};
use crate::bulkhead::BulkheadPermit as Slot;
use crate::clock;
use crate::executor::Executor;
use crate::policy::Effective;
use crate::retry::{self, SleepPlan};
use crate::wait;
use std::time::Duration;
use toolhost_core::{CallStats, Error, ErrorCode, Resource, ToolErrorKind, ToolOutput};

/// How one attempt of the retry loop ended.
enum Step {
    /// Stop with this result.
    Done(Result<ToolOutput, Error>),
    /// The attempt failed in a way the loop may retry.
    Failed(Error),
}

impl Executor {
    /// Rate limit, then the retry loop (breaker, bulkhead, attempt).
    pub(crate) async fn limited_and_retried<A: Attempt + ?Sized>(
        &self,
        host: &A,
        a: &Admitted<'_, A::Tool>,
    ) -> Ran {
        let tool = a.info.name;
        if a.opts.cancel.as_ref().is_some_and(toolhost_core::CancelToken::is_cancelled) {
            // Cancelled before admission: no token is charged, nothing runs.
            return (Err(Error::Cancelled { tool: tool.to_string() }), 0, None);
        }
        let span = tracing::info_span!("rate_limit.check", allowed = tracing::field::Empty);
        // Boxed: only a call some quota applies to carries the admission's
        // state (a call's futures are moved whole at every layer).
        let admitted = if self.rate_free(a.tenant, a.eff) {
            Ok(())
        } else {
            let admit = self.admit_rate(a.tenant, tool, a.eff, a.deadline, a.opts.cancel.as_ref());
            Box::pin(tracing::Instrument::instrument(admit, span.clone())).await
        };
        span.record("allowed", admitted.is_ok());
        if let Err(e) = admitted {
            return (Err(e), 0, None);
        }
        self.budget.deposit(self.clock.now());
        self.retried(host, a).await
    }

    /// The retry loop: attempts until one succeeds, fails for good, or the
    /// backoff no longer fits the deadline, the retry budget or the caller.
    async fn retried<A: Attempt + ?Sized>(&self, host: &A, a: &Admitted<'_, A::Tool>) -> Ran {
        let tool = a.info.name;
        // Formatted only for a tool that has a breaker.
        let breaker_key =
            if a.eff.breaker.is_some() { format!("{}:{tool}", a.tenant) } else { String::new() };
        let mut last_stats = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if self.remaining(a.deadline) == Some(Duration::ZERO) {
                let e = Error::Timeout { tool: tool.to_string(), timeout_ms: 0 };
                return (Err(e), attempt - 1, last_stats);
            }
            let (step, stats) = self.guarded_attempt(host, a, &breaker_key, attempt).await;
            let Some(stats) = stats else {
                // Refused before running (breaker open, bulkhead full, cancelled).
                let Step::Done(r) = step else { unreachable!("a refusal is final") };
                return (r, attempt - 1, last_stats);
            };
            last_stats = Some(stats);
            let err = match step {
                Step::Done(r) => return (r, attempt, last_stats),
                Step::Failed(err) => err,
            };
            if !retryable(&err, a.eff, attempt) || a.opts.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                return (Err(err), attempt, last_stats);
            }
            let Some(sleep) = self.backoff(&err, a, attempt) else {
                return (Err(err), attempt, last_stats);
            };
            tracing::debug!(tool = %tool, attempt, sleep_ms = sleep.as_millis() as u64, error = %err, "retrying");
            if Box::pin(wait::sleep(sleep, a.opts.cancel.as_ref())).await.is_err() {
                return (Err(Error::Cancelled { tool: tool.to_string() }), attempt, last_stats);
            }
        }
    }

    /// The sleep before the next attempt: full-jitter backoff or the tool's
    /// Retry-After hint, if it fits the deadline and the retry budget allows it.
    fn backoff<T>(&self, err: &Error, a: &Admitted<'_, T>, attempt: u32) -> Option<Duration> {
        let computed = retry::backoff(&a.eff.retry, attempt - 1, &mut *self.rng.lock().unwrap());
        let hint = err.retry_after_ms().map(Duration::from_millis);
        let max_interval = Duration::from_millis(self.cfg.max_retry_after_ms);
        let remaining = self.remaining(a.deadline);
        let plan = retry::plan_sleep(computed, hint, remaining, max_interval, &mut *self.rng.lock().unwrap());
        let SleepPlan::Sleep(sleep) = plan else { return None };
        if !self.budget.withdraw(self.clock.now()) {
            tracing::debug!(tool = %a.info.name, "retry budget exhausted");
            return None;
        }
        Some(sleep)
    }

    /// One attempt behind the breaker and the bulkheads. Stats are `None`
    /// when the attempt was refused before it ran.
    async fn guarded_attempt<A: Attempt + ?Sized>(
        &self,
        host: &A,
        a: &Admitted<'_, A::Tool>,
        breaker_key: &str,
        attempt: u32,
    ) -> (Step, Option<CallStats>) {
        let attempt_span = tracing::info_span!("tool.attempt", attempt, outcome = tracing::field::Empty);
        let refused = |code: ErrorCode, e: Error| {
            attempt_span.record("outcome", code.as_str());
            (Step::Done(Err(e)), None)
        };
        let permit = match self.breaker_permit(a, breaker_key, &attempt_span) {
            Ok(p) => p,
            Err(e) => return refused(ErrorCode::ToolCircuitOpen, e),
        };
        let slot = match self.bulkhead_slot(a, &attempt_span).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(p) = permit {
                    self.breakers.record(p, Outcome::Ignored, Duration::ZERO);
                }
                return refused(e.code(), e);
            }
        };
        let timeout =
            self.remaining(a.deadline).map_or(a.eff.attempt_timeout, |r| a.eff.attempt_timeout.min(r));
        let t0 = self.clock.now();
        let spec = AttemptSpec {
            args: a.args,
            value: a.value,
            ctx: a.ctx,
            call_id: a.call_id,
            attempt,
            timeout,
            opts: a.opts,
        };
        let (result, stats) =
            tracing::Instrument::instrument(host.attempt(a.tool, spec), attempt_span.clone()).await;
        attempt_span.record("outcome", result.as_ref().err().map_or("success", |e| e.code().as_str()));
        drop(slot);
        if let Some(p) = permit {
            let took = self.clock.now().saturating_duration_since(t0);
            self.breakers.record(p, breaker_outcome(&result), took);
        }
        let step = match result {
            Err(e) => Step::Failed(e),
            ok => Step::Done(ok),
        };
        (step, Some(stats))
    }

    /// The breaker's admission for this attempt (`None` when the tool has no
    /// breaker); an open breaker is `TOOL_CIRCUIT_OPEN` with its retry time.
    fn breaker_permit<T>(
        &self,
        a: &Admitted<'_, T>,
        key: &str,
        attempt_span: &tracing::Span,
    ) -> Result<Option<Permit>, Error> {
        let Some(cfg) = &a.eff.breaker else { return Ok(None) };
        let check =
            tracing::info_span!(parent: attempt_span, "breaker.check", admitted = tracing::field::Empty);
        let acquired = check.in_scope(|| self.breakers.acquire(key, cfg));
        check.record("admitted", acquired.is_ok());
        acquired.map(Some).map_err(|open| Error::CircuitOpen {
            tool: a.info.name.to_string(),
            retry_after_ms: clock::ceil_millis(open.retry_after),
        })
    }

    /// A slot in every applicable bulkhead, waiting at most the remaining
    /// deadline (or the compartment's acquisition timeout); ends at once when
    /// the caller cancels.
    async fn bulkhead_slot<T>(
        &self,
        a: &Admitted<'_, T>,
        attempt_span: &tracing::Span,
    ) -> Result<Slot, Error> {
        let tool = a.info.name;
        let span =
            tracing::info_span!(parent: attempt_span, "bulkhead.wait", admitted = tracing::field::Empty);
        let acquired = if !self.bulkheads.limits_any() {
            // No rule: a free slot at once (a cancelled caller still stops here).
            let cancelled = a.opts.cancel.as_ref().is_some_and(toolhost_core::CancelToken::is_cancelled);
            if cancelled { Err(wait::Interrupted::Cancelled) } else { Ok(Ok(Slot::default())) }
        } else {
            // Boxed: only a call that meets a bulkhead carries the wait's state.
            let acquire = self.bulkheads.acquire(a.tenant, tool, self.remaining(a.deadline));
            let waited = wait::interruptible(acquire, a.opts.cancel.as_ref(), None);
            Box::pin(tracing::Instrument::instrument(waited, span.clone())).await
        };
        span.record("admitted", matches!(acquired, Ok(Ok(_))));
        match acquired {
            Ok(Ok(slot)) => Ok(slot),
            Err(_cancelled) => Err(Error::Cancelled { tool: tool.to_string() }),
            Ok(Err(full)) => Err(Error::BulkheadFull {
                tool: tool.to_string(),
                key: full.key,
                reason: full.reason.to_string(),
                waited_ms: full.waited.as_millis() as u64,
            }),
        }
    }
}

/// What an attempt's outcome means to the breaker (resilience.md §0): only
/// tool faults count; the caller's mistakes, rejections and cancellations don't.
fn breaker_outcome(r: &Result<ToolOutput, Error>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err(e) => match e {
            // The caller's bad input and upstream 429s are not the tool's fault.
            Error::Tool { kind: ToolErrorKind::Transient | ToolErrorKind::Internal, .. } => Outcome::Failure,
            Error::Tool { .. } => Outcome::Ignored,
            Error::Timeout { .. }
            | Error::Trapped { .. }
            | Error::InvalidOutput { .. }
            | Error::OutputTooLarge { .. } => Outcome::Failure,
            Error::ResourceExhausted { resource, .. } if *resource != Resource::InstancePool => {
                Outcome::Failure
            }
            _ => Outcome::Ignored,
        },
    }
}

/// Whether the retry loop may try again after `attempts` attempts (stricter
/// than the caller-facing `Error::retryable`).
fn retryable(e: &Error, eff: &Effective, attempts: u32) -> bool {
    let class = match e {
        Error::Tool { retryable, .. } => *retryable,
        Error::Timeout { .. } => true,
        Error::ResourceExhausted { resource: Resource::InstancePool, .. } => true,
        _ => false,
    };
    class && eff.retry.allows_retry(attempts, eff.idempotent, matches!(e, Error::Timeout { .. }))
}
