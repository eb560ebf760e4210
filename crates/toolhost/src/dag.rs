//! DAG runs on a [`Host`]: the scheduler dispatches every node through the
//! host's executor ([`Dispatch`]).

use crate::Host;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use toolhost_core::{CallOptions, CallResult, CancelToken, ExecutionContext};
use toolhost_scheduler::{
    DagError, Dispatch, Graph, NodeSpec, Plan, RunOptions, RunResult, RunSpec, SchedulerPolicy, execute,
    node_call, plan,
};

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

impl Dispatch for Host {
    fn dispatch(
        &self,
        node: NodeSpec,
        args: String,
        ctx: ExecutionContext,
        cancel: CancelToken,
    ) -> Pin<Box<dyn Future<Output = CallResult> + Send + 'static>> {
        self.dispatch_asking(node, args, ctx, cancel, None)
    }

    fn dispatch_asking(
        &self,
        node: NodeSpec,
        args: String,
        ctx: ExecutionContext,
        cancel: CancelToken,
        interact: Option<Arc<dyn crate::interact::Interact>>,
    ) -> Pin<Box<dyn Future<Output = CallResult> + Send + 'static>> {
        let host = self.clone();
        Box::pin(async move {
            let call = node_call(node, args);
            host.execute(&ctx, call, &CallOptions { cancel: Some(cancel), events: None, interact }).await
        })
    }

    fn idempotent(&self, tenant: &str, tool: &str) -> Option<bool> {
        self.find_tool(tenant, tool).map(|t| toolhost_exec::Attempt::info(self, &t).idempotent)
    }
}
