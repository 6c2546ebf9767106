"""Generate a scenario with Stone Soup's own simulators; write Limes JSONL detections + truth.

usage: gen.py NAME [OUT]   (scenario configs below; NAME may end in +shuffle, +off1e6, +jit).
Output: OUT/NAME/detections.jsonl (Limes JSON Lines), truth.jsonl, meta.json; OUT defaults to .
"""
import json, os, random, sys
from datetime import datetime, timedelta
import numpy as np
from stonesoup.models.transition.linear import CombinedLinearGaussianTransitionModel, ConstantVelocity
from stonesoup.models.measurement.linear import LinearGaussian
from stonesoup.simulator.simple import MultiTargetGroundTruthSimulator, SimpleDetectionSimulator
from stonesoup.types.state import GaussianState
from stonesoup.types.detection import Clutter

T0 = datetime(2019, 10, 12, 19, 0, 0)

# name: dict(q, r_var (per-axis variance), dt, steps, birth, death, init_mean, init_cov, n0, pd, clutter, half)
SC = {
    # Stone Soup tutorial 10 verbatim (q 0.05, R diag 0.25, dt 5 s, Pd 0.9, clutter 1 over +-30) but 100 steps
    "tut10": dict(q=0.05, r_var=0.25, dt=5.0, steps=100, birth=0.3, death=0.05, mean=[0, 0, 0, 0],
                  cov=[4, 0.5, 4, 0.5], n0=1, pd=0.9, clutter=1.0, half=30.0, seed=1),
    # same at 1 s scans
    "tut10_1s": dict(q=0.05, r_var=0.25, dt=1.0, steps=300, birth=0.3, death=0.02, mean=[0, 0, 0, 0],
                     cov=[4, 0.5, 4, 0.5], n0=1, pd=0.9, clutter=1.0, half=30.0, seed=2),
    # GNN/JPDA tutorial scale: q 0.005, R diag 0.75, Pd 0.9, clutter 3/scan over +-30, 1 s
    "tutjpda": dict(q=0.005, r_var=0.75, dt=1.0, steps=200, birth=0.1, death=0.01, mean=[0, 0, 0, 0],
                    cov=[100, 1, 100, 1], n0=4, pd=0.9, clutter=3.0, half=30.0, seed=3),
    # human scale metres: q 0.05, sigma 5 m, 1 Hz, ~50 targets in 5x5 km, clutter 20/scan
    "metre": dict(q=0.05, r_var=25.0, dt=1.0, steps=300, birth=0.5, death=0.01, mean=[0, 0, 0, 0],
                  cov=[1500**2, 2.0, 1500**2, 2.0], n0=50, pd=0.9, clutter=20.0, half=2500.0, seed=4),
    # hostile variants
    "metre_noclutter": dict(q=0.05, r_var=25.0, dt=1.0, steps=300, birth=0.5, death=0.01, mean=[0, 0, 0, 0],
                            cov=[1500**2, 2.0, 1500**2, 2.0], n0=50, pd=0.9, clutter=0.0, half=2500.0, seed=4),
    "metre_half_s": dict(q=0.05, r_var=25.0, dt=0.5, steps=600, birth=0.25, death=0.005, mean=[0, 0, 0, 0],
                         cov=[1500**2, 2.0, 1500**2, 2.0], n0=50, pd=0.9, clutter=20.0, half=2500.0, seed=5),
    "metre_2s": dict(q=0.05, r_var=25.0, dt=2.0, steps=150, birth=1.0, death=0.02, mean=[0, 0, 0, 0],
                     cov=[1500**2, 2.0, 1500**2, 2.0], n0=50, pd=0.9, clutter=20.0, half=2500.0, seed=6),
    "metre_zero": dict(q=0.05, r_var=25.0, dt=1.0, steps=300, birth=0.0, death=0.0, mean=[0, 0, 0, 0],
                       cov=[1500**2, 2.0, 1500**2, 2.0], n0=0, pd=0.9, clutter=20.0, half=2500.0, seed=7),
}


