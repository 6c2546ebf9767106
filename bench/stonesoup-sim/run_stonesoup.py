"""Stone Soup GNN / JPDA on DIR/detections.jsonl with the scenario's own (true) parameters.

usage: run_ss.py DIR gnn|jpda|jpda-ehm2   -> DIR/ss-<tracker>.scans.json  ([[t, [[id,x,y],...]], ...]) + timing
"""
import json, sys, time
from datetime import datetime, timedelta
import numpy as np
from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
from stonesoup.dataassociator.probability import JPDA, JPDAwithEHM2
from stonesoup.deleter.time import UpdateTimeStepsDeleter
from stonesoup.hypothesiser.distance import DistanceHypothesiser
from stonesoup.hypothesiser.probability import PDAHypothesiser
from stonesoup.initiator.simple import MultiMeasurementInitiator
from stonesoup.measures import Mahalanobis
from stonesoup.models.measurement.linear import LinearGaussian
from stonesoup.models.transition.linear import CombinedLinearGaussianTransitionModel, ConstantVelocity
from stonesoup.predictor.kalman import KalmanPredictor
from stonesoup.tracker.simple import MultiTargetMixtureTracker, MultiTargetTracker
from stonesoup.types.detection import Detection
from stonesoup.types.state import GaussianState

T0 = datetime(2019, 10, 12, 19, 0, 0)


def parse_t(s):
    return (datetime.fromisoformat(s.replace("Z", "+00:00")).replace(tzinfo=None) - T0).total_seconds()


def main():
    d, which = sys.argv[1], sys.argv[2]
    meta = json.load(open(f"{d}/meta.json"))
    q, r, vv = meta["q"], meta["r_var"], meta["cov"][1]
    scans = {}
    for line in open(f"{d}/detections.jsonl"):
        rec = json.loads(line)
        scans.setdefault(parse_t(rec["time"]), []).append((rec["x"], rec["y"]))
    tm = CombinedLinearGaussianTransitionModel([ConstantVelocity(q), ConstantVelocity(q)])
    mm = LinearGaussian(4, (0, 2), np.diag([r, r]))
    pred, upd = KalmanPredictor(tm), KalmanUpdater(mm)
    hyp = DistanceHypothesiser(pred, upd, measure=Mahalanobis(), missed_distance=3)
    init = MultiMeasurementInitiator(
        prior_state=GaussianState(np.zeros((4, 1)), np.diag([0, vv, 0, vv]), timestamp=T0),
        measurement_model=mm, deleter=UpdateTimeStepsDeleter(2),
        data_associator=GNNWith2DAssignment(hyp), updater=upd, min_points=3)
    detector = [(T0 + timedelta(seconds=k),
                 {Detection(np.array([[x], [y]]), timestamp=T0 + timedelta(seconds=k), measurement_model=mm)
                  for x, y in scans[k]}) for k in sorted(scans)]
    deleter = UpdateTimeStepsDeleter(5)
    if which == "gnn":
        tr = MultiTargetTracker(initiator=init, deleter=deleter, detector=detector,
                                data_associator=GNNWith2DAssignment(hyp), updater=upd)
    else:
        dens = max(meta["clutter_density"], 1e-12)
        ph = PDAHypothesiser(pred, upd, clutter_spatial_density=dens, prob_detect=meta["pd"], prob_gate=0.9999)
        assoc = JPDA(ph) if which == "jpda" else JPDAwithEHM2(ph)
        tr = MultiTargetMixtureTracker(initiator=init, deleter=deleter, detector=detector,
                                       data_associator=assoc, updater=upd)
    ids, out = {}, []
    t0 = time.perf_counter()
    for ts, tracks in tr:
        rows = []
        for t in tracks:
            if t.state.timestamp != ts:
                continue
            i = ids.setdefault(t.id, len(ids) + 1)
            rows.append([i, float(t.state.state_vector[0, 0]), float(t.state.state_vector[2, 0])])
        out.append([(ts - T0).total_seconds(), rows])
    secs = time.perf_counter() - t0
    json.dump({"scans": out, "seconds": secs}, open(f"{d}/ss-{which}.scans.json", "w"))
    print(d, which, f"{secs:.2f} s", "ids", len(ids))


from stonesoup.updater.kalman import KalmanUpdater  # noqa: E402

if __name__ == "__main__":
    main()
