//! `toolhost top`: a live terminal view of a running server (`GET /v1/stats`):
//! calls in flight, per-tool rates and latencies, breaker states, bulkhead queues.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use toolhost::observe::live::Snapshot;

#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    /// Base URL of a `toolhost serve --http` server.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "TOOLHOST_URL")]
    url: String,
    /// Bearer token, when the server requires one: an operator token
    /// (`admin = true` in `[[serve.tokens]]`).
    #[arg(long, env = "TOOLHOST_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Refresh interval, ms.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..))]
    interval_ms: u64,
    /// Print one frame and exit (no screen clearing); exit status 2 if the server is unreachable.
    #[arg(long)]
    once: bool,
    /// Print the raw snapshot as JSON (implies --once).
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(a: TopArgs) -> Result<ExitCode> {
    let target = Target::parse(&a.url)?;
    if a.once || a.json {
        let snap = target.fetch(a.token.as_deref()).await?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&snap)?);
        } else {
            print!("{}", render(&a.url, &snap, None));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut prev: Option<(Instant, Snapshot)> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(a.interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        let frame = match target.fetch(a.token.as_deref()).await {
            Ok(snap) => {
                let rates = prev.as_ref().map(|(t, p)| (t.elapsed(), p));
                let f = render(&a.url, &snap, rates);
                prev = Some((Instant::now(), snap));
                f
            }
            Err(e) => format!(
                "toolhost top: {}\n\ncannot reach the server: {e:#}\nretrying every {} ms (Ctrl-C quits)\n",
                a.url, a.interval_ms
            ),
        };
        // Home, clear, frame: one write so the terminal never shows half a frame.
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\x1b[H\x1b[2J{frame}");
        let _ = out.flush();
    }
    println!();
    Ok(ExitCode::SUCCESS)
}

/// One frame. `prev` (time since, previous snapshot) gives per-second rates.
fn render(url: &str, s: &Snapshot, prev: Option<(Duration, &Snapshot)>) -> String {
    let mut o = String::new();
    let up = s.uptime_secs as u64;
    let _ = writeln!(
        o,
        "toolhost top — {url}   up {}h{:02}m{:02}s   plugins {}   tools {}   health {}   (Ctrl-C quits)",
        up / 3600,
        up / 60 % 60,
        up % 60,
        s.plugins,
        s.tools,
        s.health
    );
    let _ = writeln!(o, "\nIN FLIGHT ({})", s.inflight.len());
    if !s.inflight.is_empty() {
        let _ = writeln!(o, "  {:<36} {:<28} {:<14} {:>10}", "CALL ID", "TOOL", "TENANT", "ELAPSED");
    }
    for c in s.inflight.iter().take(15) {
        let _ = writeln!(
            o,
            "  {:<36} {:<28} {:<14} {:>8}ms",
            clip(&c.call_id, 36),
            clip(&c.tool, 28),
            clip(&c.tenant, 14),
            c.elapsed_ms
        );
    }
    if s.inflight.len() > 15 {
        let _ = writeln!(o, "  … {} more", s.inflight.len() - 15);
    }
    let before: HashMap<&str, u64> =
        prev.map(|(_, p)| p.totals.iter().map(|t| (t.tool.as_str(), t.calls)).collect()).unwrap_or_default();
    let _ = writeln!(o, "\nTOOLS");
    let _ = writeln!(
        o,
        "  {:<28} {:>8} {:>8} {:>7} {:>9} {:>9} {:>9}",
        "TOOL", "CALLS", "RATE/s", "ERR%", "P50 ms", "P95 ms", "MEAN ms"
    );
    for t in s.totals.iter().take(20) {
        let rate = match prev {
            Some((dt, _)) if dt.as_secs_f64() > 0.0 => {
                let d = t.calls.saturating_sub(before.get(t.tool.as_str()).copied().unwrap_or(0));
                format!("{:.1}", d as f64 / dt.as_secs_f64())
            }
            _ => "-".into(),
        };
        let err = if t.calls == 0 { 0.0 } else { t.errors as f64 * 100.0 / t.calls as f64 };
        let ms = |v: Option<f64>| v.map_or_else(|| ">30000".into(), |v| format!("{v:.1}"));
        let _ = writeln!(
            o,
            "  {:<28} {:>8} {:>8} {:>6.1}% {:>9} {:>9} {:>9}",
            clip(&t.tool, 28),
            t.calls,
            rate,
            err,
            ms(t.p50_ms),
            ms(t.p95_ms),
            ms(t.mean_ms)
        );
    }
    let open: Vec<_> = s.breakers.iter().filter(|b| b.state != "closed").collect();
    let _ = writeln!(o, "\nBREAKERS ({} tracked, {} not closed)", s.breakers.len(), open.len());
    for b in open.iter().take(10) {
        let _ = writeln!(o, "  {:<44} {}", clip(&b.key, 44), b.state.to_uppercase());
    }
    let _ = writeln!(o, "\nBULKHEADS");
    if s.bulkheads.is_empty() {
        let _ = writeln!(o, "  none configured");
    } else {
        let _ = writeln!(o, "  {:<36} {:>7} {:>7} {:>9}", "COMPARTMENT", "ACTIVE", "QUEUED", "REJECTED");
    }
    for b in s.bulkheads.iter().take(15) {
        let _ = writeln!(o, "  {:<36} {:>7} {:>7} {:>9}", clip(&b.key, 36), b.active, b.queued, b.rejected);
    }
    o
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// `http://host:port[/prefix]`: plain HTTP only (a local or tunnelled server).
struct Target {
    authority: String,
    prefix: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!(
                "--url must start with http:// (got {url}); use a local address or a tunnel for TLS servers"
            )
        };
        let (authority, prefix) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if authority.is_empty() {
            bail!("--url has no host: {url}");
        }
        let authority =
            if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
        Ok(Target { authority, prefix: prefix.trim_end_matches('/').to_string() })
    }

    /// `GET /v1/stats` over one HTTP/1.1 connection.
    async fn fetch(&self, token: Option<&str>) -> Result<Snapshot> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let io = async {
            let mut stream = tokio::net::TcpStream::connect(&self.authority).await?;
            let path = if self.prefix.is_empty() {
                "/v1/stats".to_string()
            } else {
                format!("/{}/v1/stats", self.prefix)
            };
            let mut req = format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n",
                self.authority
            );
            if let Some(t) = token {
                req.push_str(&format!("Authorization: Bearer {t}\r\n"));
            }
            req.push_str("\r\n");
            stream.write_all(req.as_bytes()).await?;
            let mut buf = Vec::new();
            stream.take(16 << 20).read_to_end(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let buf = tokio::time::timeout(Duration::from_secs(5), io)
            .await
            .context("no answer within 5 s")?
            .with_context(|| format!("connecting to {}", self.authority))?;
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n").context("malformed HTTP response")?;
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        let mut body = buf[split + 4..].to_vec();
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body).context("malformed chunked body")?;
        }
        if status != "200" {
            let hint = match status {
                "401" => " (pass --token or set TOOLHOST_TOKEN)",
                "403" => {
                    " (the token is not an operator token: give one with admin = true in [[serve.tokens]])"
                }
                "404" => " (is this a toolhost server?)",
                _ => "",
            };
            bail!(
                "HTTP {status}{hint}: {}",
                String::from_utf8_lossy(&body).chars().take(200).collect::<String>()
            );
        }
        serde_json::from_slice(&body).context("the server's /v1/stats is not a toolhost snapshot")
    }
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost::observe::live::{InflightCall, ToolTotals};

    #[test]
    fn a_frame_shows_inflight_calls_rates_and_quantiles() {
        let mut s = Snapshot {
            uptime_secs: 65.0,
            plugins: 1,
            tools: 3,
            health: "ok".into(),
            inflight: vec![InflightCall {
                call_id: "c1".into(),
                tool: "slow".into(),
                tenant: "acme".into(),
                elapsed_ms: 1500,
            }],
            totals: vec![ToolTotals {
                tool: "ok".into(),
                calls: 30,
                errors: 3,
                p50_ms: Some(1.0),
                p95_ms: Some(5.0),
                mean_ms: Some(1.2),
            }],
            breakers: vec![],
            bulkheads: vec![],
        };
        let prev = s.clone();
        s.totals[0].calls = 50;
        let f = render("http://x", &s, Some((Duration::from_secs(2), &prev)));
        assert!(f.contains("up 0h01m05s"), "{f}");
        assert!(f.contains("c1") && f.contains("slow") && f.contains("1500ms"), "{f}");
        let row = f.lines().find(|l| l.trim_start().starts_with("ok ")).unwrap();
        assert!(row.contains(" 50 ") && row.contains("10.0") && row.contains("6.0%"), "{row}");
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(), b"abcde");
        assert!(dechunk(b"zz\r\n").is_none());
    }
}
