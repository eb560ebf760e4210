//! Planning: which calls run, in what order, and what the deadline allows.
//!
//! [`SchedulerPolicy`] is the pluggable part; [`Greedy`] is the default: ready
//! calls by priority then shortest estimate, and when the deadline or the cost
//! budget cannot fit everything, optional calls (priority 0) are dropped —
//! judged by the critical path, not the serial sum — and the drop cascades to
//! their dependents.

use crate::spec::{Constraints, Graph};
use serde::Serialize;
use std::collections::HashMap;

/// Why a call did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Dropped (priority 0) so the critical path fits the deadline, or the
    /// deadline passed before it could start.
    DeadlineExceeded,
    /// Dropped (priority 0) to stay within `max_cost`.
    CostExceeded,
    /// A dependency was skipped.
    DependencySkipped,
    /// A dependency failed (and `continue_on_error` is off).
    DependencyFailed,
    /// The run was cancelled before it started.
    Cancelled,
}

/// Decides what to skip up front and the order of ready calls.
pub trait SchedulerPolicy: Send + Sync + std::fmt::Debug {
    /// Calls to drop before the run starts (dependents are cascaded by the caller).
    fn skip(&self, graph: &Graph, constraints: &Constraints) -> Vec<(usize, SkipReason)>;
    /// Sorts ready calls; dispatch takes them front to back.
    fn order(&self, graph: &Graph, ready: &mut [usize]);
}

/// Priority (high first), then estimate (short first), then submission order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Greedy;

impl SchedulerPolicy for Greedy {
    fn skip(&self, graph: &Graph, c: &Constraints) -> Vec<(usize, SkipReason)> {
        let n = graph.nodes.len();
        let mut skipped: Vec<Option<SkipReason>> = vec![None; n];
        let mut out = Vec::new();
        let drop = |i: usize, why: SkipReason, skipped: &mut Vec<Option<SkipReason>>, out: &mut Vec<_>| {
            skipped[i] = Some(why);
            out.push((i, why));
            for d in graph.descendants(i) {
                skipped[d].get_or_insert(SkipReason::DependencySkipped);
            }
        };
        let optional = |i: usize, skipped: &[Option<SkipReason>]| {
            skipped[i].is_none() && graph.nodes[i].metadata.priority == 0
        };
        if let Some(max) = c.max_cost {
            loop {
                let total: f64 =
                    (0..n).filter(|&i| skipped[i].is_none()).map(|i| graph.nodes[i].metadata.cost).sum();
                if total <= max {
                    break;
                }
                let pick = (0..n).filter(|&i| optional(i, &skipped)).max_by(|&a, &b| {
                    let (ma, mb) = (&graph.nodes[a].metadata, &graph.nodes[b].metadata);
                    ma.cost.total_cmp(&mb.cost).then(ma.est_ms.cmp(&mb.est_ms))
                });
                match pick {
                    Some(i) => drop(i, SkipReason::CostExceeded, &mut skipped, &mut out),
                    None => break,
                }
            }
        }
        if let Some(deadline) = c.deadline_ms {
            loop {
                let (cp, path) = critical_path(graph, &|i| skipped[i].is_none());
                if cp <= deadline {
                    break;
                }
                let pick = path
                    .iter()
                    .copied()
                    .filter(|&i| optional(i, &skipped))
                    .max_by_key(|&i| graph.nodes[i].metadata.est_ms);
                match pick {
                    Some(i) => drop(i, SkipReason::DeadlineExceeded, &mut skipped, &mut out),
                    None => break,
                }
            }
        }
        out
    }

    fn order(&self, graph: &Graph, ready: &mut [usize]) {
        ready.sort_by(|&a, &b| {
            let (ma, mb) = (&graph.nodes[a].metadata, &graph.nodes[b].metadata);
            mb.priority.cmp(&ma.priority).then(ma.est_ms.cmp(&mb.est_ms)).then(a.cmp(&b))
        });
    }
}

