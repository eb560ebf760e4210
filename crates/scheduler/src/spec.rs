//! What a run is: call specs, their dependencies and the run's constraints,
//! and the validation that happens before anything runs.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A run: calls and how they depend on each other.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The calls, in any order.
    pub calls: Vec<NodeSpec>,
    /// Deadline, cost budget and pool limits.
    #[serde(default)]
    pub constraints: Constraints,
    /// Let dependents of a failed call run (their `$ref`s see the failure)
    /// instead of skipping them.
    #[serde(default)]
    pub continue_on_error: bool,
}

/// One call of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique within the run.
    pub call_id: String,
    /// Tool name.
    pub tool: String,
    /// Arguments; `{"$ref": "CALL_ID#/json/pointer"}` anywhere inside is
    /// replaced by that part of a dependency's result just before the call runs.
    #[serde(default = "empty_object")]
    pub args: Value,
    /// Calls that must succeed first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Scheduling hints.
    #[serde(default)]
    pub metadata: NodeMeta,
    /// Attempt timeout (overrides per-tool, pattern and global policy).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Retries after the first attempt (overrides policy).
    #[serde(default)]
    pub max_retries: Option<u32>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Scheduling hints of one call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NodeMeta {
    /// Pool whose limit (`constraints.pool_limits`) this call counts against.
    pub pool: Option<String>,
    /// Relative weight (informational; passed to policies).
    pub weight: f64,
    /// Estimated duration, ms (critical path and deadline fitting). Default: 100.
    pub est_ms: u64,
    /// Cost counted against `constraints.max_cost`. Default: 0.
    pub cost: f64,
    /// Higher runs first among ready calls; 0 = optional (may be skipped to fit
    /// the deadline or the cost budget). Default: 1.
    pub priority: u32,
}

impl Default for NodeMeta {
    fn default() -> Self {
        NodeMeta { pool: None, weight: 1.0, est_ms: 100, cost: 0.0, priority: 1 }
    }
}

/// Constraints of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Constraints {
    /// The whole run's deadline, ms from its start.
    pub deadline_ms: Option<u64>,
    /// Largest total `cost` of the calls that run.
    pub max_cost: Option<f64>,
    /// Calls of one pool running at once.
    pub pool_limits: BTreeMap<String, usize>,
}

/// Why a run was refused before anything ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DagError {
    /// The run has no calls.
    #[error("the run has no calls")]
    Empty,
    /// Two calls share an id.
    #[error("duplicate call_id {0:?}")]
    DuplicateId(String),
    /// A dependency names no call of the run.
    #[error("call {call:?} depends on {missing:?}, which is not a call of this run")]
    UnknownDependency {
        /// The dependent call.
        call: String,
        /// The missing id.
        missing: String,
    },
    /// A call depends on itself.
    #[error("call {0:?} depends on itself")]
    SelfDependency(String),
    /// The dependencies form a cycle.
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// A `$ref` points at a call that is not a (declared) dependency.
    #[error("call {call:?} references {target:?}, which is not one of its depends_on")]
    RefNotDependency {
        /// The referring call.
        call: String,
        /// The referenced id.
        target: String,
    },
    /// A `$ref` is not `CALL_ID#/json/pointer`.
    #[error("call {call:?} has a malformed $ref {reference:?}: expected \"CALL_ID#/json/pointer\"")]
    BadRef {
        /// The referring call.
        call: String,
        /// The reference text.
        reference: String,
    },
    /// A pool limit of 0 would never let its calls run.
    #[error("pool {0:?} has a limit of 0")]
    ZeroPool(String),
}

/// A validated run: indices instead of ids.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The calls, as submitted.
    pub nodes: Vec<NodeSpec>,
    /// `deps[i]`: indices `i` depends on.
    pub deps: Vec<Vec<usize>>,
    /// `dependents[i]`: indices that depend on `i`.
    pub dependents: Vec<Vec<usize>>,
    /// A topological order.
    pub topo: Vec<usize>,
    /// Index by call id.
    pub index: HashMap<String, usize>,
}

impl Graph {
    /// Validates ids, dependencies, `$ref`s and acyclicity.
    pub fn build(spec: &RunSpec) -> Result<Graph, DagError> {
        if spec.calls.is_empty() {
            return Err(DagError::Empty);
        }
        if let Some((pool, _)) = spec.constraints.pool_limits.iter().find(|(_, n)| **n == 0) {
            return Err(DagError::ZeroPool(pool.clone()));
        }
        let mut index = HashMap::with_capacity(spec.calls.len());
        for (i, n) in spec.calls.iter().enumerate() {
            if index.insert(n.call_id.clone(), i).is_some() {
                return Err(DagError::DuplicateId(n.call_id.clone()));
            }
        }
        let mut deps = vec![Vec::new(); spec.calls.len()];
        let mut dependents = vec![Vec::new(); spec.calls.len()];
        for (i, n) in spec.calls.iter().enumerate() {
            for d in &n.depends_on {
                if *d == n.call_id {
                    return Err(DagError::SelfDependency(d.clone()));
                }
                let &j = index.get(d).ok_or_else(|| DagError::UnknownDependency {
                    call: n.call_id.clone(),
                    missing: d.clone(),
                })?;
                if !deps[i].contains(&j) {
                    deps[i].push(j);
                    dependents[j].push(i);
                }
            }
            for r in crate::refs::references(&n.args) {
                let (target, _) = crate::refs::split(r)
                    .ok_or_else(|| DagError::BadRef { call: n.call_id.clone(), reference: r.to_string() })?;
                if !n.depends_on.iter().any(|d| d == target) {
                    return Err(DagError::RefNotDependency {
                        call: n.call_id.clone(),
                        target: target.to_string(),
                    });
                }
            }
        }
        let topo = topo_order(&deps, &dependents).map_err(|cycle| {
            DagError::Cycle(cycle.into_iter().map(|i| spec.calls[i].call_id.clone()).collect())
        })?;
        Ok(Graph { nodes: spec.calls.clone(), deps, dependents, topo, index })
    }

