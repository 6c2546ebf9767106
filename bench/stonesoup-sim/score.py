"""Score trackers on DIR with Stone Soup's GOSPAMetric (p=1, alpha=2, switching_penalty=c).

usage: score.py DIR C [name ...]   names: limes (DIR/limes.tracks.jsonl) or ss-gnn / ss-jpda / ss-jpda-ehm2
Limes' tracks file -> at each scan time t, for each id the latest line with time <= t; kept when its
status is confirmed or coasting (not deleted), position extrapolated with `vel` to t.
Also: distinct track ids, false tracks (never GOSPA-assigned to a truth within c), ID switches
(a truth's assigned track id changes from one id to another).
"""
import json, sys
from bisect import bisect_right
from datetime import datetime, timedelta, timezone
import numpy as np
from scipy.optimize import linear_sum_assignment
from stonesoup.metricgenerator.ospametric import GOSPAMetric
from stonesoup.types.state import State

T0 = datetime(2019, 10, 12, 19, 0, 0)


def parse_t(s):
    if isinstance(s, (int, float)):  # Unix seconds (T0 is UTC)
        return s - T0.replace(tzinfo=timezone.utc).timestamp()
    return (datetime.fromisoformat(s.replace("Z", "+00:00")).replace(tzinfo=None) - T0).total_seconds()


def limes_scans(path, times, keep=("confirmed", "coasting")):
    by = {}
    bad = 0
    for line in open(path):
        r = json.loads(line)
        if "x" not in r:
            bad += 1
            continue
        by.setdefault(r["id"], []).append((parse_t(r["time"]), r["status"], r["x"], r["y"], r.get("vel", [0, 0])))
    if bad:
        print(f"{path}: {bad} track lines without x and y (not in a local frame) left out", file=sys.stderr)
    for v in by.values():
        v.sort(key=lambda a: a[0])
    out = []
    for t in times:
        rows = []
        for i, v in by.items():
            k = bisect_right([a[0] for a in v], t + 1e-6) - 1
            if k < 0:
                continue
            tt, st, x, y, vel = v[k]
            if st in keep:
                rows.append([i, x + vel[0] * (t - tt), y + vel[1] * (t - tt)])
        out.append([t, rows])
    return out


def main():
    d, c = sys.argv[1], float(sys.argv[2])
    names = sys.argv[3:] or ["limes", "ss-gnn", "ss-jpda"]
    meta = json.load(open(f"{d}/meta.json"))
    times = meta["times"]
    truth = [json.loads(l) for l in open(f"{d}/truth.jsonl")]
    tby = {}
    for r in truth:
        tby.setdefault(r["t"], []).append((r["id"], r["x"], r["y"]))
    res = {}
    for name in names:
        secs = None
        if name.startswith("limes"):
            base, _, mode = name.partition(":")
            scans = limes_scans(f"{d}/{base}.tracks.jsonl", times,
                                ("confirmed",) if mode == "strict" else ("confirmed", "coasting"))
            try:
                secs = float(open(f"{d}/{base}.time").read().split()[0])
            except Exception:
                pass
        else:
            j = json.load(open(f"{d}/{name}.scans.json"))
            scans, secs = j["scans"], j["seconds"]
        ms, mid, ts_, tid = [], [], [], []
        for t, rows in scans:
            for i, x, y in rows:
                ms.append(State(np.array([[x], [y]]), timestamp=T0 + timedelta(seconds=t)))
                mid.append(i)
        for r in truth:
            ts_.append(State(np.array([[r["x"]], [r["y"]]]), timestamp=T0 + timedelta(seconds=r["t"])))
            tid.append(r["id"])
        m = GOSPAMetric(c=c, p=1, switching_penalty=c)
        if ms or ts_:
            vals = [v.value for v in m.compute_over_time(ms, mid, ts_, tid).value]
        else:
            vals = []
        # own per-scan assignment for counts
        assigned_ids, last, switches = set(), {}, 0
        all_ids = set()
        for t, rows in scans:
            all_ids |= {i for i, _, _ in rows}
            tr = tby.get(t, [])
            if not rows or not tr:
                continue
            D = np.array([[min(np.hypot(x - tx, y - ty), c) for (_, x, y) in rows] for (_, tx, ty) in tr])
            ri, ci = linear_sum_assignment(D)
            for a, b in zip(ri, ci):
                if D[a, b] < c:
                    g, i = tr[a][0], rows[b][0]
                    assigned_ids.add(i)
                    if g in last and last[g] != i:
                        switches += 1
                    last[g] = i
        mean = lambda k: float(np.mean([v[k] for v in vals])) if vals else 0.0
        res[name] = dict(gospa=mean("distance"), loc=mean("localisation"), missed=mean("missed"),
                         false=mean("false"), switching=mean("switching"), ids=len(all_ids),
                         false_tracks=len(all_ids - assigned_ids), id_switches=switches, seconds=secs)
    print(f"## {d}  (truth ids {meta['n_truth_ids']}, dets {meta['n_true'] + meta['n_clutter']}, c={c})")
    print("| tracker | GOSPA mean | loc | missed | false | switching | track ids | false tracks | ID switches | run s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, r in res.items():
        s = "-" if r["seconds"] is None else f"{r['seconds']:.2f}"
        print(f"| {n} | {r['gospa']:.2f} | {r['loc']:.2f} | {r['missed']:.2f} | {r['false']:.2f} | {r['switching']:.2f} | {r['ids']} | {r['false_tracks']} | {r['id_switches']} | {s} |")
    json.dump(res, open(f"{d}/score.json", "w"), indent=1)


if __name__ == "__main__":
    main()
