//! The Merkle tree over the audit log, hashed as RFC 6962 (Certificate Transparency) hashes it:
//! a leaf is SHA-256(0x00 ‖ entry), a node SHA-256(0x01 ‖ left ‖ right). Every entry is one
//! leaf, in sequence order (entry `seq` is leaf `seq - 1`).
//!
//! The tree's hashes are kept in the `audit_tree` table in the order Go's checksum database
//! stores them (the "stored hash index" of Crosby and Wallach), written in the same transaction
//! as their entry, so a root, a consistency proof or an inclusion proof costs O(log n) reads.
//! The arithmetic is the `tlog_tiles` crate (a port of `golang.org/x/mod/sumdb/tlog`); this
//! module only stores and reads hashes and encodes entries.

use rusqlite::{params, Connection, OptionalExtension};
use std::cell::RefCell;
use std::collections::BTreeMap;
use tlog_tiles::{
    record_hash, stored_hash_count, stored_hash_index, stored_hashes_for_record_hash,
    sub_tree_index, tree_hash, HashReader,
};

pub use tlog_tiles::Hash;

use super::AuditEntry;

/// The tree could not be read or extended.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The database failed.
    #[error("audit tree: {0}")]
    Db(#[from] rusqlite::Error),
    /// A hash the tree needs is missing or malformed, or a proof was asked for sizes the tree
    /// does not have.
    #[error("audit tree: {0}")]
    Tlog(#[from] tlog_tiles::Error),
    /// The stored tree and the entries disagree in size.
    #[error(
        "the audit tree covers {tree} entries but the log holds {log}: \
         the log was truncated or entries were added by hand (run `limes audit verify`)"
    )]
    Size {
        /// Leaves in the stored tree.
        tree: u64,
        /// Entries in the log.
        log: u64,
    },
}

/// The bytes a leaf hashes: each field as a 4-byte big-endian length and its UTF-8 bytes, in
/// the order seq (decimal), time, actor, action, object, detail. Lengths make the encoding
/// unambiguous whatever the fields contain; the chain's `prev` and `hash` are not part of it.
pub fn leaf_data(
    seq: i64,
    time: &str,
    actor: &str,
    action: &str,
    object: &str,
    detail: &str,
) -> Vec<u8> {
    let seq = seq.to_string();
    let fields = [seq.as_str(), time, actor, action, object, detail];
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for f in fields {
        // A field is far below 4 GiB (the API bounds every input); saturate rather than wrap.
        let n = u32::try_from(f.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(f.as_bytes());
    }
    out
}

/// The leaf hash of a stored entry: SHA-256(0x00 ‖ [`leaf_data`]).
pub fn leaf_hash(e: &AuditEntry) -> Hash {
    record_hash(&leaf_data(
        e.seq, &e.time, &e.actor, &e.action, &e.object, &e.detail,
    ))
}

/// Hashes read from `audit_tree` (inside whatever transaction the connection is in).
struct Stored<'c> {
    conn: &'c Connection,
    /// The database error behind a failed read (the reader trait can only say "not in tree").
    err: RefCell<Option<rusqlite::Error>>,
}

impl<'c> Stored<'c> {
    fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            err: RefCell::new(None),
        }
    }

    /// Turns a tlog error into ours, preferring the database error that caused it.
    fn fail(&self, e: tlog_tiles::Error) -> TreeError {
        match self.err.borrow_mut().take() {
            Some(db) => TreeError::Db(db),
            None => TreeError::Tlog(e),
        }
    }
}

impl HashReader for Stored<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let read = || -> rusqlite::Result<Option<Vec<Hash>>> {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT hash FROM audit_tree WHERE idx = ?1")?;
            let mut out = Vec::with_capacity(indexes.len());
            for &i in indexes {
                let Ok(i) = i64::try_from(i) else {
                    return Ok(None);
                };
                let h: Option<Vec<u8>> = stmt.query_row(params![i], |r| r.get(0)).optional()?;
                match h.and_then(|h| <[u8; 32]>::try_from(h).ok()) {
                    Some(h) => out.push(Hash(h)),
                    None => return Ok(None),
                }
            }
            Ok(Some(out))
        };
        match read() {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(tlog_tiles::Error::IndexesNotInTree),
            Err(e) => {
                *self.err.borrow_mut() = Some(e);
                Err(tlog_tiles::Error::IndexesNotInTree)
            }
        }
    }
}