    /// Every call that (transitively) depends on `i`, `i` excluded.
    pub fn descendants(&self, i: usize) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = self.dependents[i].clone();
        let mut out = Vec::new();
        while let Some(j) = stack.pop() {
            if !std::mem::replace(&mut seen[j], true) {
                out.push(j);
                stack.extend(&self.dependents[j]);
            }
        }
        out
    }
}

/// Kahn's algorithm; on a cycle, returns the cycle (first node repeated last).
fn topo_order(deps: &[Vec<usize>], dependents: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut indeg: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &j in &dependents[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                queue.push_back(j);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every node left has an unprocessed dependency: walk them until one repeats.
    let start = (0..n).find(|&i| indeg[i] > 0).expect("some node is left");
    let mut path = vec![start];
    let mut pos = HashMap::from([(start, 0usize)]);
    let mut cur = start;
    loop {
        let next =
            *deps[cur].iter().find(|&&d| indeg[d] > 0).expect("a remaining node has a remaining dependency");
        if let Some(&at) = pos.get(&next) {
            let mut cycle: Vec<usize> = path[at..].to_vec();
            cycle.reverse(); // dependency order: a -> b means b depends on a
            cycle.push(cycle[0]);
            return Err(cycle);
        }
        pos.insert(next, path.len());
        path.push(next);
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn node(id: &str, deps: &[&str]) -> NodeSpec {
        NodeSpec {
            call_id: id.into(),
            tool: "t".into(),
            args: json!({}),
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
            metadata: NodeMeta::default(),
            timeout_ms: None,
            max_retries: None,
        }
    }

    fn spec(nodes: Vec<NodeSpec>) -> RunSpec {
        RunSpec { calls: nodes, ..Default::default() }
    }

    #[test]
    fn validation_names_the_offenders() {
        assert_eq!(Graph::build(&spec(vec![])).unwrap_err(), DagError::Empty);
        let e = Graph::build(&spec(vec![node("a", &[]), node("a", &[])])).unwrap_err();
        assert_eq!(e, DagError::DuplicateId("a".into()));
        let e = Graph::build(&spec(vec![node("a", &["zz"])])).unwrap_err();
        assert_eq!(e, DagError::UnknownDependency { call: "a".into(), missing: "zz".into() });
        let e = Graph::build(&spec(vec![node("a", &["a"])])).unwrap_err();
        assert_eq!(e, DagError::SelfDependency("a".into()));
        let e = Graph::build(&spec(vec![
            node("a", &["c"]),
            node("b", &["a"]),
            node("c", &["b"]),
            node("d", &[]),
        ]))
        .unwrap_err();
        let DagError::Cycle(c) = e else { panic!("{e:?}") };
        assert_eq!(c.len(), 4, "{c:?}");
        assert_eq!(c.first(), c.last());
        for id in ["a", "b", "c"] {
            assert!(c.contains(&id.to_string()), "{c:?}");
        }
        assert!(!c.contains(&"d".to_string()));
        let e = e_display(vec![node("a", &["c"]), node("b", &["a"]), node("c", &["b"])]);
        assert!(e.starts_with("dependency cycle: "), "{e}");
    }

    fn e_display(nodes: Vec<NodeSpec>) -> String {
        Graph::build(&spec(nodes)).unwrap_err().to_string()
    }

    #[test]
    fn refs_must_point_at_dependencies() {
        let mut b = node("b", &[]);
        b.args = json!({"x": {"$ref": "a#/value"}});
        let e = Graph::build(&spec(vec![node("a", &[]), b.clone()])).unwrap_err();
        assert_eq!(e, DagError::RefNotDependency { call: "b".into(), target: "a".into() });
        b.depends_on = vec!["a".into()];
        assert!(Graph::build(&spec(vec![node("a", &[]), b.clone()])).is_ok());
        b.args = json!({"x": {"$ref": "no-hash"}});
        assert!(matches!(Graph::build(&spec(vec![node("a", &[]), b])), Err(DagError::BadRef { .. })));
    }

    #[test]
    fn topological_order_respects_dependencies() {
        let g = Graph::build(&spec(vec![node("c", &["a", "b"]), node("b", &["a"]), node("a", &[])])).unwrap();
        let pos = |id: &str| g.topo.iter().position(|&i| g.nodes[i].call_id == id).unwrap();
        assert!(pos("a") < pos("b") && pos("b") < pos("c"));
        assert_eq!(g.descendants(g.index["a"]).len(), 2);
    }
}
