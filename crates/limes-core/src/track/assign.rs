//! Data association: the optimal assignment solver and the associators built on it.

/// Cost marking a pair that must not be assigned (outside the gate).
pub const FORBIDDEN: f64 = 1e12;

/// A connected component of a bipartite graph: its edges, and its nodes on each side (sorted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Component {
    /// Indices of the component's edges in the input.
    pub edges: Vec<usize>,
    /// Left nodes (e.g. tracks), sorted.
    pub left: Vec<usize>,
    /// Right nodes (e.g. measurements or truths), sorted.
    pub right: Vec<usize>,
}

/// Splits the edges `(left, right)` of a bipartite graph into connected components, in the
/// order of their first edge. Node ids may be sparse (slab keys); they are only compared.
///
/// ```
/// use limes_core::track::assign::components;
/// let c = components(&[(7, 0), (9, 1), (7, 1), (4, 5)]);
/// assert_eq!(c.len(), 2);
/// assert_eq!((c[0].left.clone(), c[0].right.clone()), (vec![7, 9], vec![0, 1]));
/// assert_eq!(c[1].edges, vec![3]);
/// ```
pub fn components(edges: &[(usize, usize)]) -> Vec<Component> {
    if let [e] = edges {
        return vec![Component {
            edges: vec![0],
            left: vec![e.0],
            right: vec![e.1],
        }];
    }
    let dense = |side: fn(&(usize, usize)) -> usize| {
        let mut v: Vec<usize> = edges.iter().map(side).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (lefts, rights) = (dense(|e| e.0), dense(|e| e.1));
    let at = |v: &[usize], x: usize| v.binary_search(&x).unwrap_or(0);
    let mut parent: Vec<usize> = (0..lefts.len() + rights.len()).collect();
    fn find(p: &mut [usize], mut a: usize) -> usize {
        while p[a] != a {
            p[a] = p[p[a]];
            a = p[a];
        }
        a
    }
    let ends: Vec<(usize, usize)> = edges
        .iter()
        .map(|e| (at(&lefts, e.0), lefts.len() + at(&rights, e.1)))
        .collect();
    for &(l, r) in &ends {
        let (a, b) = (find(&mut parent, l), find(&mut parent, r));
        if a != b {
            parent[a] = b;
        }
    }
    // Component of each root, in the order of first appearance.
    let mut slot = vec![usize::MAX; parent.len()];
    let mut out: Vec<Component> = Vec::new();
    for (k, (e, &(l, _))) in edges.iter().zip(&ends).enumerate() {
        let root = find(&mut parent, l);
        if slot[root] == usize::MAX {
            slot[root] = out.len();
            out.push(Component::default());
        }
        let c = &mut out[slot[root]];
        c.edges.push(k);
        c.left.push(e.0);
        c.right.push(e.1);
    }
    for c in &mut out {
        c.left.sort_unstable();
        c.left.dedup();
        c.right.sort_unstable();
        c.right.dedup();
    }
    out
}

/// Solves a rectangular linear sum assignment (minimisation) with the Jonker–Volgenant
/// algorithm of the `lsap` crate. Returns `(row, col)` pairs, one per row when `rows <= cols`.
pub fn solve(rows: usize, cols: usize, cost: &[f64]) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let v = cost.to_vec();
    match lsap::solve(rows, cols, &v, false) {
        Ok((r, c)) => r.into_iter().zip(c).collect(),
        Err(_) => Vec::new(),
    }
}

/// Greedy assignment over sparse `(row, col, cost)` triples: cheapest first, each row and
/// column at most once, nothing at or above `max_cost`. Returns the indices of the chosen
/// triples, so a caller finds what it attached to each. For clusters too large to solve
/// exactly in bounded time and memory.
pub fn greedy(
    rows: usize,
    cols: usize,
    triples: &[(usize, usize, f64)],
    max_cost: f64,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..triples.len())
        .filter(|&k| triples[k].2 < max_cost)
        .collect();
    order.sort_by(|&a, &b| triples[a].2.total_cmp(&triples[b].2));
    let (mut row_used, mut col_used) = (vec![false; rows], vec![false; cols]);
    let mut out = Vec::new();
    for k in order {
        let (r, c, _) = triples[k];
        if r < rows && c < cols && !row_used[r] && !col_used[c] {
            row_used[r] = true;
            col_used[c] = true;
            out.push(k);
        }
    }
    out
}

