//! Batches: many calls at once, results matched by `call_id`, returned in
//! completion order (default) or submission order, or streamed as each
//! call starts and finishes. One failing call never hides or cancels its
//! siblings.

use super::context::ExecutionContext;
use super::{CallOptions, CallResult, ToolCall};
use crate::Host;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};

/// Order of results in a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// As each call finishes (default).
    #[default]
    Completion,
    /// As submitted.
    Submission,
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Order, String> {
        match s {
            "completion" => Ok(Order::Completion),
            "submission" => Ok(Order::Submission),
            o => Err(format!("order must be `completion` or `submission`, not {o:?}")),
        }
    }
}

/// Options of one batch.
#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    /// Result order.
    pub order: Order,
    /// Run identical calls (same tool and arguments) once and share the
    /// result; each call still gets its own result and id. Default: off.
    pub dedup: bool,
    /// Cancels every call of the batch.
    pub cancel: Option<crate::CancelToken>,
}

/// A batch event, for streaming.
#[derive(Debug, Clone)]
pub enum CallEvent {
    /// A call got its turn and is starting.
    Started {
        /// Position in the batch.
        index: usize,
        /// Its id.
        call_id: String,
        /// Its tool.
        tool: String,
    },
    /// A guest event (log, progress, emit) of a running call.
    Guest {
        /// The call's id.
        call_id: String,
        /// What the guest reported.
        event: crate::runtime::GuestEvent,
    },
    /// A call finished.
    Finished(Box<CallResult>),
}

impl Host {
    /// Runs a batch and returns every result, in the requested order.
    pub async fn run_batch(
        &self,
        ctx: &ExecutionContext,
        calls: Vec<ToolCall>,
        opts: BatchOptions,
    ) -> Vec<CallResult> {
        let order = opts.order;
        let mut rx = self.stream_batch(ctx.clone(), calls, opts, false);
        let mut out = Vec::new();
        while let Some(ev) = rx.recv().await {
            if let CallEvent::Finished(r) = ev {
                out.push(*r);
            }
        }
        if order == Order::Submission {
            out.sort_by_key(|r| r.index);
        }
        out
    }

    /// Runs a batch in the background, sending `Started`/`Finished` events (and
    /// guest events when `guest_events`) as they happen. Finished events come
    /// in completion order; the channel closes after the last one.
    pub fn stream_batch(
        &self,
        ctx: ExecutionContext,
        calls: Vec<ToolCall>,
        opts: BatchOptions,
        guest_events: bool,
    ) -> mpsc::Receiver<CallEvent> {
        let (tx, rx) = mpsc::channel(calls.len().clamp(16, 1024) * 2);
        let host = self.clone();
        tokio::spawn(async move {
            let parallel =
                ctx.max_parallel.unwrap_or(usize::MAX).min(host.executor().config().max_parallel).max(1);
            let slots = Arc::new(Semaphore::new(parallel));
            let ctx = Arc::new(ctx);
            let mut calls: Vec<ToolCall> = calls
                .into_iter()
                .map(|mut c| {
                    c.call_id.get_or_insert_with(crate::host::new_call_id);
                    c
                })
                .collect();
            // Dedup: followers wait for their leader's result.
            let mut leaders: HashMap<(String, String), usize> = HashMap::new();
            let mut followers: HashMap<usize, Vec<usize>> = HashMap::new();
            if opts.dedup {
                for (i, c) in calls.iter().enumerate() {
                    if let Ok(args) = &c.arguments {
                        let key = (c.tool.clone(), canonical_args(args));
                        match leaders.get(&key) {
                            Some(&l) => followers.entry(l).or_default().push(i),
                            None => {
                                leaders.insert(key, i);
                            }
                        }
                    }
                }
            }
            let follower_set: std::collections::HashSet<usize> =
                followers.values().flatten().copied().collect();
            // Followers only need their own ids back; don't copy whole calls.
            let follower_ids: HashMap<usize, String> =
                follower_set.iter().map(|&i| (i, calls[i].call_id.clone().unwrap_or_default())).collect();
            let mut set = tokio::task::JoinSet::new();
            for (i, call) in calls.drain(..).enumerate() {
                if follower_set.contains(&i) {
                    continue;
                }
                let (host, ctx, slots, tx) = (host.clone(), ctx.clone(), slots.clone(), tx.clone());
                let cancel = opts.cancel.clone();
                set.spawn(async move {
                    let _slot = slots.acquire_owned().await.expect("never closed");
                    let call_id = call.call_id.clone().unwrap_or_default();
                    let _ = tx
                        .send(CallEvent::Started {
                            index: i,
                            call_id: call_id.clone(),
                            tool: call.tool.clone(),
                        })
                        .await;
                    let events =
                        if guest_events { Some(forward_guest_events(call_id, tx.clone())) } else { None };
                    let opts = CallOptions { cancel, events };
                    host.execute_at(&ctx, call, i, &opts).await
                });
            }
            while let Some(done) = set.join_next().await {
                let Ok(result) = done else { continue };
                for &f in followers.get(&result.index).into_iter().flatten() {
                    let mut copy = result.clone();
                    copy.index = f;
                    copy.call_id = follower_ids[&f].clone();
                    copy.cached = true;
                    // A follower never reaches the executor: its own line here.
                    let tenant = ctx.tenant_id.as_deref().unwrap_or(crate::registry::tenant::DEFAULT_TENANT);
                    crate::observe::logs::call_finished(&copy, &ctx.request_id, tenant);
                    let _ = tx.send(CallEvent::Finished(Box::new(copy))).await;
                }
                let _ = tx.send(CallEvent::Finished(Box::new(result))).await;
            }
        });
        rx
    }
}

fn canonical_args(args: &str) -> String {
    serde_json::from_str::<serde_json::Value>(args)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| args.to_string())
}

fn forward_guest_events(call_id: String, tx: mpsc::Sender<CallEvent>) -> crate::runtime::EventSink {
    let (gtx, mut grx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(event) = grx.recv().await {
            if tx.send(CallEvent::Guest { call_id: call_id.clone(), event }).await.is_err() {
                break;
            }
        }
    });
    gtx
}