/// Adds leaf `index` (the tree must hold exactly `index` leaves) and the interior hashes it
/// completes. Called in the transaction that appends the entry.
pub fn append_leaf(conn: &Connection, index: u64, leaf: Hash) -> Result<(), TreeError> {
    let r = Stored::new(conn);
    let hashes = stored_hashes_for_record_hash(index, leaf, &r).map_err(|e| r.fail(e))?;
    let mut stmt = conn.prepare_cached("INSERT INTO audit_tree (idx, hash) VALUES (?1, ?2)")?;
    let base = stored_hash_index(0, index);
    for (k, h) in hashes.iter().enumerate() {
        let idx = i64::try_from(base + k as u64).map_err(|_| tlog_tiles::Error::BadMath)?;
        stmt.execute(params![idx, &h.0[..]])?;
    }
    Ok(())
}

/// Entries in the log (its sequence numbers run from 1 without gaps).
pub fn log_size(conn: &Connection) -> rusqlite::Result<u64> {
    let n: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Leaves in the stored tree, from the number of hashes stored (each leaf adds a fixed number).
pub fn tree_size(conn: &Connection) -> Result<u64, TreeError> {
    let stored: i64 = conn.query_row(
        "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_tree",
        [],
        |r| r.get(0),
    )?;
    let stored = u64::try_from(stored).unwrap_or(0);
    // stored_hash_count is increasing in the number of leaves: find the one that fits.
    let (mut lo, mut hi) = (0u64, stored);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if stored_hash_count(mid) < stored {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if stored_hash_count(lo) != stored {
        // A leaf's hashes are written together, so this is damage, not a crash.
        return Err(TreeError::Tlog(tlog_tiles::Error::IndexesNotInTree));
    }
    Ok(lo)
}

/// The root of the first `size` leaves of the stored tree.
pub fn root(conn: &Connection, size: u64) -> Result<Hash, TreeError> {
    let r = Stored::new(conn);
    tree_hash(size, &r).map_err(|e| r.fail(e))
}

/// The log's size and the stored tree's root at that size.
pub fn head(conn: &Connection) -> Result<(u64, Hash), TreeError> {
    let n = log_size(conn)?;
    Ok((n, root(conn, n)?))
}

/// The RFC 6962 consistency proof that the tree of `old` leaves is a prefix of the tree of
/// `new` leaves (1 ≤ old ≤ new ≤ the tree's size).
pub fn consistency(conn: &Connection, old: u64, new: u64) -> Result<Vec<Hash>, TreeError> {
    let r = Stored::new(conn);
    tlog_tiles::prove_tree(new, old, &r).map_err(|e| r.fail(e))
}

/// The RFC 6962 inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion(conn: &Connection, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
    let r = Stored::new(conn);
    tlog_tiles::prove_record(size, index, &r).map_err(|e| r.fail(e))
}

/// Brings the stored tree up to the log: adds the leaves of entries written before the tree
/// existed (or by an older `limes`). Refuses a tree larger than the log (a truncated log), which
/// new entries could not extend. Returns the number of leaves added.
pub fn catch_up(conn: &Connection) -> Result<u64, TreeError> {
    let tree = tree_size(conn)?;
    let log = log_size(conn)?;
    if tree > log {
        return Err(TreeError::Size { tree, log });
    }
    if tree == log {
        return Ok(0);
    }
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare(
            "SELECT seq, time, actor, action, object, detail, prev, hash FROM audit
             WHERE seq > ?1 ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![tree as i64])?;
        let mut index = tree;
        while let Some(row) = rows.next()? {
            let e = super::row_entry(row)?;
            append_leaf(&tx, index, leaf_hash(&e))?;
            index += 1;
        }
    }
    tx.commit()?;
    Ok(log - tree)
}

/// The root of leaves streamed in order, kept in O(log n) memory: only the hashes of the
/// complete subtrees on the tree's right edge (what the next leaf or the root needs).
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    hashes: BTreeMap<u64, Hash>,
}

