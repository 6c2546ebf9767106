"""Stone Soup's GNN or JPDA (EHM2) on one scenario of `limes bench accuracy`.

Reads detections.jsonl (Limes sensor records, flat x/y, one scan per second) from --dir,
tracks them with parameters matched to the scenario and to Limes' 1 Hz settings, and writes
ss-<tracker>.tracks.jsonl ({"t": scan, "tracks": [[id, x, y], ...]} after every scan) and
ss-<tracker>.stats.json (detections per second of the tracking loop, peak RSS). With
--check-metric it also scores its own tracks with Stone Soup's GOSPAMetric (c = 50, p = 1,
switching penalty 50) so the bench can check that its Rust scoring gives the same figure.
"""

import argparse
import json
import math
import resource
import time
from datetime import datetime, timedelta

import numpy as np
from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
from stonesoup.dataassociator.probability import JPDAwithEHM2
from stonesoup.deleter.time import UpdateTimeStepsDeleter
from stonesoup.hypothesiser.distance import DistanceHypothesiser
from stonesoup.hypothesiser.probability import PDAHypothesiser
from stonesoup.initiator.simple import MultiMeasurementInitiator
from stonesoup.measures import Mahalanobis
from stonesoup.models.measurement.linear import LinearGaussian
from stonesoup.models.transition.linear import (
    CombinedLinearGaussianTransitionModel,
    ConstantVelocity,
)
from stonesoup.predictor.kalman import KalmanPredictor
from stonesoup.tracker.simple import MultiTargetMixtureTracker, MultiTargetTracker
from stonesoup.types.detection import Detection
from stonesoup.types.state import GaussianState, State
from stonesoup.updater.kalman import KalmanUpdater

T0 = datetime(2019, 10, 12, 19, 0, 0)
Q = 0.25  # process noise, m^2/s^3 (Limes' q_person for an unknown 1 Hz sensor)
VEL_SD = 10.0  # velocity sigma of a new track, m/s
GATE_CHI2 = 13.8  # Limes' gate; GNN's missed distance is its square root
MIN_POINTS = 3  # detections to confirm
DELETE_STEPS = 5  # scans without an update before deletion


def read_scans(path, scan_s=None):
    """Detections grouped by time; with `scan_s`, by scans of that many seconds from the
    first whole second (a turning sensor's detections stamped as its beam passed)."""
    scans = {}
    first = None
    rows = []
    for line in open(path):
        r = json.loads(line)
        if r.get("type") != "detection":
            continue
        t = r["time"]
        if isinstance(t, str):
            t = datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
        first = t if first is None else min(first, t)
        rows.append((t, r["x"], r["y"]))
    if scan_s:
        first = math.floor(first)
    for t, x, y in rows:
        key = math.floor((t - first) / scan_s) * scan_s if scan_s else t - first
        scans.setdefault(key, []).append((x, y))
    return [(int(round(k)), scans[k]) for k in sorted(scans)]


def build(tracker, pd, sigma, clutter_density, detector):
    transition = CombinedLinearGaussianTransitionModel([ConstantVelocity(Q), ConstantVelocity(Q)])
    meas = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=np.diag([sigma**2, sigma**2]))
    predictor = KalmanPredictor(transition)
    updater = KalmanUpdater(meas)
    dist_hyp = DistanceHypothesiser(
        predictor, updater, measure=Mahalanobis(), missed_distance=GATE_CHI2**0.5
    )
    initiator = MultiMeasurementInitiator(
        prior_state=GaussianState(np.zeros((4, 1)), np.diag([0, VEL_SD**2, 0, VEL_SD**2]), timestamp=T0),
        measurement_model=meas,
        deleter=UpdateTimeStepsDeleter(2),
        data_associator=GNNWith2DAssignment(dist_hyp),
        updater=updater,
        min_points=MIN_POINTS,
    )
    deleter = UpdateTimeStepsDeleter(DELETE_STEPS)
    if tracker == "gnn":
        return MultiTargetTracker(
            initiator=initiator,
            deleter=deleter,
            detector=detector,
            data_associator=GNNWith2DAssignment(dist_hyp),
            updater=updater,
        )
    pda_hyp = PDAHypothesiser(
        predictor, updater, clutter_spatial_density=clutter_density, prob_detect=pd, prob_gate=0.999
    )
    return MultiTargetMixtureTracker(
        initiator=initiator,
        deleter=deleter,
        detector=detector,
        data_associator=JPDAwithEHM2(pda_hyp),
        updater=updater,
    )


def gospa_check(out_scans, truth_path):
    """Stone Soup's own GOSPAMetric over these tracks, mean distance over the scans."""
    from stonesoup.metricgenerator.ospametric import GOSPAMetric

    meas, meas_ids, truth, truth_ids = [], [], [], []
    for k, tracks in out_scans:
        ts = T0 + timedelta(seconds=k)
        for i, x, y in tracks:
            meas.append(State(np.array([[x], [y]]), timestamp=ts))
            meas_ids.append(i)
    for line in open(truth_path):
        r = json.loads(line)
        truth.append(State(np.array([[r["x"]], [r["y"]]]), timestamp=T0 + timedelta(seconds=r["t"])))
        truth_ids.append(r["id"])
    m = GOSPAMetric(c=50, p=1, switching_penalty=50)
    res = m.compute_over_time(meas, meas_ids, truth, truth_ids)
    vals = [v.value["distance"] for v in res.value]
    return float(np.mean(vals))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tracker", choices=["gnn", "jpda"], required=True)
    ap.add_argument("--pd", type=float, required=True)
    ap.add_argument("--sigma", type=float, required=True)
    ap.add_argument("--clutter-density", type=float, required=True)
    ap.add_argument("--check-metric", action="store_true")
    ap.add_argument("--scan-s", type=float, default=None)
    a = ap.parse_args()
    scans = read_scans(f"{a.dir}/detections.jsonl", a.scan_s)
    n_det = sum(len(s) for _, s in scans)
    detector = [
        (T0 + timedelta(seconds=k), {Detection(np.array([[x], [y]]), timestamp=T0 + timedelta(seconds=k)) for x, y in dets})
        for k, dets in scans
    ]
    tracker = build(a.tracker, a.pd, a.sigma, a.clutter_density, detector)
    ids = {}
    out = []
    started = time.perf_counter()
    for ts, tracks in tracker:
        k = int(round((ts - T0).total_seconds()))
        rows = []
        for tr in tracks:
            if tr.state.timestamp != ts:
                continue
            i = ids.setdefault(tr.id, len(ids) + 1)
            rows.append((i, float(tr.state.state_vector[0, 0]), float(tr.state.state_vector[2, 0])))
        out.append((k, rows))
    secs = time.perf_counter() - started
    with open(f"{a.dir}/ss-{a.tracker}.tracks.jsonl", "w") as f:
        for k, rows in out:
            f.write(json.dumps({"t": k, "tracks": [[i, x, y] for i, x, y in rows]}) + "\n")
    stats = {
        "detections": n_det,
        "seconds": secs,
        "det_per_s": n_det / max(secs, 1e-9),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    if a.check_metric:
        stats["stonesoup_gospa_mean"] = gospa_check(out, f"{a.dir}/truth.jsonl")
    with open(f"{a.dir}/ss-{a.tracker}.stats.json", "w") as f:
        json.dump(stats, f)


if __name__ == "__main__":
    main()
