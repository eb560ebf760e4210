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
//! # async fn demo(host: toolhost::Host) -> Result<(), Box<dyn std::error::Error>> {
//! use toolhost::scheduler::{RunOptions, RunSpec};
//! let spec: RunSpec = serde_json::from_value(serde_json::json!({
//!   "calls": [
//!     {"call_id": "users", "tool": "db.users"},
//!     {"call_id": "count", "tool": "math.eval", "depends_on": ["users"],
//!      "args": {"expression": {"$ref": "users#/value/expression"}}}
//!   ],
//!   "constraints": {"deadline_ms": 2000}
//! }))?;
//! let result = host.run_dag(&toolhost::ExecutionContext::new(), &spec, RunOptions::default()).await?;
//! println!("{:?}", result.status);
//! # Ok(()) }
//! ```

mod plan;
mod refs;
mod run;
mod spec;

pub use plan::{Greedy, Plan, PlannedCall, SchedulerPolicy, SkipReason, critical_path, plan};
pub use run::{
    Dispatch, NodeResult, NodeStatus, RunEvent, RunOptions, RunResult, RunStatus, execute, new_run_id,
};
pub use spec::{Constraints, DagError, Graph, NodeMeta, NodeSpec, RunSpec};

use crate::{ExecutionContext, Host};
use std::sync::Arc;

impl Host {
    /// Validates and runs a DAG of calls through every executor policy.
    pub async fn run_dag(
        &self,
        ctx: &ExecutionContext,
        spec: &RunSpec,
        opts: RunOptions,
    ) -> Result<RunResult, DagError> {
        execute(Arc::new(self.clone()), ctx, spec, opts).await
    }

    /// Validates a DAG and plans it without running anything.
    pub fn plan_dag(&self, spec: &RunSpec, policy: &dyn SchedulerPolicy) -> Result<Plan, DagError> {
        Ok(plan(&Graph::build(spec)?, &spec.constraints, policy))
    }
}