/// Longest path by `est_ms` through the included calls: (length, the path in order).
pub fn critical_path(graph: &Graph, included: &dyn Fn(usize) -> bool) -> (u64, Vec<usize>) {
    let n = graph.nodes.len();
    let mut finish = vec![0u64; n];
    let mut via: Vec<Option<usize>> = vec![None; n];
    for &i in &graph.topo {
        if !included(i) {
            continue;
        }
        let (start, from) = graph.deps[i]
            .iter()
            .filter(|&&d| included(d))
            .map(|&d| (finish[d], Some(d)))
            .max_by_key(|(f, _)| *f)
            .unwrap_or((0, None));
        finish[i] = start + graph.nodes[i].metadata.est_ms;
        via[i] = from;
    }
    let Some(end) = (0..n).filter(|&i| included(i)).max_by_key(|&i| finish[i]) else {
        return (0, Vec::new());
    };
    let mut path = vec![end];
    while let Some(p) = via[*path.last().expect("non-empty")] {
        path.push(p);
    }
    path.reverse();
    (finish[end], path)
}

/// A plan: what would run, in which stage, and what would be skipped.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Calls by dependency depth (a stage's calls can run in parallel).
    pub stages: Vec<Vec<String>>,
    /// Every call, in submission order.
    pub calls: Vec<PlannedCall>,
    /// Estimated length of the longest dependency chain that runs, ms.
    pub critical_path_ms: u64,
    /// That chain.
    pub critical_path: Vec<String>,
    /// Sum of estimates of the calls that run (the serial bound), ms.
    pub serial_ms: u64,
    /// Total cost of the calls that run.
    pub total_cost: f64,
}

/// One call in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCall {
    /// Its id.
    pub call_id: String,
    /// Its tool.
    pub tool: String,
    /// Dependency depth (0 = no dependencies).
    pub stage: usize,
    /// Earliest start by the estimates, ms from the run's start.
    pub earliest_start_ms: u64,
    /// Attempt timeout: the call's own, else what the deadline leaves at its earliest start.
    pub timeout_ms: Option<u64>,
    /// Retries after the first attempt, when the spec sets them.
    pub max_retries: Option<u32>,
    /// Priority (0 = optional).
    pub priority: u32,
    /// Pool, if any.
    pub pool: Option<String>,
    /// Why it will not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkipReason>,
}

/// The pre-run skip decisions of `policy`, with cascades: reason per call.
pub(super) fn initial_skips(
    graph: &Graph,
    c: &Constraints,
    policy: &dyn SchedulerPolicy,
) -> HashMap<usize, SkipReason> {
    let mut out = HashMap::new();
    for (i, why) in policy.skip(graph, c) {
        out.insert(i, why);
        for d in graph.descendants(i) {
            out.entry(d).or_insert(SkipReason::DependencySkipped);
        }
    }
    out
}