/// Chooses which measurement updates which track inside one gated cluster.
///
/// `cost[i * n_meas + j]` is the cost of track `i` taking measurement `j` ([`FORBIDDEN`] outside
/// the gate); `miss[i]` the cost of track `i` taking none. Implementations return the pairs
/// `(track, measurement)` to apply. GNN is the one shipped; a JPDA would return weighted pairs
/// through a sibling trait.
pub trait Associator: Send + Sync {
    /// Returns hard assignments for one cluster.
    fn associate(
        &self,
        n_tracks: usize,
        n_meas: usize,
        cost: &[f64],
        miss: &[f64],
    ) -> Vec<(usize, usize)>;
}

/// Global nearest neighbour: the single best joint assignment, each track may stay unassigned
/// at its miss cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gnn;

impl Associator for Gnn {
    fn associate(&self, nt: usize, nm: usize, cost: &[f64], miss: &[f64]) -> Vec<(usize, usize)> {
        if nt == 1 && nm == 1 {
            return if cost[0] < miss[0] {
                vec![(0, 0)]
            } else {
                vec![]
            };
        }
        if nt * nm <= 9 {
            return exhaustive(nt, nm, cost, miss);
        }
        // Columns: the measurements, then one "no measurement" column per track.
        let cols = nm + nt;
        let mut m = vec![FORBIDDEN; nt * cols];
        for i in 0..nt {
            m[i * cols..i * cols + nm].copy_from_slice(&cost[i * nm..(i + 1) * nm]);
            m[i * cols + nm + i] = miss[i];
        }
        solve(nt, cols, &m)
            .into_iter()
            .filter(|&(i, j)| j < nm && cost[i * nm + j] < FORBIDDEN)
            .collect()
    }
}

/// Exact GNN by enumeration, for clusters small enough that the solver's set-up costs more.
fn exhaustive(nt: usize, nm: usize, cost: &[f64], miss: &[f64]) -> Vec<(usize, usize)> {
    struct Search<'a> {
        nt: usize,
        nm: usize,
        cost: &'a [f64],
        miss: &'a [f64],
        cur: Vec<(usize, usize)>,
        best: (f64, Vec<(usize, usize)>),
    }
    impl Search<'_> {
        fn go(&mut self, i: usize, used: u32, acc: f64) {
            if acc >= self.best.0 {
                return;
            }
            if i == self.nt {
                self.best = (acc, self.cur.clone());
                return;
            }
            self.go(i + 1, used, acc + self.miss[i]);
            for j in 0..self.nm {
                let c = self.cost[i * self.nm + j];
                if used & (1 << j) == 0 && c < FORBIDDEN {
                    self.cur.push((i, j));
                    self.go(i + 1, used | (1 << j), acc + c);
                    self.cur.pop();
                }
            }
        }
    }
    let mut s = Search {
        nt,
        nm,
        cost,
        miss,
        cur: Vec::with_capacity(nt),
        best: (f64::INFINITY, Vec::new()),
    };
    s.go(0, 0, 0.0);
    s.best.1
}

