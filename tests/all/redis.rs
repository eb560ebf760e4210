//! Scale-out on a real Redis (`common::RedisServer`, a throwaway
//! `redis-server` on a free loopback port): the shared result cache with
//! cross-process single flight, the distributed GCRA (one Lua script on Redis
//! `TIME`), skewed client clocks, and degraded mode while Redis is down.

use crate::common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use toolhost::backend::redis::{Redis, RedisRateLimiter};
use toolhost::backend::{Health, RedisConfig};
use toolhost::exec::clock::{Clock, ManualClock};
use toolhost::exec::rate_limit::Quota;
use toolhost::{CallOptions, CallResult, ErrorCode, ExecutionContext, Host, ToolCall};

const CACHE: &str = "[cache]\nenabled = true\n[policy]\ncache = true\n";

/// A host over the hostile guest (plugin `h`) sharing `redis`, with extra
/// `toolhost.toml` text and an optional clock.
async fn host_on(redis: &RedisServer, toml: &str, clock: Option<Arc<dyn Clock>>) -> (Host, Folder) {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let mut cfg = toolhost::Config::from_toml(toml).unwrap();
    cfg.plugins_dir = f.path().to_path_buf();
    cfg.cache_dir = Some(shared_cache());
    cfg.redis_url = Some(redis.url());
    let mut b = Host::builder().config(cfg);
    if let Some(c) = clock {
        b = b.clock(c);
    }
    let host = b.build().await.expect("host builds");
    assert_loaded(&host, "h");
    (host, f)
}

async fn exec(host: &Host, tool: &str, args: Value) -> CallResult {
    host.execute(&ExecutionContext::new(), ToolCall::new(tool, args.to_string()), &CallOptions::default())
        .await
}

fn ran(r: &CallResult) -> bool {
    !r.cached && r.attempts > 0
}

fn keys(redis: &RedisServer, pattern: &str) -> Vec<String> {
    redis
        .cli(&["--scan", "--pattern", pattern])
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_computed_on_one_host_is_a_hit_on_another() {
    let redis = RedisServer::start();
    let (a, _fa) = host_on(&redis, CACHE, None).await;
    let (b, _fb) = host_on(&redis, CACHE, None).await;
    let first = exec(&a, "ok", json!({"q": 1})).await;
    assert!(ran(&first), "{first:?}");
    let second = exec(&b, "ok", json!({"q": 1})).await;
    assert!(second.cached && second.attempts == 0 && second.stats.is_none(), "{second:?}");
    assert_eq!(second.result.unwrap().value, Some(json!({"q": 1})));
    assert_eq!(b.executor().cache_counters(), Some((1, 0)), "B's hit came from Redis, B ran nothing");
    // One value with a TTL, under a hash-tagged key; no lease left behind.
    let stored = keys(&redis, "toolhost:cache:*");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].starts_with("toolhost:cache:{") && stored[0].ends_with('}'), "{stored:?}");
    let pttl: i64 = redis.cli(&["PTTL", &stored[0]]).trim().parse().unwrap();
    assert!(pttl > 0 && pttl <= 300_000, "default ttl 300 s, got {pttl} ms");
    // Other arguments: a miss on B too.
    assert!(ran(&exec(&b, "ok", json!({"q": 2})).await));
    // Non-idempotent tools never reach the cache.
    assert!(ran(&exec(&a, "counter", json!({})).await) && ran(&exec(&b, "counter", json!({})).await));
}

