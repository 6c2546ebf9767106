//! Signed checkpoints of the audit log: the tree's size and root, signed with the log's ed25519
//! key, in the text format of C2SP `tlog-checkpoint` inside a C2SP `signed-note` (what Go's
//! checksum database and sigstore's Rekor publish):
//!
//! ```text
//! limes/frontier
//! 1234
//! 8Gf6BLv5sAn4k1T4GpJ5Kyd3pS0Nk6X0WkYc3lqkS+I=
//! time 2026-11-25T10:00:00Z
//!
//! — limes/frontier 3+Ui4Yq8dJ2b…
//! ```
//!
//! Lines: the origin (the log's name, also the key's name), the number of entries, the base64
//! RFC 6962 root, one extension line with the signing time (UTC, whole seconds), a blank line,
//! then the signature line(s). The key is kept in a file outside the database as a Go `note`
//! signer key (`PRIVATE+KEY+<name>+<id>+<key>`); partners pin its verifier key
//! (`<name>+<id>+<key>`).

use base64::Engine;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use std::path::{Path, PathBuf};
use tlog_tiles::{check_record, check_tree, Checkpoint, Hash};

/// Signature algorithm byte of ed25519 in signed notes.
const ALG_ED25519: u8 = 1;

/// The key could not be read, made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not a signer key.
    #[error("{0}: not an audit signing key (expected one line PRIVATE+KEY+<name>+<id>+<key>)")]
    Format(PathBuf),
    /// The configured origin is not the key's name.
    #[error("--audit-origin is {given:?} but {path} signs as {key:?}: drop the flag, or give a new key file")]
    Origin {
        /// The flag's value.
        given: String,
        /// The key's name.
        key: String,
        /// The key file.
        path: PathBuf,
    },
    /// The origin is not a valid key name.
    #[error("audit origin {0:?}: it must be non-empty, without spaces or '+'")]
    Name(String),
}

/// A checkpoint could not be made, read or checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The note is malformed or its signature does not verify with the pinned key.
    #[error("checkpoint signature: {0}")]
    Note(#[from] signed_note::NoteError),
    /// The verifier key is malformed.
    #[error("verifier key: {0}")]
    Key(#[from] signed_note::VerifierError),
    /// The signed text is not a checkpoint.
    #[error("the signed text is not a tlog checkpoint (origin, size, base64 root, `time …`)")]
    Malformed,
    /// The checkpoint is another log's.
    #[error("the checkpoint is of log {got:?}, not {want:?}")]
    Origin {
        /// The checkpoint's origin.
        got: String,
        /// The key's name.
        want: String,
    },
    /// The newer checkpoint is smaller: entries were removed.
    #[error(
        "the log shrank from {old} to {new} entries: entries were removed (truncated) since the \
         checkpoint of {old_time}"
    )]
    Shrunk {
        /// Size of the held checkpoint.
        old: u64,
        /// Size of the newer one.
        new: u64,
        /// Time of the held checkpoint.
        old_time: String,
    },
    /// The proof does not take the held root to the newer one.
    #[error(
        "the log of {new} entries is not an extension of the checkpoint of {old} entries \
         ({old_time}): entries it covers were changed, removed or replaced"
    )]
    Inconsistent {
        /// Size of the held checkpoint.
        old: u64,
        /// Size of the newer one.
        new: u64,
        /// Time of the held checkpoint.
        old_time: String,
    },
    /// The inclusion proof does not take the entry to the root.
    #[error("entry {seq} is not in the log of {size} entries as shown (its proof does not check)")]
    NotIncluded {
        /// The entry.
        seq: u64,
        /// The checkpoint's size.
        size: u64,
    },
}

/// The log's signing key and its names.
pub struct LogKey {
    signer: StandardSigner,
    origin: String,
    verifier: String,
    /// The signer key text, written to the key file when it is made.
    secret: String,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogKey({})", self.verifier)
    }
}

/// Makes a valid key name of free text (spaces and `+` become `-`).
pub fn origin_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_whitespace() || c == '+' {
                '-'
            } else {
                c
            }
        })
        .collect()
}

