//! The server under measurement: a `limes serve` child process on ports it chose itself, its
//! tokens, and bounded waits on its counts.

use anyhow::{bail, Context, Result};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::serve::{COT_LINE, HTTP_LINE, OPS_LINE};
use limes_server::api::read::StatsReply;

/// How long the server may take to start, or its counts stand still, before a wait on it
/// gives up; also the bound on any one request to it.
pub(super) const STALL: Duration = Duration::from_secs(120);

/// A running `limes serve`, killed when dropped.
pub(super) struct Proc {
    child: Child,
    /// Base URL of its API.
    pub(super) http: String,
    /// Base URL of its operations listener (`/metrics`).
    pub(super) ops: String,
    /// Address of its plain-TCP CoT listener.
    pub(super) cot: String,
    /// Its process id (for its peak memory).
    pub(super) pid: u32,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP client for requests to the server, each bounded by `STALL` (one for the whole
/// bench, so its connections are kept alive).
pub(super) fn client() -> Result<&'static reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder().timeout(STALL).build()?;
    Ok(CLIENT.get_or_init(|| c))
}

/// A client for a long-lived event stream: its connection is bounded, its length is not.
pub(super) fn stream_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?)
}

/// Peak resident memory of process `pid`, MiB.
pub(super) fn peak_rss_mib(pid: u32) -> f64 {
    let kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        });
    kib.unwrap_or(f64::NAN) / 1024.0
}

fn limes() -> Result<PathBuf> {
    std::env::current_exe().context("locating the limes binary")
}

