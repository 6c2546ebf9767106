//! Opaque identifiers: no organisation ever sees the tracker's track ids or the rules' alert
//! ids. Each is released as a per-organisation token (AES-128 of the kind, the id and the
//! organisation under a key kept in the data directory), so ids cannot be correlated between
//! organisations and their sequence says nothing about items an organisation was not released.

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::Aes128;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Which id space an opaque id belongs to (part of the token, so one kind's token never names
/// an item of another kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// A track (prefix `t`).
    Track,
    /// An alert (prefix `a`).
    Alert,
    /// An assessed event (prefix `e`).
    Event,
}

impl IdKind {
    fn tag(self) -> u8 {
        match self {
            IdKind::Track => b't',
            IdKind::Alert => b'a',
            IdKind::Event => b'e',
        }
    }
}

/// Encodes and decodes opaque ids with the deployment's key.
#[derive(Clone)]
pub struct Ids {
    cipher: Aes128,
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ids(..)")
    }
}

/// The key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct KeyError {
    /// The file.
    pub path: std::path::PathBuf,
    /// Underlying error.
    pub source: std::io::Error,
}

impl Ids {
    /// Ids under a given 16-byte key.
    pub fn new(key: [u8; 16]) -> Self {
        Self {
            cipher: Aes128::new(&key.into()),
        }
    }

    /// Ids under the key in `dir/ids.key`, created (random, mode 0600) when missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join("ids.key");
        let err = |source| KeyError {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(b) if b.len() == 16 => {
                let mut k = [0u8; 16];
                k.copy_from_slice(&b);
                Ok(Self::new(k))
            }
            Ok(_) => Err(err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the id key must be 16 bytes",
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let k: [u8; 16] = rand::random();
                write_private(&path, &k).map_err(err)?;
                Ok(Self::new(k))
            }
            Err(e) => Err(err(e)),
        }
    }

    fn block(kind: IdKind, org: &str, id: u64) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = kind.tag();
        b[1..9].copy_from_slice(&id.to_be_bytes());
        b[9..].copy_from_slice(&Sha256::digest(org.as_bytes())[..7]);
        b
    }

    /// The opaque id of internal id `id` for `org`: a kind letter and 32 hex digits.
    pub fn public(&self, kind: IdKind, org: &str, id: u64) -> String {
        let mut block = Self::block(kind, org, id).into();
        self.cipher.encrypt_block(&mut block);
        let mut s = String::with_capacity(33);
        s.push(kind.tag() as char);
        s.push_str(&hex::encode(block));
        s
    }

    /// The internal id behind `public` for `org`, or `None` when it is not one of `org`'s ids of
    /// this kind (malformed, another organisation's, or another kind's).
    pub fn internal(&self, kind: IdKind, org: &str, public: &str) -> Option<u64> {
        let hex_part = public.strip_prefix(kind.tag() as char)?;
        if hex_part.len() != 32 {
            return None;
        }
        let bytes = hex::decode(hex_part).ok()?;
        let mut block = *aes::Block::from_slice(&bytes);
        self.cipher.decrypt_block(&mut block);
        let id = u64::from_be_bytes(block[1..9].try_into().ok()?);
        (block == Self::block(kind, org, id).into()).then_some(id)
    }
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_only_for_their_organisation_and_kind() {
        let ids = Ids::new([7; 16]);
        let a = ids.public(IdKind::Alert, "turkey", 3);
        assert_eq!(ids.internal(IdKind::Alert, "turkey", &a), Some(3));
        assert_eq!(ids.internal(IdKind::Alert, "sdf", &a), None);
        assert_eq!(ids.internal(IdKind::Track, "turkey", &a), None);
        assert_eq!(ids.internal(IdKind::Event, "turkey", &a), None);
        let e = ids.public(IdKind::Event, "turkey", 3);
        assert!(e.starts_with('e'), "{e}");
        assert_eq!(ids.internal(IdKind::Event, "turkey", &e), Some(3));
        assert_eq!(ids.internal(IdKind::Alert, "turkey", &e), None);
        assert_ne!(a, ids.public(IdKind::Alert, "sdf", 3));
        assert_ne!(a, ids.public(IdKind::Alert, "turkey", 4));
        for bad in [
            "",
            "a",
            "a00",
            &a[..32],
            "t0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(ids.internal(IdKind::Alert, "turkey", bad), None, "{bad}");
        }
    }
}