/// Plans a validated run without running it.
pub fn plan(graph: &Graph, c: &Constraints, policy: &dyn SchedulerPolicy) -> Plan {
    let skips = initial_skips(graph, c, policy);
    let runs = |i: usize| !skips.contains_key(&i);
    let n = graph.nodes.len();
    let mut stage = vec![0usize; n];
    let mut start = vec![0u64; n];
    for &i in &graph.topo {
        for &d in &graph.deps[i] {
            stage[i] = stage[i].max(stage[d] + 1);
            if runs(d) {
                start[i] = start[i].max(start[d] + graph.nodes[d].metadata.est_ms);
            }
        }
    }
    let depth = stage.iter().copied().max().unwrap_or(0);
    let mut stages = vec![Vec::new(); depth + 1];
    for &i in &graph.topo {
        stages[stage[i]].push(graph.nodes[i].call_id.clone());
    }
    let (critical_path_ms, path) = critical_path(graph, &runs);
    let calls = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| PlannedCall {
            call_id: node.call_id.clone(),
            tool: node.tool.clone(),
            stage: stage[i],
            earliest_start_ms: start[i],
            timeout_ms: node.timeout_ms.or(c.deadline_ms.map(|d| d.saturating_sub(start[i]))),
            max_retries: node.max_retries,
            priority: node.metadata.priority,
            pool: node.metadata.pool.clone(),
            skipped: skips.get(&i).copied(),
        })
        .collect();
    Plan {
        stages,
        calls,
        critical_path_ms,
        critical_path: path.iter().map(|&i| graph.nodes[i].call_id.clone()).collect(),
        serial_ms: (0..n).filter(|&i| runs(i)).map(|i| graph.nodes[i].metadata.est_ms).sum(),
        total_cost: (0..n).filter(|&i| runs(i)).map(|i| graph.nodes[i].metadata.cost).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{NodeMeta, NodeSpec, RunSpec};

    fn node(id: &str, deps: &[&str], est: u64, priority: u32, cost: f64) -> NodeSpec {
        NodeSpec {
            call_id: id.into(),
            tool: "t".into(),
            args: serde_json::json!({}),
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
            metadata: NodeMeta { est_ms: est, priority, cost, ..Default::default() },
            timeout_ms: None,
            max_retries: None,
        }
    }

    fn graph(nodes: Vec<NodeSpec>) -> Graph {
        Graph::build(&RunSpec { calls: nodes, ..Default::default() }).unwrap()
    }

    #[test]
    fn the_critical_path_not_the_serial_sum_judges_the_deadline() {
        // Four parallel 100 ms calls: serial 400 ms, critical path 100 ms.
        let g = graph((0..4).map(|i| node(&format!("p{i}"), &[], 100, 0, 0.0)).collect());
        let c = Constraints { deadline_ms: Some(150), ..Default::default() };
        let p = plan(&g, &c, &Greedy);
        assert_eq!((p.critical_path_ms, p.serial_ms), (100, 400));
        assert!(p.calls.iter().all(|c| c.skipped.is_none()), "everything fits in parallel");
    }

    #[test]
    fn optional_calls_on_the_critical_path_are_dropped_and_cascade() {
        // fetch(100) -> enrich(300, optional) -> report(50); fetch -> store(50)
        let g = graph(vec![
            node("fetch", &[], 100, 1, 0.0),
            node("enrich", &["fetch"], 300, 0, 0.0),
            node("report", &["enrich"], 50, 1, 0.0),
            node("store", &["fetch"], 50, 1, 0.0),
        ]);
        let c = Constraints { deadline_ms: Some(200), ..Default::default() };
        let p = plan(&g, &c, &Greedy);
        let skip = |id: &str| p.calls.iter().find(|c| c.call_id == id).unwrap().skipped;
        assert_eq!(skip("enrich"), Some(SkipReason::DeadlineExceeded));
        assert_eq!(skip("report"), Some(SkipReason::DependencySkipped));
        assert_eq!(skip("store"), None);
        assert_eq!(p.critical_path, ["fetch", "store"]);
        assert_eq!(p.stages, vec![vec!["fetch"], vec!["enrich", "store"], vec!["report"]]);
        // Required calls are never dropped, even if the deadline cannot be met.
        let c = Constraints { deadline_ms: Some(10), ..Default::default() };
        let p = plan(&g, &c, &Greedy);
        assert_eq!(p.calls.iter().filter(|c| c.skipped.is_some()).count(), 2);
    }

    #[test]
    fn the_cost_budget_drops_the_most_expensive_optional_calls() {
        let g = graph(vec![
            node("a", &[], 10, 1, 5.0),
            node("b", &[], 10, 0, 4.0),
            node("c", &[], 10, 0, 1.0),
            node("d", &["b"], 10, 1, 0.0),
        ]);
        let c = Constraints { max_cost: Some(6.5), ..Default::default() };
        let p = plan(&g, &c, &Greedy);
        let skip = |id: &str| p.calls.iter().find(|c| c.call_id == id).unwrap().skipped;
        assert_eq!(skip("b"), Some(SkipReason::CostExceeded));
        assert_eq!(skip("d"), Some(SkipReason::DependencySkipped));
        assert_eq!((skip("a"), skip("c")), (None, None));
        assert_eq!(p.total_cost, 6.0);
    }

    #[test]
    fn ready_calls_go_by_priority_then_estimate() {
        let g = graph(vec![
            node("slow", &[], 500, 1, 0.0),
            node("quick", &[], 5, 1, 0.0),
            node("vip", &[], 900, 9, 0.0),
        ]);
        let mut ready = vec![0, 1, 2];
        Greedy.order(&g, &mut ready);
        assert_eq!(ready, [2, 1, 0]);
    }
}