impl LogKey {
    /// The key of an ed25519 seed, named `origin`.
    pub fn from_seed(origin: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(KeyError::Name(origin.to_string()));
        }
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        let mut public = vec![ALG_ED25519];
        public.extend_from_slice(&sk.verifying_key().to_bytes());
        let mut private = vec![ALG_ED25519];
        private.extend_from_slice(&seed);
        let skey = format!(
            "PRIVATE+KEY+{origin}+{:08x}+{}",
            signed_note::key_id(origin, &public),
            base64::engine::general_purpose::STANDARD.encode(&private)
        );
        Self::parse(&skey).ok_or_else(|| KeyError::Name(origin.to_string()))
    }

    /// Parses a signer key (`PRIVATE+KEY+<name>+<id>+<base64 of 0x01 ‖ seed>`).
    fn parse(skey: &str) -> Option<Self> {
        let signer = StandardSigner::new(skey).ok()?;
        let mut parts = skey.splitn(5, '+');
        let (_, _, name, _, key) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let key = base64::engine::general_purpose::STANDARD.decode(key).ok()?;
        let seed: [u8; 32] = key.get(1..)?.try_into().ok()?;
        let vk = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        Some(Self {
            signer,
            origin: name.to_string(),
            verifier: signed_note::new_ed25519_verifier_key(name, &vk),
            secret: skey.to_string(),
        })
    }

    /// The key in `path`; when the file is missing, a new random key named `origin` (or
    /// `default_origin`) is written there (mode 0600). An existing key keeps its name; an
    /// explicit `origin` that differs from it is an error.
    pub fn load_or_create(
        path: &Path,
        origin: Option<&str>,
        default_origin: &str,
    ) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                warn_if_readable(path);
                let key = Self::parse(text.trim()).ok_or_else(|| KeyError::Format(path.into()))?;
                if let Some(o) = origin.filter(|o| *o != key.origin) {
                    return Err(KeyError::Origin {
                        given: o.to_string(),
                        key: key.origin,
                        path: path.into(),
                    });
                }
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::from_seed(origin.unwrap_or(default_origin), rand::random())?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let text = format!("{}\n", key.secret);
                crate::release::ids::write_private(path, text.as_bytes()).map_err(io)?;
                tracing::info!(
                    "audit signing key created in {} (keep it out of the data directory's backups)",
                    path.display()
                );
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The log's name, the first line of every checkpoint.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key partners pin: `<name>+<id>+<base64 public key>`.
    pub fn verifier_key(&self) -> &str {
        &self.verifier
    }

    /// Signs a checkpoint of the tree of `size` entries with `root`, made at `time`.
    pub fn sign(
        &self,
        size: u64,
        root: Hash,
        time: chrono::DateTime<chrono::Utc>,
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let time = time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let body = Checkpoint::new(&self.origin, size, root, &format!("time {time}\n"))
            .map_err(|_| CheckpointError::Malformed)?;
        let mut note = Note::new(&body.to_bytes(), &[])?;
        note.add_sigs(&[&self.signer])?;
        let note = String::from_utf8(note.to_bytes()).map_err(|_| CheckpointError::Malformed)?;
        Ok(SignedCheckpoint {
            origin: self.origin.clone(),
            size,
            root,
            time,
            note,
        })
    }
}

#[cfg(unix)]
fn warn_if_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "{}: the audit signing key is readable by others (chmod 600 it)",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable(_: &Path) {}

/// A checkpoint and its signed note.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedCheckpoint {
    /// The log's name.
    pub origin: String,
    /// Entries covered.
    pub size: u64,
    /// RFC 6962 root of those entries.
    pub root: Hash,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
    /// The signed note, as published.
    pub note: String,
}

/// A checkpoint as JSON (SSE events, API answers); `note` is what a partner keeps.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CheckpointJson {
    /// The log's name.
    pub origin: String,
    /// Entries covered.
    pub size: u64,
    /// Base64 RFC 6962 root.
    pub root: String,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
    /// The C2SP signed note.
    pub note: String,
}

impl SignedCheckpoint {
    /// The JSON form.
    pub fn json(&self) -> CheckpointJson {
        CheckpointJson {
            origin: self.origin.clone(),
            size: self.size,
            root: self.root.to_string(),
            time: self.time.clone(),
            note: self.note.clone(),
        }
    }

    /// Reads a signed note and checks its signature against the pinned verifier key; the
    /// checkpoint's origin must be the key's name.
    pub fn open(note: &[u8], verifier_key: &str) -> Result<Self, CheckpointError> {
        let v = StandardVerifier::new(verifier_key.trim())?;
        let name = signed_note::Verifier::name(&v).to_string();
        let n = Note::from_bytes(note)?;
        n.verify(&VerifierList::new(vec![Box::new(v)]))?;
        let cp = Checkpoint::from_bytes(n.text()).map_err(|_| CheckpointError::Malformed)?;
        if cp.origin() != name {
            return Err(CheckpointError::Origin {
                got: cp.origin().to_string(),
                want: name,
            });
        }
        let time = cp
            .extension()
            .lines()
            .find_map(|l| l.strip_prefix("time "))
            .ok_or(CheckpointError::Malformed)?
            .to_string();
        Ok(Self {
            origin: cp.origin().to_string(),
            size: cp.size(),
            root: *cp.hash(),
            time,
            note: String::from_utf8_lossy(note).into_owned(),
        })
    }

    /// Checks that `newer` extends this checkpoint, given the RFC 6962 consistency proof
    /// between them (both already opened with the pinned key).
    pub fn check_extended_by(
        &self,
        newer: &SignedCheckpoint,
        proof: &[Hash],
    ) -> Result<(), CheckpointError> {
        if newer.origin != self.origin {
            return Err(CheckpointError::Origin {
                got: newer.origin.clone(),
                want: self.origin.clone(),
            });
        }
        if newer.size < self.size {
            return Err(CheckpointError::Shrunk {
                old: self.size,
                new: newer.size,
                old_time: self.time.clone(),
            });
        }
        let ok = if self.size == 0 {
            true
        } else {
            check_tree(
                &proof.to_vec(),
                newer.size,
                newer.root,
                self.size,
                self.root,
            )
            .is_ok()
        };
        if ok {
            Ok(())
        } else {
            Err(CheckpointError::Inconsistent {
                old: self.size,
                new: newer.size,
                old_time: self.time.clone(),
            })
        }
    }

