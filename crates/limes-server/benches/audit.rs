//! The audit log's costs: `cargo bench -p limes-server --bench audit`.
//!
//! `append`: audit entries written through the store's writer in groups of 512 (as the
//! delivery audit sink writes them), each chained and added to the Merkle tree, committed to a
//! file on disk. `tree_leaf`: the Merkle tree's share of that (one leaf and the interior hashes
//! it completes, in one transaction). At 100 000 entries: the root, a consistency proof, an
//! inclusion proof, and the offline check of the whole log (`limes audit verify`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use divan::counter::ItemsCount;
use divan::Bencher;
use limes_server::audit::{check, merkle, AuditDraft};
use limes_server::store::Store;
use rusqlite::Connection;
use std::path::Path;
use std::sync::LazyLock;

fn main() {
    divan::main();
}

fn draft(i: u64) -> AuditDraft {
    AuditDraft::new(
        format!("org{}/token:{}", i % 6, i % 40),
        "deliver.alert",
        format!("alert/a{:032x}", i),
        serde_json::json!({ "rev": i % 7, "detail": "full", "channel": "sse" }),
    )
}

/// A store in `dir` with `n` entries, written through the writer.
fn fill(dir: &Path, n: u64, rt: &tokio::runtime::Runtime) {
    let (tx, _rx) = crossbeam_channel::unbounded();
    let (store, _writer) = Store::open(dir, 64, tx).unwrap();
    rt.block_on(async {
        let mut i = 0;
        while i < n {
            let k = 512.min(n - i);
            store
                .audit_many((i..i + k).map(draft).collect())
                .await
                .unwrap();
            i += k;
        }
    });
}

static BIG: LazyLock<(tempfile::TempDir, u64)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    fill(dir.path(), 100_000, &rt);
    (dir, 100_000)
});

fn big() -> Connection {
    Connection::open(BIG.0.path().join("limes.sqlite")).unwrap()
}

#[divan::bench(sample_count = 5)]
fn append(b: Bencher) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    b.counter(ItemsCount::new(10_000usize))
        .with_inputs(|| tempfile::tempdir().unwrap())
        .bench_local_values(|dir| fill(dir.path(), 10_000, &rt));
}

#[divan::bench(sample_count = 5)]
fn tree_leaf(b: Bencher) {
    b.counter(ItemsCount::new(10_000usize))
        .with_inputs(|| {
            let dir = tempfile::tempdir().unwrap();
            let rt = tokio::runtime::Runtime::new().unwrap();
            fill(dir.path(), 0, &rt);
            let c = Connection::open(dir.path().join("limes.sqlite")).unwrap();
            (dir, c)
        })
        .bench_local_values(|(_dir, c)| {
            let tx = c.unchecked_transaction().unwrap();
            for i in 0..10_000u64 {
                let leaf = tlog_leaf(i);
                merkle::append_leaf(&tx, i, leaf).unwrap();
            }
            tx.commit().unwrap();
        });
}

fn tlog_leaf(i: u64) -> merkle::Hash {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&i.to_be_bytes());
    merkle::Hash(h)
}

#[divan::bench]
fn root_at_100k(b: Bencher) {
    let c = big();
    b.bench_local(|| merkle::root(&c, BIG.1).unwrap());
}

#[divan::bench]
fn consistency_50k_to_100k(b: Bencher) {
    let c = big();
    b.bench_local(|| merkle::consistency(&c, 50_001, BIG.1).unwrap());
}

#[divan::bench]
fn inclusion_at_100k(b: Bencher) {
    let c = big();
    b.bench_local(|| merkle::inclusion(&c, 77_777, BIG.1).unwrap());
}

#[divan::bench(sample_count = 3)]
fn check_100k(b: Bencher) {
    let c = big();
    b.counter(ItemsCount::new(BIG.1 as usize))
        .bench_local(|| assert!(check::check_log(&c, &[]).unwrap().ok()));
}
