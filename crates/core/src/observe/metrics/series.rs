//! Lock-free metric series: counters and histograms updated with atomics
//! only, and [`Family`], a map from label values to a series that finds an
//! existing series without allocating or locking.
//!
//! A family is a fixed array of chains of nodes that are never removed
//! (series live as long as the process, like Prometheus client registries'):
//! a lookup hashes the borrowed label values, walks one chain comparing the
//! hash and then the values, and returns the series. Only a new series
//! allocates, once; it is appended at the end of its chain through a
//! [`OnceLock`], so two threads adding to the same chain at once wait for
//! each other there, and nowhere else.

use crate::text::{same, tail_word};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};

/// A monotonic counter.
#[derive(Debug, Default)]
pub(super) struct Counter(AtomicU64);

impl Counter {
    pub(super) const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    pub(super) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Bucket upper bounds of a histogram, in the integer unit observations are
/// counted in; `per_unit` units make one exported unit (1e9 for seconds
/// observed in nanoseconds, 1 for fuel or bytes).
#[derive(Debug)]
pub(super) struct Bounds {
    pub(super) le: &'static [u64],
    pub(super) per_unit: f64,
}

impl Bounds {
    /// A bound (or a sum) in the exported unit.
    pub(super) fn exported(&self, units: u64) -> f64 {
        units as f64 / self.per_unit
    }
}

/// The most bounds a histogram has (its buckets are these plus `+Inf`).
pub(super) const MAX_BOUNDS: usize = 15;

/// A histogram with fixed bounds: a count per bucket (the last one past the
/// last bound) and the sum, in integer units so concurrent sums are exact.
#[derive(Debug)]
pub(super) struct Histogram {
    bounds: &'static Bounds,
    counts: [AtomicU64; MAX_BOUNDS + 1],
    sum: AtomicU64,
}

/// What a histogram held when read: per-bucket counts (not cumulative, the
/// last past the last bound), their total, and the sum in exported units.
#[derive(Debug, Clone)]
pub(super) struct HistogramSnapshot {
    pub(super) bounds: &'static Bounds,
    pub(super) counts: Vec<u64>,
    pub(super) count: u64,
    pub(super) sum: f64,
}

impl Histogram {
    pub(super) fn new(bounds: &'static Bounds) -> Self {
        debug_assert!(bounds.le.len() <= MAX_BOUNDS);
        Histogram { bounds, counts: [const { AtomicU64::new(0) }; MAX_BOUNDS + 1], sum: AtomicU64::new(0) }
    }

    /// Counts one observation of `v` units (the sum wraps after 2^64 units:
    /// 584 years of nanoseconds).
    pub(super) fn observe(&self, v: u64) {
        let le = self.bounds.le;
        let i = le.iter().position(|b| v <= *b).unwrap_or(le.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    /// The buckets as read now; the count is their total, so a reader never
    /// sees cumulative buckets above the count while calls finish.
    pub(super) fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> =
            self.counts[..=self.bounds.le.len()].iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let count = counts.iter().sum();
        let sum = self.bounds.exported(self.sum.load(Ordering::Relaxed));
        HistogramSnapshot { bounds: self.bounds, counts, count, sum }
    }
}

/// One series of a family: its label values and its value.
#[derive(Debug)]
pub(super) struct Node<V: 'static> {
    hash: u64,
    labels: Box<[Box<str>]>,
    value: V,
    next: OnceLock<&'static Node<V>>,
}

impl<V> Node<V> {
    fn is(&self, hash: u64, labels: &[&str]) -> bool {
        self.hash == hash
            && self.labels.len() == labels.len()
            && self.labels.iter().zip(labels).all(|(a, b)| same(a, b))
    }
}

/// Series keyed by label values (in the metric's label order), in `B` chains.
pub(super) struct Family<V: 'static, const B: usize> {
    heads: [OnceLock<&'static Node<V>>; B],
}

impl<V: Send + Sync + 'static, const B: usize> Family<V, B> {
    pub(super) const fn new() -> Self {
        Family { heads: [const { OnceLock::new() }; B] }
    }

    /// The series for `labels`, made by `make` (once) when it is new.
    pub(super) fn get_or_insert(&self, labels: &[&str], make: impl Fn() -> V) -> &'static V {
        let hash = hash(labels);
        let mut slot = &self.heads[(hash % B as u64) as usize];
        loop {
            // Initialised slots just return their node; only the chain's
            // empty end runs the closure, which then puts our series there.
            let node = slot.get_or_init(|| {
                Box::leak(Box::new(Node {
                    hash,
                    labels: labels.iter().map(|l| Box::from(*l)).collect(),
                    value: make(),
                    next: OnceLock::new(),
                }))
            });
            if node.is(hash, labels) {
                return &node.value;
            }
            slot = &node.next;
        }
    }

    /// Every series with its label values, sorted by them.
    pub(super) fn series(&self) -> Vec<(&'static [Box<str>], &'static V)> {
        let mut out = Vec::new();
        for head in &self.heads {
            let mut next = head.get();
            while let Some(node) = next {
                out.push((&*node.labels, &node.value));
                next = node.next.get();
            }
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }
}

/// This process's hash seed (so chains differ from one run to the next).
static SEED: LazyLock<u64> =
    LazyLock::new(|| std::hash::RandomState::new().hash_one(0x746f_6f6c_686f_7374_u64));

const K: u64 = 0x517c_c1b7_2722_0a95;

/// A fast hash of label values (the values are tool names, namespaces,
/// tenants and error codes the operator controls, not arbitrary input).
fn hash(labels: &[&str]) -> u64 {
    let mut h = *SEED;
    for l in labels {
        let b = l.as_bytes();
        let mut words = b.chunks_exact(8);
        for w in &mut words {
            h = mix(h, u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
        // The length separates one label from the next.
        h = mix(h, tail_word(words.remainder()) ^ b.len() as u64);
        h = mix(h, b.len() as u64);
    }
    // Fold the high bits down: the chain index takes the low ones.
    h ^= h >> 32;
    h = h.wrapping_mul(K);
    h ^ (h >> 29)
}

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

#[cfg(test)]
mod tests {
    use super::*;

    static UNITS: Bounds = Bounds { le: &[10, 100], per_unit: 1.0 };

    #[test]
    fn a_family_finds_each_series_it_made_and_lists_them_sorted() {
        static F: Family<Counter, 2> = Family::new();
        for i in 0..50 {
            F.get_or_insert(&["t", &format!("{i:02}")], Counter::new).add(i);
        }
        F.get_or_insert(&["t", "07"], || unreachable!("exists")).add(100);
        // Label boundaries are part of the key.
        F.get_or_insert(&["t0", "7"], Counter::new).add(1);
        let all = F.series();
        assert_eq!(all.len(), 51);
        assert_eq!(all[7].0, &["t".into(), "07".into()] as &[Box<str>]);
        assert_eq!(all[7].1.get(), 107);
        assert_eq!(&*all[50].0[0], "t0");
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn histogram_buckets_hold_each_observation_once() {
        let h = Histogram::new(&UNITS);
        for v in [0, 10, 11, 100, 101, 5000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!((s.counts, s.count, s.sum), (vec![2, 2, 2], 6, 5222.0));
    }

    #[test]
    fn the_hash_separates_label_boundaries() {
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
        assert_ne!(hash(&["abcdefgh", ""]), hash(&["abcdefgh"]));
        assert_eq!(hash(&["x.y", "z"]), hash(&["x.y", "z"]));
    }
}
