//! Where a tile keeps its tracks: the slow and fast spatial index, and the hand-over of a
//! track that leaves for a neighbouring tile (its state turned into that tile's frame).

use nalgebra::{Matrix2, Matrix4};
use rstar::RTree;

use super::{Entry, Partition, Tile, Track};
use crate::geo::{LocalFrame, Xy};
use crate::record::TrackStatus;
use crate::track::kalman::State;

impl Tile {
    /// Files a track in the spatial index at its `indexed_at`: the fast tree or the slow.
    pub(super) fn index(&mut self, key: usize) {
        let tr = &self.tracks[key];
        let e = Entry::new(tr.indexed_at, key);
        if tr.fast {
            self.fast.insert(e);
        } else {
            self.slow.insert(e);
        }
    }

    /// Takes a track out of the spatial index.
    pub(super) fn unindex(&mut self, key: usize) {
        let tr = &self.tracks[key];
        let e = Entry::new(tr.indexed_at, key);
        if tr.fast {
            self.fast.remove(&e);
        } else {
            self.slow.remove(&e);
        }
    }

    /// Re-files a track in the spatial index: in the fast or slow tree, at `pos`.
    pub(super) fn move_in_index(&mut self, key: usize, fast: bool, pos: Xy) {
        self.unindex(key);
        let tr = &mut self.tracks[key];
        tr.fast = fast;
        tr.indexed_at = pos;
        self.index(key);
    }

    /// Moves a track whose position left this tile into the leavers list.
    pub(super) fn maybe_leave(&mut self, key: usize) {
        let Some(frame) = self.frame else { return };
        let tr = &self.tracks[key];
        if tr.x[0].abs() < self.half_extent[0] && tr.x[1].abs() < self.half_extent[1] {
            return;
        }
        let ll = frame.to_lonlat([tr.x[0], tr.x[1]]);
        let dest = ll.tile();
        if Partition::Tile(dest) == self.part {
            return;
        }
        self.unindex(key);
        self.shared.retain(|&(x, y), _| x != key && y != key);
        let mut tr = self.tracks.remove(key);
        if tr.status == TrackStatus::Tentative {
            self.n_tentative -= 1;
        }
        let to = LocalFrame::new(dest.centre());
        let pos = [tr.x[0], tr.x[1]];
        let v = frame.transfer_velocity(&to, pos, [tr.x[2], tr.x[3]]);
        let e = frame.transfer_velocity(&to, pos, [1.0, 0.0]);
        let (s, c) = (e[1].atan2(e[0])).sin_cos();
        let rot = Matrix2::new(c, -s, s, c);
        let mut r4 = Matrix4::zeros();
        r4.fixed_view_mut::<2, 2>(0, 0).copy_from(&rot);
        r4.fixed_view_mut::<2, 2>(2, 2).copy_from(&rot);
        let p = to.to_local(ll);
        tr.x = State::new(p[0], p[1], v[0], v[1]);
        tr.p = r4 * tr.p * r4.transpose();
        tr.indexed_at = p;
        self.leavers.push((Partition::Tile(dest), tr));
    }

    /// The tracks that left this tile since the last call, each with the tile it went to.
    pub fn take_leavers(&mut self) -> Vec<(Partition, Track)> {
        std::mem::take(&mut self.leavers)
    }

    /// Takes over a track handed from a neighbouring tile (already in this tile's frame).
    pub fn adopt(&mut self, tr: Track) {
        if tr.status == TrackStatus::Tentative {
            self.n_tentative += 1;
        }
        let key = self.tracks.insert(tr);
        self.index(key);
    }
}

/// Appends to `out` the tracks of `tree` within `radius` of `xy`, at most `most` of them: the
/// nearest when there are more (in a crowd, an arbitrary 64 of the hundreds around would
/// often leave out the detection's own track, which then starves while new tracks pile up).
pub(super) fn nearest_within(
    tree: &RTree<Entry>,
    xy: Xy,
    radius: f64,
    most: usize,
    out: &mut Vec<usize>,
) {
    let before = out.len();
    out.extend(
        tree.locate_within_distance(xy, radius * radius)
            .take(most + 1)
            .map(|e| e.data),
    );
    if out.len() - before > most {
        out.truncate(before);
        out.extend(
            tree.nearest_neighbor_iter_with_distance_2(&xy)
                .take_while(|(_, d2)| *d2 <= radius * radius)
                .take(most)
                .map(|(e, _)| e.data),
        );
    }
}
