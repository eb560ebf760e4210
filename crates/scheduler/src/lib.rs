//! # toolhost-scheduler
//!
//! DAG runs: dependent tool calls with deadline, cost and priority, executed.
//!
//! A [`RunSpec`] lists calls with `depends_on` edges, scheduling hints
//! (`pool`, `weight`, `est_ms`, `cost`, `priority`) and constraints
//! (`deadline_ms`, `max_cost`, `pool_limits`). [`Graph::build`] validates it
//! (duplicate ids, unknown or self dependencies, cycles — named —, `$ref`s to
//! non-dependencies); [`plan`] shows what would run; [`execute`] runs it with a
//! ready queue under every executor policy.
//!
//! ```no_run
//! # async fn demo(host: std::sync::Arc<dyn toolhost_scheduler::Dispatch>) -> Result<(), Box<dyn std::error::Error>> {
//! use toolhost_scheduler::{RunOptions, RunSpec};
//! let spec: RunSpec = serde_json::from_value(serde_json::json!({
//!   "calls": [
//!     {"call_id": "users", "tool": "db.users"},
//!     {"call_id": "count", "tool": "math.eval", "depends_on": ["users"],
//!      "args": {"expression": {"$ref": "users#/value/expression"}}}
//!   ],
//!   "constraints": {"deadline_ms": 2000}
//! }))?;
//! // `host` is a `toolhost::Host` in production (`Host::run_dag` does this).
//! let ctx = toolhost_core::ExecutionContext::new();
//! let result = toolhost_scheduler::execute(host, &ctx, &spec, RunOptions::default()).await?;
//! println!("{:?}", result.status);
//! # Ok(()) }
//! ```

#![warn(missing_docs, unreachable_pub)]

mod plan;
mod refs;
mod run;
mod spec;

pub use plan::{Greedy, Plan, PlannedCall, SchedulerPolicy, SkipReason, critical_path, plan};
pub use run::{
    Dispatch, NodeResult, NodeStatus, RunEvent, RunOptions, RunResult, RunStatus, execute, new_run_id,
    node_call,
};
pub use spec::{Constraints, DagError, Graph, NodeMeta, NodeSpec, RunSpec};
