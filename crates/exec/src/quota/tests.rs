//! Quota accounting on tokio's paused clock.

use super::*;
use crate::TokioClock;
use toolhost_core::ErrorCode;

fn quotas(q: QuotaConfig) -> Quotas {
    let quotas = Quotas::new(Arc::new(TokioClock));
    quotas.set_all(BTreeMap::from([("acme".to_string(), q)]));
    quotas
}

fn details(e: &Error) -> (String, u64, u64, Option<u64>) {
    match e {
        Error::QuotaExceeded { quota, limit, used, retry_after_ms, .. } => {
            (quota.clone(), *limit, *used, *retry_after_ms)
        }
        other => panic!("expected QUOTA_EXCEEDED, got {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn calls_per_minute_refuse_until_the_window_closes() {
    let q = quotas(QuotaConfig { calls_per_minute: Some(2), ..Default::default() });
    let _a = q.admit("acme", "t").unwrap();
    tokio::time::advance(Duration::from_secs(20)).await;
    let _b = q.admit("acme", "t").unwrap();
    let e = q.admit("acme", "t").unwrap_err();
    assert_eq!(e.code(), ErrorCode::QuotaExceeded);
    assert!(e.retryable());
    assert_eq!(details(&e), ("calls_per_minute".into(), 2, 2, Some(40_000)));
    assert_eq!(e.to_json()["details"]["quota"], "calls_per_minute");
    // Other tenants have no quota.
    assert!(q.admit("beta", "t").is_ok());
    tokio::time::advance(Duration::from_secs(40)).await;
    assert!(q.admit("acme", "t").is_ok(), "a new window opens 60 s after the first call");
    assert_eq!(q.usage("acme")[1], QuotaUse { quota: "calls_per_minute", limit: Some(2), used: 1 });
}

#[tokio::test(start_paused = true)]
async fn concurrent_calls_count_permits_in_flight() {
    let q = quotas(QuotaConfig { concurrent_calls: Some(1), ..Default::default() });
    let held = q.admit("acme", "t").unwrap();
    let e = q.admit("acme", "t").unwrap_err();
    assert_eq!(details(&e), ("concurrent_calls".into(), 1, 1, None));
    assert!(e.retryable(), "a slot frees when a call ends");
    drop(held);
    assert!(q.admit("acme", "t").is_ok());
}

#[tokio::test(start_paused = true)]
async fn fuel_per_day_caps_each_call_then_refuses_until_the_day_window_closes() {
    let q = quotas(QuotaConfig { fuel_per_call: Some(1000), fuel_per_day: Some(2500), ..Default::default() });
    assert_eq!(q.caps("acme").fuel, Some((1000, "fuel_per_call")));
    q.charge_fuel("acme", 1000);
    tokio::time::advance(Duration::from_secs(3600)).await;
    q.charge_fuel("acme", 1000);
    assert_eq!(q.caps("acme").fuel, Some((500, "fuel_per_day")), "what is left of the day is lower");
    q.charge_fuel("acme", 500);
    let e = q.admit("acme", "t").unwrap_err();
    assert_eq!(details(&e), ("fuel_per_day".into(), 2500, 2500, Some(23 * 3600 * 1000)));
    tokio::time::advance(Duration::from_secs(23 * 3600)).await;
    assert!(q.admit("acme", "t").is_ok());
    assert_eq!(q.caps("beta"), CallCaps::default());
}

#[tokio::test(start_paused = true)]
async fn warm_instances_and_memory_and_reconfiguration() {
    let q = quotas(QuotaConfig {
        warm_instances: Some(1),
        memory_per_call: Some(64 << 20),
        ..Default::default()
    });
    assert_eq!(q.caps("acme").memory_mib, Some(64));
    let w = q.warm("acme").expect("one warm instance");
    assert!(q.warm("acme").is_none(), "the second call runs in a fresh instance");
    drop(w);
    assert!(q.warm("acme").is_some());
    // A new limit applies to new calls at once.
    q.set("acme", QuotaConfig { concurrent_calls: Some(1), ..Default::default() });
    assert_eq!(q.caps("acme").memory_mib, None);
    let _p = q.admit("acme", "t").unwrap();
    assert!(q.admit("acme", "t").is_err());
    let snap = q.snapshot();
    assert_eq!(snap, vec![("acme".into(), QuotaUse { quota: "concurrent_calls", limit: Some(1), used: 1 })]);
    q.set("acme", QuotaConfig::default());
    assert!(q.admit("acme", "t").is_ok(), "no quota: unlimited");
}

#[tokio::test(start_paused = true)]
async fn cache_bytes_evict_the_tenants_oldest_results_and_scoped_forgetting() {
    let q = quotas(QuotaConfig { cache_bytes: Some(100), ..Default::default() });
    let ttl = Duration::from_secs(300);
    let k = |s: &str| CacheKey(s.into());
    assert_eq!(q.cache_store("acme", "a", &k("1"), ttl, || 60), Some(vec![]));
    assert_eq!(q.cache_store("acme", "b", &k("2"), ttl, || 60), Some(vec![k("1")]));
    assert_eq!(q.cache_store("acme", "b", &k("3"), ttl, || 500), None);
    // Tenants without the quota are recorded (for scoped clearing), never weighed.
    assert_eq!(q.cache_store("beta", "b", &k("4"), ttl, || unreachable!()), Some(vec![]));
    assert_eq!(q.cache_forget(None, Some("b")).len(), 2);
    assert!(q.cache_forget(Some("acme"), None).is_empty());
}

#[tokio::test(start_paused = true)]
async fn quotas_set_and_removed_at_run_time_take_effect_for_the_next_call() {
    let q = Quotas::new(Arc::new(TokioClock));
    assert!(q.admit("acme", "t").is_ok(), "no quotas: every call admitted");
    q.set("acme", QuotaConfig { concurrent_calls: Some(1), fuel_per_call: Some(7), ..Default::default() });
    let held = q.admit("acme", "t").unwrap();
    assert_eq!(q.admit("acme", "t").unwrap_err().code(), ErrorCode::QuotaExceeded);
    assert_eq!(q.caps("acme").fuel, Some((7, "fuel_per_call")));
    q.set("acme", QuotaConfig::default());
    assert!(q.admit("acme", "t").is_ok(), "the last quota removed: admitted again");
    assert_eq!(q.caps("acme"), CallCaps::default());
    drop(held);
    q.set_all(BTreeMap::from([(
        "beta".to_string(),
        QuotaConfig { calls_per_minute: Some(1), ..Default::default() },
    )]));
    let _b = q.admit("beta", "t").unwrap();
    assert!(q.admit("beta", "t").is_err());
}