    /// Checks that entry `seq` with leaf hash `leaf` is in this checkpoint's tree, given its
    /// RFC 6962 inclusion proof.
    pub fn check_includes(
        &self,
        seq: u64,
        leaf: Hash,
        proof: &[Hash],
    ) -> Result<(), CheckpointError> {
        let fail = CheckpointError::NotIncluded {
            seq,
            size: self.size,
        };
        if seq == 0 || seq > self.size {
            return Err(fail);
        }
        check_record(&proof.to_vec(), self.size, self.root, seq - 1, leaf).map_err(|_| fail)
    }
}

/// Parses base64 hashes (as proofs are published).
pub fn parse_hashes(v: &[String]) -> Option<Vec<Hash>> {
    v.iter().map(|s| Hash::parse_hash(s).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlog_tiles::record_hash;

    fn key() -> LogKey {
        LogKey::from_seed("limes/test", [7; 32]).unwrap()
    }

    fn at(s: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn a_signed_checkpoint_opens_with_the_pinned_key_only() {
        let k = key();
        let root = record_hash(b"x");
        let cp = k.sign(1, root, at(1_800_000_000)).unwrap();
        let lines: Vec<&str> = cp.note.lines().collect();
        assert_eq!(
            lines[..4],
            [
                "limes/test",
                "1",
                &root.to_string(),
                "time 2027-01-15T08:00:00Z"
            ]
        );
        assert_eq!(lines[4], "");
        assert!(lines[5].starts_with("— limes/test "));
        let opened = SignedCheckpoint::open(cp.note.as_bytes(), k.verifier_key()).unwrap();
        assert_eq!(opened, cp);

        // Another key of the same name, a changed size, a changed root: refused.
        let other = LogKey::from_seed("limes/test", [8; 32]).unwrap();
        assert!(SignedCheckpoint::open(cp.note.as_bytes(), other.verifier_key()).is_err());
        let bigger = cp.note.replacen("\n1\n", "\n2\n", 1);
        assert!(SignedCheckpoint::open(bigger.as_bytes(), k.verifier_key()).is_err());
        let forged = cp
            .note
            .replacen(&root.to_string(), &record_hash(b"y").to_string(), 1);
        assert!(SignedCheckpoint::open(forged.as_bytes(), k.verifier_key()).is_err());
    }

    #[test]
    fn extension_is_checked_by_proof_and_size() {
        let k = key();
        let leaves: Vec<Hash> = (0..5u8).map(|i| record_hash(&[i])).collect();
        let mut f = crate::audit::merkle::Frontier::new();
        let mut cps = Vec::new();
        for l in &leaves {
            f.push(*l).unwrap();
            cps.push(k.sign(f.size(), f.root().unwrap(), at(0)).unwrap());
        }
        let db = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&db).unwrap();
        for (i, l) in leaves.iter().enumerate() {
            crate::audit::merkle::append_leaf(&db, i as u64, *l).unwrap();
        }
        let proof = crate::audit::merkle::consistency(&db, 2, 5).unwrap();
        cps[1].check_extended_by(&cps[4], &proof).unwrap();
        assert!(matches!(
            cps[4].check_extended_by(&cps[1], &proof),
            Err(CheckpointError::Shrunk { old: 5, new: 2, .. })
        ));
        // A log of 5 whose second leaf was replaced cannot be proven to extend the held 2.
        let forged = k.sign(5, record_hash(b"other root"), at(0)).unwrap();
        assert!(matches!(
            cps[1].check_extended_by(&forged, &proof),
            Err(CheckpointError::Inconsistent { .. })
        ));
        let inc = crate::audit::merkle::inclusion(&db, 3, 5).unwrap();
        cps[4].check_includes(4, leaves[3], &inc).unwrap();
        assert!(cps[4].check_includes(4, leaves[2], &inc).is_err());
    }

    #[test]
    fn a_key_file_is_made_private_once_and_keeps_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit.key");
        let a = LogKey::load_or_create(&path, None, "limes/frontier").unwrap();
        assert_eq!(a.origin(), "limes/frontier");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = LogKey::load_or_create(&path, None, "something else").unwrap();
        assert_eq!(b.verifier_key(), a.verifier_key());
        assert!(matches!(
            LogKey::load_or_create(&path, Some("other"), "x"),
            Err(KeyError::Origin { .. })
        ));
        assert!(b.verifier_key().starts_with("limes/frontier+"));
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            LogKey::load_or_create(&path, None, "x"),
            Err(KeyError::Format(_))
        ));
    }
}
