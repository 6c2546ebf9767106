#!/usr/bin/env bash
# Limes beside Stone Soup on scenarios made by Stone Soup's own simulators (README.md).
# usage, from the repository root: bench/stonesoup-sim/run.sh [OUT]
#   LIMES   the limes binary (default target/release/limes)
#   PYTHON  a Python with stonesoup 1.9.1 (default target/stonesoup-venv/bin/python, which
#           `limes bench accuracy` creates)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-limes-out/stonesoup-sim}
py=${PYTHON:-target/stonesoup-venv/bin/python}
limes=${LIMES:-target/release/limes}
mkdir -p "$out"
now() { "$py" -c 'import time; print(time.time())'; }
elapsed() { "$py" -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.3f}')" "$1"; }
# scenario:GOSPA cut-off c:Stone Soup's JPDA (EHM2 where plain JPDA's enumeration is too slow)
for spec in tut10:10:jpda tut10_1s:10:jpda tutjpda:10:jpda metre:50:jpda-ehm2 metre_zero:50:jpda-ehm2; do
  IFS=: read -r name c jpda <<< "$spec"
  d=$out/$name
  "$py" "$here/gen.py" "$name" "$out"
  # Limes as a new user runs it: no site. What it prints on standard error is a site file with
  # the parameters it used; the matched run changes q and the initial speed to the scenario's.
  t=$(now)
  "$limes" track --detections "$d/detections.jsonl" --out "$d/limes.tracks.jsonl" \
    2> "$d/limes.toml" > "$d/limes.log"
  elapsed "$t" > "$d/limes.time"
  "$py" - "$d" <<'PYEOF'
import json, math, re, sys
d = sys.argv[1]
meta = json.load(open(f"{d}/meta.json"))
text = open(f"{d}/limes.toml").read()
for key, value in [("q_person", meta["q"]), ("q_vehicle", meta["q"]),
                   ("init_speed_sd", math.sqrt(meta["cov"][1]))]:
    text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
open(f"{d}/matched.toml", "w").write(text.replace('name = "unknown-sensor"', 'name = "matched"'))
PYEOF
  t=$(now)
  "$limes" track --detections "$d/detections.jsonl" --out "$d/limes-matched.tracks.jsonl" \
    --site "$d/matched.toml" > "$d/limes-matched.log" 2>&1
  elapsed "$t" > "$d/limes-matched.time"
  "$py" "$here/run_stonesoup.py" "$d" gnn
  "$py" "$here/run_stonesoup.py" "$d" "$jpda"
  "$py" "$here/score.py" "$d" "$c" limes limes:strict limes-matched ss-gnn "ss-$jpda" | tee "$d/score.md"
done