def main():
    name = sys.argv[1]
    out = os.path.join(sys.argv[2] if len(sys.argv) > 2 else ".", name)
    base = name.split("+")[0]
    mods = name.split("+")[1:]  # shuffle, off1e6, off1e7
    s = SC[base]
    os.makedirs(out, exist_ok=True)
    tm = CombinedLinearGaussianTransitionModel([ConstantVelocity(s["q"]), ConstantVelocity(s["q"])])
    init = GaussianState(np.array(s["mean"], float).reshape(4, 1), np.diag(s["cov"]), timestamp=T0)
    gt = MultiTargetGroundTruthSimulator(
        transition_model=tm, initial_state=init, timestep=timedelta(seconds=s["dt"]),
        number_steps=s["steps"], birth_rate=s["birth"], death_probability=s["death"],
        initial_number_targets=s["n0"], seed=s["seed"])
    mm = LinearGaussian(4, (0, 2), np.diag([s["r_var"], s["r_var"]]))
    h = s["half"]
    ds = SimpleDetectionSimulator(groundtruth=gt, measurement_model=mm,
                                  meas_range=np.array([[-h, h], [-h, h]]),
                                  detection_probability=s["pd"], clutter_rate=s["clutter"],
                                  seed=s["seed"] + 100)
    off = 0.0
    for m in mods:
        if m.startswith("off"):
            off = float(m[3:])
    sigma = s["r_var"] ** 0.5
    dets, truth = [], []
    ids = {}
    n_true = n_clut = 0
    times = []
    jrnd = random.Random(7)
    for ts, dset in ds:
        t = (ts - T0).total_seconds()
        times.append(t)
        for d in dset:
            x, y = float(d.state_vector[0, 0]), float(d.state_vector[1, 0])
            if isinstance(d, Clutter):
                n_clut += 1
            else:
                n_true += 1
            dt = 0.0
            if "jit" in mods:  # stamped within the scan, position moved consistently with its truth
                dt = jrnd.uniform(0, 0.9)
                if not isinstance(d, Clutter):
                    sv = d.groundtruth_path.states[-1].state_vector
                    x += float(sv[1, 0]) * dt
                    y += float(sv[3, 0]) * dt
            dets.append((t + dt, x + off, y + off))
        for p in gt.groundtruth_paths:
            st = p.states[-1]
            if st.timestamp == ts:
                i = ids.setdefault(p.id, len(ids) + 1)
                truth.append({"t": t, "id": i, "x": float(st.state_vector[0, 0]) + off,
                              "y": float(st.state_vector[2, 0]) + off})
    dets.sort(key=lambda r: r[0])
    if "shuffle" in mods:  # shuffle order within each whole second (times kept)
        rnd = random.Random(0)
        groups = {}
        for r in dets:
            groups.setdefault(int(r[0] // 1), []).append(r)
        dets = []
        for k in sorted(groups):
            g = groups[k]
            rnd.shuffle(g)
            dets += g
    with open(f"{out}/detections.jsonl", "w") as f:
        for t, x, y in dets:
            tt = (T0 + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            f.write(json.dumps({"type": "detection", "sensor": "radar", "time": tt,
                                "x": round(x, 4), "y": round(y, 4), "ce": sigma}) + "\n")
    with open(f"{out}/truth.jsonl", "w") as f:
        for r in truth:
            f.write(json.dumps(r) + "\n")
    area = (2 * h) ** 2
    meta = dict(s, name=name, sigma=sigma, clutter_density=s["clutter"] / area, off=off,
                n_true=n_true, n_clutter=n_clut, n_truth_ids=len(ids),
                times=times)
    json.dump(meta, open(f"{out}/meta.json", "w"))
    print(name, "detections", len(dets), "true", n_true, "clutter", n_clut, "truth ids", len(ids),
          "truth states", len(truth))


if __name__ == "__main__":
    main()