/// Exhaustive minimum-cost assignment for small square matrices (tests and checks only).
pub fn brute_force(n: usize, cost: &[f64]) -> f64 {
    fn go(row: usize, n: usize, used: &mut Vec<bool>, cost: &[f64], acc: f64, best: &mut f64) {
        if row == n {
            *best = best.min(acc);
            return;
        }
        for c in 0..n {
            if !used[c] {
                used[c] = true;
                go(row + 1, n, used, cost, acc + cost[row * n + c], best);
                used[c] = false;
            }
        }
    }
    let mut best = f64::INFINITY;
    go(0, n, &mut vec![false; n], cost, 0.0, &mut best);
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn solver_matches_brute_force(n in 1usize..7, seed in proptest::collection::vec(0.0f64..100.0, 49)) {
            let cost: Vec<f64> = seed[..n * n].to_vec();
            let pairs = solve(n, n, &cost);
            prop_assert_eq!(pairs.len(), n);
            let mut cols: Vec<usize> = pairs.iter().map(|p| p.1).collect();
            cols.sort_unstable();
            cols.dedup();
            prop_assert_eq!(cols.len(), n, "each column at most once");
            let total: f64 = pairs.iter().map(|&(i, j)| cost[i * n + j]).sum();
            prop_assert!((total - brute_force(n, &cost)).abs() < 1e-9);
        }

        #[test]
        fn gnn_never_assigns_outside_the_gate(nt in 1usize..5, nm in 1usize..5, seed in proptest::collection::vec(0.0f64..30.0, 16)) {
            let cost: Vec<f64> = (0..nt * nm).map(|k| if seed[k] > 20.0 { FORBIDDEN } else { seed[k] }).collect();
            let miss = vec![13.8; nt];
            let pairs = Gnn.associate(nt, nm, &cost, &miss);
            for &(i, j) in &pairs {
                prop_assert!(cost[i * nm + j] < FORBIDDEN);
            }
            let mut ms: Vec<usize> = pairs.iter().map(|p| p.1).collect();
            ms.sort_unstable();
            ms.dedup();
            prop_assert_eq!(ms.len(), pairs.len());
        }
    }

    proptest! {
        #[test]
        fn gnn_fast_paths_match_the_solver(n in 1usize..6, one_track in any::<bool>(), seed in proptest::collection::vec(0.0f64..30.0, 6), miss in 5.0f64..25.0) {
            let (nt, nm) = if one_track { (1, n) } else { (n, 1) };
            let cost: Vec<f64> = seed[..n].to_vec();
            let misses = vec![miss; nt];
            let fast = Gnn.associate(nt, nm, &cost, &misses);
            // The general formulation, solved by lsap.
            let cols = nm + nt;
            let mut m = vec![FORBIDDEN; nt * cols];
            for i in 0..nt {
                m[i * cols..i * cols + nm].copy_from_slice(&cost[i * nm..(i + 1) * nm]);
                m[i * cols + nm + i] = misses[i];
            }
            let slow: Vec<(usize, usize)> = solve(nt, cols, &m).into_iter().filter(|&(_, j)| j < nm).collect();
            let total = |p: &[(usize, usize)]| -> f64 {
                let assigned: f64 = p.iter().map(|&(i, j)| cost[i * nm + j]).sum();
                assigned + (nt - p.len()) as f64 * miss
            };
            prop_assert!((total(&fast) - total(&slow)).abs() < 1e-9, "{fast:?} vs {slow:?}");
        }
    }

    proptest! {
        #[test]
        fn small_cluster_enumeration_matches_the_solver(nt in 2usize..4, nm in 2usize..4, seed in proptest::collection::vec(0.0f64..30.0, 9), miss in 5.0f64..25.0) {
            let cost: Vec<f64> = (0..nt * nm).map(|k| if seed[k] > 26.0 { FORBIDDEN } else { seed[k] }).collect();
            let misses = vec![miss; nt];
            let fast = exhaustive(nt, nm, &cost, &misses);
            let cols = nm + nt;
            let mut m = vec![FORBIDDEN; nt * cols];
            for i in 0..nt {
                m[i * cols..i * cols + nm].copy_from_slice(&cost[i * nm..(i + 1) * nm]);
                m[i * cols + nm + i] = misses[i];
            }
            let slow: Vec<(usize, usize)> = solve(nt, cols, &m).into_iter().filter(|&(i, j)| j < nm && cost[i * nm + j] < FORBIDDEN).collect();
            let total = |p: &[(usize, usize)]| -> f64 {
                p.iter().map(|&(i, j)| cost[i * nm + j]).sum::<f64>() + (nt - p.len()) as f64 * miss
            };
            prop_assert!((total(&fast) - total(&slow)).abs() < 1e-9, "{fast:?} vs {slow:?}");
        }
    }

    proptest! {
        #[test]
        fn components_partition_the_edges_and_never_share_a_node(edges in proptest::collection::vec((0usize..12, 0usize..12), 0..30)) {
            let comps = components(&edges);
            let mut seen: Vec<usize> = comps.iter().flat_map(|c| c.edges.iter().copied()).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..edges.len()).collect::<Vec<_>>());
            for (a, ca) in comps.iter().enumerate() {
                for cb in &comps[a + 1..] {
                    prop_assert!(ca.left.iter().all(|x| !cb.left.contains(x)));
                    prop_assert!(ca.right.iter().all(|x| !cb.right.contains(x)));
                }
            }
        }
    }

    #[test]
    fn gnn_prefers_the_joint_optimum_over_greedy() {
        // Greedy would give track 0 measurement 0 (cost 1) and leave track 1 with 10;
        // the joint optimum is 2 + 2.
        let cost = [1.0, 2.0, 2.0, 10.0];
        let pairs = Gnn.associate(2, 2, &cost, &[50.0, 50.0]);
        assert!(pairs.contains(&(0, 1)) && pairs.contains(&(1, 0)));
    }
}
