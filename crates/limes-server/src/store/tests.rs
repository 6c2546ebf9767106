//! The writer's copy of the admission rule, against what the engine will have seen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Feed, Store};
use crate::ingest::Batch;
use limes_core::engine::Admission;
use limes_core::record::{Heartbeat, SensorRecord, Time};
use limes_core::track::TrackerConfig;

fn heartbeat(t: f64) -> SensorRecord {
    SensorRecord::Heartbeat(Heartbeat {
        sensor: "cam".into(),
        time: Time(t),
    })
}

/// A clock tick the writer logged while the engine was still replaying reaches the engine
/// after the replay; the writer's copy of the rule must count it too. (It did not: after a
/// restart two hours on, a sensor's first records were refused as "more than 3600 s ahead of
/// the newest record or clock tick" until the next tick.)
#[test]
fn a_tick_logged_before_the_replay_ends_counts_for_admission() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (feed, fed) = crossbeam_channel::unbounded();
    let (store, _writer) = Store::open(dir.path(), 8, feed).expect("store");
    let t0 = 1.9e9;
    let t1 = t0 + 2.0 * 3600.0;
    // The replay ends with the last night's heartbeat; the clock has already ticked at t1.
    store.tick(t1);
    match fed.recv().expect("the writer feeds the tick") {
        (Feed::Tick(t), _) => assert_eq!(t, t1),
        _ => panic!("expected the tick"),
    }
    let mut replayed = Admission::new(&TrackerConfig::default());
    replayed
        .admit(&heartbeat(t0))
        .expect("the replayed heartbeat");
    store.ready(replayed).expect("ready");
    let mut batch = Batch::default();
    batch.push_record(0, heartbeat(t1 + 1.0));
    let reply = store
        .try_log("test".into(), batch, None)
        .expect("queued")
        .blocking_recv()
        .expect("answered")
        .expect("logged");
    assert_eq!(reply.accepted, 1, "{:?}", reply.rejected);
}

/// Reads run at most [`super::MAX_READS`] at once, and one whose caller has gone keeps its
/// place until it ends. (Before, every read took a thread and a connection of its own: clients
/// that asked for a long scan and hung up left the scans running, 481 threads in a probe, and
/// slowed every other organisation.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_bounded_and_a_dropped_caller_keeps_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (feed, _fed) = crossbeam_channel::unbounded();
    let (store, _writer) = Store::open(dir.path(), 8, feed).expect("store");
    let (started, running) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Arc::new(std::sync::Barrier::new(super::MAX_READS + 1));
    // MAX_READS reads that wait at the gate; their callers are dropped at once.
    for _ in 0..super::MAX_READS {
        let (store, started, gate) = (store.clone(), started.clone(), gate.clone());
        let caller = tokio::spawn(async move {
            store
                .read(move |_| {
                    started.send(()).expect("send");
                    gate.wait();
                    Ok(())
                })
                .await
        });
        running.recv().expect("the read runs");
        caller.abort();
    }
    // Every place is held, though every caller has gone.
    assert_eq!(store.reading.available_permits(), 0);
    // One more waits for a place: it has not run while the others hold theirs.
    let (ran, ran_rx) = tokio::sync::oneshot::channel();
    let next = {
        let store = store.clone();
        tokio::spawn(async move { store.read(move |_| Ok(ran.send(()))).await })
    };
    tokio::task::yield_now().await;
    let mut ran_rx = ran_rx;
    assert!(ran_rx.try_recv().is_err(), "a read beyond the bound ran");
    // Once the gated reads end, it runs.
    tokio::task::spawn_blocking(move || gate.wait())
        .await
        .expect("gate");
    ran_rx.await.expect("the waiting read ran");
    let _ = next.await;
}
