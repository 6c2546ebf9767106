//! `limes audit …`: checking a store's audit log (hash chain, Merkle tree, checkpoints partners
//! hold), printing the key that signs its checkpoints, and witnessing a running server's log
//! from a partner's side.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use limes_server::audit::check::check_log;
use limes_server::audit::checkpoint::{parse_hashes, LogKey, SignedCheckpoint};

/// A verifier key given on the command line: the key text itself, or a file holding it.
fn verifier_key(arg: &str) -> Result<String> {
    let p = Path::new(arg);
    if p.is_file() {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {arg}"))?;
        return Ok(text.trim().to_string());
    }
    Ok(arg.trim().to_string())
}

/// The verifier key of an existing signing key file (never creates one).
fn key_of_file(path: &Path) -> Result<String> {
    if !path.is_file() {
        bail!(
            "{}: no audit signing key here; give the key you pinned with --key",
            path.display()
        );
    }
    let k = LogKey::load_or_create(path, None, "unused")?;
    Ok(k.verifier_key().to_string())
}

/// Prints the verifier key partners pin.
pub fn key(data: &Path, audit_key: Option<&Path>) -> Result<()> {
    let path = audit_key.map_or_else(|| data.join("audit.key"), Path::to_path_buf);
    println!("{}", key_of_file(&path)?);
    Ok(())
}

/// Checks the audit log of a data directory: its hash chain, its Merkle tree recomputed from
/// the entries, and each checkpoint given (signature with `key`, then that the log extends it).
pub fn verify(
    data: &Path,
    checkpoints: &[PathBuf],
    key: Option<&str>,
    audit_key: Option<&Path>,
) -> Result<()> {
    let db = data.join("limes.sqlite");
    if !db.exists() {
        bail!("{}: no store here", db.display());
    }
    let mut held = Vec::new();
    if !checkpoints.is_empty() {
        let vkey = match key {
            Some(k) => verifier_key(k)?,
            None => {
                let path = audit_key.map_or_else(|| data.join("audit.key"), Path::to_path_buf);
                let k = key_of_file(&path)?;
                eprintln!(
                    "checking signatures with the key in {} (a partner passes the key it pinned with --key)",
                    path.display()
                );
                k
            }
        };
        for f in checkpoints {
            let note = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            let cp = SignedCheckpoint::open(&note, &vkey)
                .with_context(|| format!("{}: not a checkpoint signed by {vkey}", f.display()))?;
            held.push(cp);
        }
    }
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let found = check_log(&conn, &held)?;
    if !found.ok() {
        bail!(
            "audit log of {} BROKEN:\n  {}",
            db.display(),
            found.problems.join("\n  ")
        );
    }
    println!(
        "audit log intact: {} entries, hash chain and Merkle tree agree (root {})",
        found.entries, found.root
    );
    for (f, cp) in checkpoints.iter().zip(&held) {
        println!(
            "  extends the checkpoint in {} ({} entries, {})",
            f.display(),
            cp.size,
            cp.time
        );
    }
    Ok(())
}

/// Longest answer the witness reads from a server, bytes.
const MAX_ANSWER: usize = 1 << 20;

/// A consistency proof as the server answers it.
#[derive(serde::Deserialize)]
struct Proof {
    proof: Vec<String>,
}

/// What a partner runs against a server: fetch the latest checkpoint and the proof that it
/// extends the one kept in `held` (the first time: keep the latest), check both with the pinned
/// key, and keep the newer one.
pub async fn witness(server: &str, token: &str, key: &str, held_file: &Path) -> Result<()> {
    let vkey = verifier_key(key)?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let base = server.trim_end_matches('/');
    let get = |url: String| {
        let http = http.clone();
        let token = token.to_string();
        async move {
            let mut r = http.get(&url).bearer_auth(token).send().await?;
            let status = r.status();
            // A checkpoint or a proof is a few hundred bytes; a server sending more is refused.
            let mut body = Vec::new();
            while let Some(c) = r.chunk().await? {
                if body.len() + c.len() > MAX_ANSWER {
                    bail!("{url}: the answer is longer than {MAX_ANSWER} bytes");
                }
                body.extend_from_slice(&c);
            }
            let body = String::from_utf8_lossy(&body).into_owned();
            if !status.is_success() {
                bail!("{url}: HTTP {status}: {body}");
            }
            Ok(body)
        }
    };
    let held = match std::fs::read(held_file) {
        Ok(b) => Some(
            SignedCheckpoint::open(&b, &vkey)
                .with_context(|| format!("{}: the checkpoint kept", held_file.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", held_file.display())),
    };
    let body = get(format!("{base}/api/v1/audit/checkpoint")).await?;
    let newer =
        SignedCheckpoint::open(body.as_bytes(), &vkey).context("the server's latest checkpoint")?;
    if let Some(h) = held.as_ref().filter(|h| h.size > 0) {
        let proof = if newer.size >= h.size {
            let body = get(format!(
                "{base}/api/v1/audit/consistency?from={}&to={}",
                h.size, newer.size
            ))
            .await?;
            let a: Proof = serde_json::from_str(&body).context("the consistency answer")?;
            parse_hashes(&a.proof).context("the proof's hashes")?
        } else {
            Vec::new()
        };
        h.check_extended_by(&newer, &proof)
            .with_context(|| format!("WITNESS FAILED against {}", held_file.display()))?;
    }
    let tmp = held_file.with_extension("tmp");
    std::fs::write(&tmp, newer.note.as_bytes())?;
    std::fs::rename(&tmp, held_file)?;
    match held {
        Some(h) => println!(
            "the log of {} entries ({}) extends the checkpoint kept ({} entries, {}); kept the newer",
            newer.size, newer.time, h.size, h.time
        ),
        None => println!(
            "first checkpoint kept: {} entries ({}), signed by {vkey}",
            newer.size, newer.time
        ),
    }
    Ok(())
}