/// Six identical `sleep_ms` calls, three on each of two hosts sharing
/// `redis`, started together; returns how many ran the tool.
async fn race_on_two_hosts(redis: &RedisServer, toml: &str) -> usize {
    let (a, _fa) = host_on(redis, toml, None).await;
    let (b, _fb) = host_on(redis, toml, None).await;
    let args = json!({"ms": 600});
    let calls = (0..6).map(|i| {
        let host = if i % 2 == 0 { a.clone() } else { b.clone() };
        let args = args.clone();
        tokio::spawn(async move { exec(&host, "sleep_ms", args).await })
    });
    let results: Vec<CallResult> =
        futures::future::join_all(calls).await.into_iter().map(|r| r.unwrap()).collect();
    for r in &results {
        assert_eq!(r.result.as_ref().unwrap().value, Some(json!({"slept_ms": 600})), "{r:?}");
    }
    results.iter().filter(|r| ran(r)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_misses_on_two_hosts_run_the_tool_once() {
    let redis = RedisServer::start();
    assert_eq!(race_on_two_hosts(&redis, CACHE).await, 1, "exactly one of 6 calls on 2 hosts ran the tool");
    assert!(keys(&redis, "toolhost:cache:*:lease").is_empty(), "the lease was released");
}

/// The control for the test above: with no time to wait for another
/// process's lease, each host's leader runs the tool (the in-process single
/// flight still holds), so the race is real and the lease is what prevents it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_waiting_for_the_lease_each_host_runs_its_own_miss() {
    let redis = RedisServer::start();
    let toml = format!("{CACHE}[redis]\ncache_lease_ms = 0\n");
    assert_eq!(race_on_two_hosts(&redis, &toml).await, 2);
}

/// `toolhost call` in separate processes: the second process is answered from
/// the first one's result; the shared rate limit admits exactly its budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_processes_share_cache_hits_and_the_rate_limit_budget() {
    let redis = RedisServer::start();
    let f = Folder::new();
    f.wasm("h", &hostile());
    let config = f.path().join("toolhost.toml");
    std::fs::write(
        &config,
        format!("{CACHE}[rate_limits]\nper_tenant = {{ rate = 2, per_ms = 3600000, burst = 2 }}\n"),
    )
    .unwrap();
    let call = |tool: &str, args: &str| {
        let out = std::process::Command::new(crate::cli::bin())
            .args(["call", tool, args, "--json"])
            .arg("--plugins")
            .arg(f.path())
            .arg("--config")
            .arg(&config)
            .arg("--cache-dir")
            .arg(shared_cache())
            .arg("--redis")
            .arg(redis.url())
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        v
    };
    let first = call("ok", r#"{"p":1}"#);
    assert_eq!((first["ok"].as_bool(), first["cached"].as_bool()), (Some(true), Some(false)), "{first}");
    let second = call("ok", r#"{"p":1}"#);
    assert_eq!((second["ok"].as_bool(), second["cached"].as_bool()), (Some(true), Some(true)), "{second}");
    // The first call took 1 of the tenant's 2; the hit took none. Of 4 more
    // distinct calls (4 processes) exactly one is admitted.
    let outcomes: Vec<Value> = (0..4).map(|i| call("ok", &format!(r#"{{"n":{i}}}"#))).collect();
    let admitted = outcomes.iter().filter(|v| v["ok"] == true).count();
    assert_eq!(admitted, 1, "{outcomes:?}");
    for v in outcomes.iter().filter(|v| v["ok"] == false) {
        assert_eq!(v["error"]["code"], "TOOL_RATE_LIMITED", "{v}");
        let ra = v["error"]["retry_after_ms"].as_u64().unwrap();
        assert!(ra > 0 && ra <= 3_600_000, "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_together_admit_exactly_one_limit() {
    let redis = RedisServer::start();
    let toml = "[rate_limits]\nglobal = { rate = 1000, per_ms = 1000, burst = 1000 }\n\
                per_tenant = { rate = 5, per_ms = 3600000, burst = 5 }\n";
    let (a, _fa) = host_on(&redis, toml, None).await;
    let (b, _fb) = host_on(&redis, toml, None).await;
    let mut admitted = 0;
    for i in 0..12 {
        let host = if i % 2 == 0 { &a } else { &b };
        let r = exec(host, "ok", json!({"i": i})).await;
        match &r.result {
            Ok(_) => admitted += 1,
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::ToolRateLimited, "{e:?}");
                let ms = e.retry_after_ms().unwrap();
                // 5 per hour: T = 720 s; the wait is exact and never beyond the period.
                assert!(ms > 0 && ms <= 720_000, "{e:?}");
                assert!(e.to_string().contains("tenant:default"), "the tenant key refused: {e}");
            }
        }
    }
    assert_eq!(admitted, 5, "together A and B admit exactly one limit");
    assert_eq!(b.backend_health(), Health::Ok);
}

/// A clock that runs `offset` ahead of real time.
#[derive(Debug)]
struct Ahead(Duration);

impl Clock for Ahead {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now() + self.0
    }
}

/// Host A's clock runs an hour ahead and host B's stands still: the shared
/// decision reads Redis `TIME` only, so together they admit one burst, and B
/// is admitted again once real (Redis) time has refilled the bucket, which a
/// decision on B's frozen clock could never do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_client_clocks_neither_over_admit_nor_stall() {
    let redis = RedisServer::start();
    let toml = "[rate_limits]\nper_tenant = { rate = 2, per_ms = 3000, burst = 2 }\n";
    let (a, _fa) = host_on(&redis, toml, Some(Arc::new(Ahead(Duration::from_secs(3600))))).await;
    let (b, _fb) = host_on(&redis, toml, Some(Arc::new(ManualClock::new()))).await;
    let mut admitted = 0;
    let started = std::time::Instant::now();
    for i in 0..8 {
        let host = if i % 2 == 0 { &a } else { &b };
        admitted += exec(host, "ok", json!({"i": i})).await.result.is_ok() as u32;
    }
    // GCRA bound: burst + one per T (1.5 s) of real time that passed.
    let bound = 2 + (started.elapsed().as_millis() / 1500) as u32;
    assert!(admitted <= bound, "one burst of 2 for both hosts, got {admitted} (bound {bound})");
    assert!(admitted >= 2, "an idle bucket admits its burst: {admitted}");
    // τ = 3 s: after 3.1 s of real time the bucket is full again.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = exec(&b, "ok", json!({"again": 1})).await;
    assert!(r.result.is_ok(), "B (frozen clock) is admitted on Redis time: {r:?}");
    let r = exec(&a, "ok", json!({"again": 2})).await;
    assert!(r.result.is_ok(), "{r:?}");
    let r = exec(&a, "ok", json!({"again": 3})).await;
    assert_eq!(r.result.unwrap_err().code(), ErrorCode::ToolRateLimited, "A's hour of skew buys nothing");
}

async fn readyz(addr: std::net::SocketAddr) -> (u16, Value) {
    let r = reqwest::Client::new().get(format!("http://{addr}/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_degrades_then_converges_without_a_restart() {
    let mut redis = RedisServer::start();
    let toml = format!(
        "{CACHE}[rate_limits]\nper_tenant = {{ rate = 4, per_ms = 3600000, burst = 4 }}\n\
         [redis]\nop_timeout_ms = 200\nlocal_rate_share = 0.5\n"
    );
    let (host, _f) = host_on(&redis, &toml, None).await;
    let server =
        toolhost_serve::HttpServer::bind(host.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                let _ = stopped.await;
            })
            .await
            .unwrap()
    });
    assert!(ran(&exec(&host, "ok", json!({"q": 1})).await));
    assert!(exec(&host, "ok", json!({"q": 1})).await.cached);
    let (status, v) = readyz(addr).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("ok")), "{v}");

    redis.stop();
    // Calls are answered: the cached entry is unreachable, so the tool runs.
    let r = exec(&host, "ok", json!({"q": 1})).await;
    assert!(ran(&r), "{r:?}");
    assert_eq!(r.result.as_ref().unwrap().value, Some(json!({"q": 1})));
    assert_eq!(host.backend_health(), Health::Degraded);
    let (status, v) = readyz(addr).await;
    assert_eq!(
        (status, v["status"].as_str(), v["ready"].as_bool()),
        (200, Some("degraded"), Some(true)),
        "{v}"
    );
    // Rate limits fall back to the local share: 4 × 0.5 = 2, of which the call
    // above took one.
    let outcomes: Vec<_> = (0..4).map(|i| json!({"outage": i})).collect();
    let failures = host.backend().redis().unwrap().failures();
    let mut admitted = 0;
    for args in outcomes {
        let r = exec(&host, "ok", args).await;
        match r.result {
            Ok(_) => admitted += 1,
            Err(e) => assert_eq!(e.code(), ErrorCode::ToolRateLimited, "{e:?}"),
        }
    }
    assert_eq!(admitted, 1, "local share of 2, one already used");
    // While degraded, operations with a fallback skip Redis between probes
    // instead of each failing (or timing out) again: these 4 calls would
    // otherwise make 13 failed operations (get, lease, rate limit, and a put
    // for the admitted one).
    let tried = host.backend().redis().unwrap().failures() - failures;
    assert!(tried < 13, "{tried} Redis operations tried while degraded");
    let metrics = toolhost::observe::metrics::render_host(&host);
    assert!(metrics.contains("toolhost_redis_fallbacks_total{operation=\"rate_limit\"}"), "{metrics}");
    assert!(metrics.contains("toolhost_backend_degraded 1"), "{metrics}");

    redis.restart();
    // /readyz probes Redis itself: recovery shows without calls.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, v) = readyz(addr).await;
        assert_eq!(status, 200);
        if v["status"] == "ok" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still degraded after restart: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(host.backend_health(), Health::Ok);
    // The cache is used again (the restarted Redis is empty), and the rate
    // limit is shared again (a fresh budget of 4 in the new Redis).
    assert!(ran(&exec(&host, "ok", json!({"q": 9})).await));
    assert!(exec(&host, "ok", json!({"q": 9})).await.cached);
    assert_eq!(keys(&redis, "toolhost:cache:*").len(), 1);
    assert_eq!(keys(&redis, "toolhost:{rl}:*"), vec!["toolhost:{rl}:tenant:default".to_string()]);
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_starts_while_redis_is_down() {
    let mut redis = RedisServer::start();
    redis.stop();
    let (host, _f) = host_on(&redis, CACHE, None).await;
    let r = exec(&host, "ok", json!({"x": 1})).await;
    assert!(ran(&r) && r.result.is_ok(), "{r:?}");
    assert_eq!(host.check_backend().await, Health::Degraded);
    redis.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while host.check_backend().await != Health::Ok {
        assert!(std::time::Instant::now() < deadline, "redis never seen again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ran(&exec(&host, "ok", json!({"x": 1})).await));
    assert!(exec(&host, "ok", json!({"x": 1})).await.cached);
}

// ---- the GCRA script itself -------------------------------------------------

fn quota(rate: u32, per_ms: u64, burst: u32) -> Quota {
    Quota { rate, per: Duration::from_millis(per_ms), burst }
}

fn limiter(redis: &RedisServer) -> RedisRateLimiter {
    RedisRateLimiter::new(Redis::open(&redis.url(), RedisConfig::default()).unwrap())
}

fn stored_tat(redis: &RedisServer, key: &str) -> Option<u64> {
    redis.cli(&["GET", &format!("toolhost:{{rl}}:{key}")]).trim().parse().ok()
}

#[tokio::test]
async fn gcra_script_burst_then_one_per_t_with_exact_retry_after() {
    let redis = RedisServer::start();
    let rl = limiter(&redis);
    let q = quota(2, 2000, 3); // T = 1 s, τ = 3 s
    let (t_us, tau_us) = (1_000_000u64, 3_000_000u64);
    let first = rl.check(&[("k", &q)], 1).await.unwrap();
    first.result.unwrap();
    for _ in 0..2 {
        rl.check(&[("k", &q)], 1).await.unwrap().result.unwrap();
    }
    let tat = stored_tat(&redis, "k").unwrap();
    assert_eq!(tat, first.now_micros + 3 * t_us, "three charges of T from the first call's Redis time");
    let denied = rl.check(&[("k", &q)], 1).await.unwrap();
    let err = denied.result.unwrap_err();
    assert!(!err.impossible);
    assert_eq!(err.key, "k");
    // Exact: new_tat − τ − now, in Redis time.
    assert_eq!(err.retry_after, Duration::from_micros(tat + t_us - tau_us - denied.now_micros));
    assert_eq!(stored_tat(&redis, "k"), Some(tat), "a refusal charges nothing");
    let pttl: u64 = redis.cli(&["PTTL", "toolhost:{rl}:k"]).trim().parse().unwrap();
    assert!(pttl > 0 && pttl <= tau_us / 1000 + 1, "expires when the key is idle again: {pttl}");
    // Once the wait is over, exactly one more passes, then the next waits ≤ T.
    tokio::time::sleep(err.retry_after).await;
    rl.check(&[("k", &q)], 1).await.unwrap().result.unwrap();
    let again = rl.check(&[("k", &q)], 1).await.unwrap();
    let wait = again.result.unwrap_err().retry_after;
    assert!(wait > Duration::ZERO && wait <= Duration::from_micros(t_us), "{wait:?}");
}

#[tokio::test]
async fn gcra_script_checks_every_key_and_charges_all_or_none() {
    let redis = RedisServer::start();
    let rl = limiter(&redis);
    let tenant = quota(10, 60_000, 10);
    let tool = quota(1, 60_000, 1);
    rl.check(&[("tenant:a", &tenant), ("tool:x", &tool)], 1).await.unwrap().result.unwrap();
    let tenant_tat = stored_tat(&redis, "tenant:a").unwrap();
    for _ in 0..5 {
        let err = rl.check(&[("tenant:a", &tenant), ("tool:x", &tool)], 1).await.unwrap().result.unwrap_err();
        assert_eq!(err.key, "tool:x");
    }
    assert_eq!(stored_tat(&redis, "tenant:a"), Some(tenant_tat), "refused calls charge no key");
    // The largest retry_after names the key, whatever the order.
    let slow = quota(1, 60_000, 1);
    let fast = quota(10, 1000, 1);
    rl.check(&[("fast", &fast), ("slow", &slow)], 1).await.unwrap().result.unwrap();
    for order in [[("fast", &fast), ("slow", &slow)], [("slow", &slow), ("fast", &fast)]] {
        let err = rl.check(&order, 1).await.unwrap().result.unwrap_err();
        assert_eq!(err.key, "slow");
        assert!(err.retry_after > Duration::from_secs(50), "{err:?}");
    }
    // A cost above the burst can never pass: impossible, nothing stored.
    let err = rl.check(&[("big", &quota(10, 1000, 3))], 4).await.unwrap().result.unwrap_err();
    assert!(err.impossible && err.retry_after.is_zero() && err.key == "big", "{err:?}");
    assert_eq!(stored_tat(&redis, "big"), None);
    // A key listed twice is charged twice (burst 3: two of three, then one more).
    let q = quota(1, 1000, 3);
    rl.check(&[("twice", &q), ("twice", &q)], 1).await.unwrap().result.unwrap();
    rl.check(&[("twice", &q), ("twice", &q)], 1).await.unwrap().result.unwrap_err();
    rl.check(&[("twice", &q)], 1).await.unwrap().result.unwrap();
}

#[tokio::test]
async fn gcra_script_errors_when_redis_is_down() {
    let mut redis = RedisServer::start();
    let rl = limiter(&redis);
    rl.check(&[("k", &quota(1, 1000, 1))], 1).await.unwrap().result.unwrap();
    redis.stop();
    assert!(rl.check(&[("k", &quota(1, 1000, 1))], 1).await.is_err(), "no decision without Redis");
}