/// A new token of the bench's organisation (`ibf`) with `role`, made before the server starts.
pub(super) fn token(site: &Path, data: &Path, role: &str) -> Result<String> {
    let out = Command::new(limes()?)
        .args(["token", "create", "--site"])
        .arg(site)
        .arg("--data")
        .arg(data)
        .args(["--org", "ibf", "--role", role])
        .output()?;
    if !out.status.success() {
        bail!(
            "limes token create --role {role} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// The address after `prefix` on one of the server's start-up lines
/// (`  HTTP  http://127.0.0.1:43121/  (…)`).
fn address(line: &str, prefix: &str) -> Option<String> {
    let rest = line.strip_prefix(prefix)?;
    let end = rest.find(['/', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Starts `limes serve` on `site` and `data` with every listener on a port of its own choosing
/// (port 0, read back from what it prints), and waits until it says it is ready.
pub(super) fn serve(site: &Path, data: &Path, extra: &[&str]) -> Result<Proc> {
    let mut child = Command::new(limes()?)
        .arg("serve")
        .arg("--site")
        .arg(site)
        .arg("--data")
        .arg(data)
        .args(["--http", "127.0.0.1:0", "--ops", "127.0.0.1:0"])
        .args(["--cot", "127.0.0.1:0"])
        .args(extra)
        // The servers log errors only, unless `LIMES_BENCH_SERVER_LOG` asks for more.
        .env(
            "RUST_LOG",
            std::env::var("LIMES_BENCH_SERVER_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdout(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().context("the server's stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the start-up lines, hands them over at "ready", then drains the rest.
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(out).lines();
        let mut head = Vec::new();
        for l in lines.by_ref() {
            let Ok(l) = l else { break };
            let ready = l == "ready";
            head.push(l);
            if ready {
                let _ = tx.send(head);
                for _ in lines {}
                return;
            }
        }
    });
    let pid = child.id();
    let mut proc = Proc {
        child,
        http: String::new(),
        ops: String::new(),
        cot: String::new(),
        pid,
    };
    let head = match rx.recv_timeout(STALL) {
        Ok(head) => head,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            bail!("limes serve was not ready within {} s", STALL.as_secs())
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // Its output ended or did not read: it may still run, so it is stopped first.
            let _ = proc.child.kill();
            let status = proc.child.wait()?;
            bail!("limes serve ended before it was ready ({status}); its errors are above")
        }
    };
    let find = |prefix: &str| {
        head.iter()
            .find_map(|l| address(l, prefix))
            .with_context(|| format!("no `{}` line in the server's start-up", prefix.trim()))
    };
    proc.http = format!("http://{}", find(HTTP_LINE)?);
    proc.ops = format!("http://{}", find(OPS_LINE)?);
    proc.cot = find(COT_LINE)?;
    Ok(proc)
}

/// The server's `/api/v1/stats` (an owner's token); any other answer than 200 is an error, so a
/// wait on a count never spins on a refusal.
pub(super) async fn stats(http: &str, token: &str) -> Result<StatsReply> {
    let resp = client()?
        .get(format!("{http}/api/v1/stats"))
        .bearer_auth(token)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("stats answered {}: {}", resp.status(), resp.text().await?);
    }
    Ok(resp.json().await?)
}

/// Watches a server's counts while waiting on them: a wait that sees no change for `STALL`
/// ends with an error naming the counts, rather than waiting for ever on a stuck server.
pub(super) struct Progress<T> {
    last: Option<T>,
    since: Instant,
}

impl<T: PartialEq> Progress<T> {
    /// A watch that starts now.
    pub(super) fn new() -> Self {
        Self {
            last: None,
            since: Instant::now(),
        }
    }

    /// Notes the counts `now`; an error naming `what` once they have not moved for `STALL`.
    pub(super) fn note(&mut self, now: T, what: impl FnOnce() -> String) -> Result<()> {
        if self.last.as_ref() != Some(&now) {
            self.last = Some(now);
            self.since = Instant::now();
        } else if self.since.elapsed() > STALL {
            bail!(
                "the server made no progress for {} s: {}",
                STALL.as_secs(),
                what()
            );
        }
        Ok(())
    }
}

/// Records the server has taken from sensors so far: stored, and refused (each refusal is
/// named in its log or its reply), from its operations listener's `/metrics`.
pub(super) async fn taken(ops: &str) -> Result<(u64, u64)> {
    let resp = client()?.get(format!("{ops}/metrics")).send().await?;
    if !resp.status().is_success() {
        bail!("metrics answered {}", resp.status());
    }
    let text = resp.text().await?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map(|v| v as u64)
            .with_context(|| format!("{name} is not in the server's metrics"))
    };
    Ok((
        value("limes_ingest_records_total")?,
        value("limes_ingest_rejected_total")?,
    ))
}

/// Waits until the server has taken (stored or refused) `n` records from sensors; returns
/// what it stored and refused.
pub(super) async fn taken_all(ops: &str, n: u64) -> Result<(u64, u64)> {
    let mut progress = Progress::new();
    loop {
        let (stored, refused) = taken(ops).await?;
        if stored + refused >= n {
            return Ok((stored, refused));
        }
        progress.note((stored, refused), || {
            format!("{stored} records stored and {refused} refused of {n} sent")
        })?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits until the server has stored `records` and its engine has processed everything
/// logged; returns when it had.
pub(super) async fn drained(http: &str, token: &str, records: u64) -> Result<Instant> {
    let mut progress = Progress::new();
    loop {
        let s = stats(http, token).await?;
        let stored = u64::try_from(s.store.records).unwrap_or(0);
        if stored >= records && s.processed_seq >= s.store.last_batch_seq {
            return Ok(Instant::now());
        }
        let now = (stored, s.processed_seq);
        progress.note(now, || {
            format!(
                "{stored} records stored, processed up to {}, last batch {}",
                s.processed_seq, s.store.last_batch_seq
            )
        })?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use crate::serve::{COT_LINE, HTTP_LINE, OPS_LINE};

    #[test]
    fn the_listeners_addresses_are_read_from_the_start_up_lines() {
        let l = "  HTTP  http://127.0.0.1:43121/  (the console; OpenAPI at /api/v1/openapi.json)";
        assert_eq!(
            super::address(l, HTTP_LINE).as_deref(),
            Some("127.0.0.1:43121")
        );
        let l = "  ops   http://127.0.0.1:9464/metrics, /readyz";
        assert_eq!(
            super::address(l, OPS_LINE).as_deref(),
            Some("127.0.0.1:9464")
        );
        assert_eq!(
            super::address("  CoT   tcp://127.0.0.1:8087", COT_LINE).as_deref(),
            Some("127.0.0.1:8087")
        );
        assert_eq!(super::address("ready", COT_LINE), None);
    }
}