impl HashReader for Frontier {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.hashes
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) -> Result<(), tlog_tiles::Error> {
        let new = stored_hashes_for_record_hash(self.size, leaf, self)?;
        let base = stored_hash_index(0, self.size);
        for (k, h) in new.into_iter().enumerate() {
            self.hashes.insert(base + k as u64, h);
        }
        self.size += 1;
        let keep = sub_tree_index(0, self.size, Vec::new());
        self.hashes.retain(|i, _| keep.contains(i));
        Ok(())
    }

    /// The root of the leaves pushed so far.
    pub fn root(&self) -> Result<Hash, tlog_tiles::Error> {
        tree_hash(self.size, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlog_tiles::{check_record, check_tree};

    /// The leaves and roots of RFC 6962's reference tests (google/certificate-transparency
    /// merkle_tree_test.cc, also transparency-dev/merkle testonly).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    /// (old size, new size, proof) from the same reference tests.
    const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    /// (leaf index, tree size, inclusion proof) from the same reference tests.
    const INCLUSION: [(u64, u64, &[&str]); 3] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    fn h(s: &str) -> Hash {
        Hash(hex::decode(s).unwrap().try_into().unwrap())
    }

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&c).unwrap();
        c
    }

    /// A stored tree of the reference leaves.
    fn reference_tree(n: usize) -> Connection {
        let c = db();
        for (i, l) in LEAVES[..n].iter().enumerate() {
            append_leaf(&c, i as u64, record_hash(&hex::decode(l).unwrap())).unwrap();
        }
        c
    }

    #[test]
    fn stored_tree_matches_the_rfc_6962_reference_vectors() {
        let c = reference_tree(8);
        assert_eq!(tree_size(&c).unwrap(), 8);
        assert_eq!(root(&c, 0).unwrap(), tlog_tiles::EMPTY_HASH);
        let mut f = Frontier::new();
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(
                root(&c, n as u64 + 1).unwrap(),
                h(want),
                "root of {}",
                n + 1
            );
            f.push(record_hash(&hex::decode(LEAVES[n]).unwrap()))
                .unwrap();
            assert_eq!(f.root().unwrap(), h(want), "frontier root of {}", n + 1);
        }
        for (old, new, proof) in CONSISTENCY {
            let want: Vec<Hash> = proof.iter().map(|p| h(p)).collect();
            let got = consistency(&c, old, new).unwrap();
            assert_eq!(got, want, "consistency {old} -> {new}");
            let (ro, rn) = (h(ROOTS[old as usize - 1]), h(ROOTS[new as usize - 1]));
            check_tree(&got, new, rn, old, ro).unwrap();
            // A proof for another pair of roots fails.
            if old != new {
                assert!(check_tree(&got, new, rn, old, rn).is_err());
            }
        }
        for (index, size, proof) in INCLUSION {
            let want: Vec<Hash> = proof.iter().map(|p| h(p)).collect();
            let got = inclusion(&c, index, size).unwrap();
            assert_eq!(got, want, "inclusion {index} in {size}");
            let leaf = record_hash(&hex::decode(LEAVES[index as usize]).unwrap());
            check_record(&got, size, h(ROOTS[size as usize - 1]), index, leaf).unwrap();
        }
    }

    #[test]
    fn every_proof_up_to_33_leaves_checks_and_a_changed_leaf_does_not() {
        let c = db();
        let leaves: Vec<Hash> = (0..33u32)
            .map(|i| record_hash(format!("leaf {i}").as_bytes()))
            .collect();
        let mut roots = Vec::new();
        for (i, l) in leaves.iter().enumerate() {
            append_leaf(&c, i as u64, *l).unwrap();
            roots.push(root(&c, i as u64 + 1).unwrap());
        }
        for new in 1..=33u64 {
            let rn = roots[new as usize - 1];
            for old in 1..=new {
                let p = consistency(&c, old, new).unwrap();
                check_tree(&p, new, rn, old, roots[old as usize - 1]).unwrap();
            }
            for i in 0..new {
                let p = inclusion(&c, i, new).unwrap();
                check_record(&p, new, rn, i, leaves[i as usize]).unwrap();
                let other = record_hash(b"forged");
                assert!(check_record(&p, new, rn, i, other).is_err());
            }
        }
    }

    #[test]
    fn leaf_encoding_is_unambiguous() {
        // Moving a separator between fields changes the leaf.
        let a = leaf_data(1, "t", "org/a", "read", "x\ny", "{}");
        let b = leaf_data(1, "t", "org/a", "read\nx", "y", "{}");
        assert_ne!(a, b);
        assert_eq!(&a[..5], &[0, 0, 0, 1, b'1']);
    }
}
