//! Checking a store's audit log from its file (`limes audit verify`): the hash chain, the
//! Merkle tree recomputed from the entries themselves (the stored tree is not trusted), and a
//! checkpoint a partner holds: the first `size` entries must hash to its signed root, and the
//! stored tree must prove the current log extends it (the proof partners are served).

use rusqlite::Connection;
use std::collections::HashMap;
use tlog_tiles::check_tree;

use super::checkpoint::SignedCheckpoint;
use super::merkle::{self, Frontier, Hash, TreeError};

/// What the check found.
#[derive(Debug)]
pub struct Findings {
    /// Entries in the log.
    pub entries: u64,
    /// The root recomputed from the entries.
    pub root: Hash,
    /// Every problem found, one sentence each; empty when all is well.
    pub problems: Vec<String>,
}

impl Findings {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the log in `conn`, and against each of `held` (checkpoints already opened with the
/// pinned key). Reads every entry once, in O(log n) memory besides one row per checkpoint, in
/// one read transaction (a running server's store can be checked).
pub fn check_log(conn: &Connection, held: &[SignedCheckpoint]) -> Result<Findings, TreeError> {
    // One read transaction: a server may be appending meanwhile, and every read below must see
    // the same log.
    let tx = conn.unchecked_transaction()?;
    let conn: &Connection = &tx;
    let mut problems = Vec::new();
    if let Err(e) = super::verify(conn) {
        problems.push(format!("hash chain: {e}"));
    }
    let mut tree = Frontier::new();
    // The root recomputed at each held checkpoint's size.
    let mut roots: HashMap<u64, Hash> = held
        .iter()
        .map(|h| h.size)
        .filter(|&n| n == 0)
        .map(|n| (n, tlog_tiles::EMPTY_HASH))
        .collect();
    {
        let mut stmt = conn.prepare(
            "SELECT seq, time, actor, action, object, detail, prev, hash FROM audit ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let e = super::row_entry(r)?;
            tree.push(merkle::leaf_hash(&e))?;
            if held.iter().any(|h| h.size == tree.size()) {
                roots.insert(tree.size(), tree.root()?);
            }
        }
    }
    let (entries, root) = (tree.size(), tree.root()?);

    // The stored tree is what proofs are served from: it must be the entries' tree.
    match merkle::tree_size(conn) {
        Ok(n) if n != entries => problems.push(format!(
            "the stored Merkle tree covers {n} entries but the log holds {entries} \
             (entries removed, or added without the server)"
        )),
        Ok(_) => {
            if merkle::root(conn, entries)? != root {
                problems.push(
                    "the stored Merkle tree does not match the entries: entries were changed \
                     after they were written (proofs served from it are false)"
                        .into(),
                );
            }
        }
        Err(e) => problems.push(format!("the stored Merkle tree is damaged: {e}")),
    }

    for h in held {
        if h.size > entries {
            problems.push(format!(
                "truncated: the checkpoint of {} covers {} entries but the log holds only \
                 {entries}",
                h.time, h.size
            ));
        } else if roots.get(&h.size) != Some(&h.root) {
            problems.push(format!(
                "the first {} entries do not hash to the root signed in the checkpoint of {}: \
                 entries it covers were changed, removed, replaced or re-hashed",
                h.size, h.time
            ));
        } else if h.size > 0 {
            // The same proof a partner is served, from the stored tree.
            let proof = merkle::consistency(conn, h.size, entries);
            let ok = proof.is_ok_and(|p| check_tree(&p, entries, root, h.size, h.root).is_ok());
            if !ok {
                problems.push(format!(
                    "the stored tree cannot prove that the log extends the checkpoint of {} \
                     ({} entries)",
                    h.time, h.size
                ));
            }
        }
    }
    drop(tx);
    Ok(Findings {
        entries,
        root,
        problems,
    })
}
