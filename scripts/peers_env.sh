#!/usr/bin/env bash
# The peers' Python for scripts/benchmark.py: a TransformerLens 3 venv with circuitkit 0.2.0.
#
#     bash scripts/peers_env.sh [DIR]        # default DIR: ~/.cache/workbook/peers/tl3
#     python scripts/benchmark.py --tl3-python "$(bash scripts/peers_env.sh | tail -1)" --eap-ig PATH
#
# Neither package is a dependency of workbook, and neither is ever imported by it: the benchmark
# runs them in child processes (scripts/bench_hannamw_ht.py, scripts/bench_circuitkit.py) under
# this Python. circuitkit's licence is source-available (LSAL 1.2); it is installed from PyPI here
# for measurement only, never shipped.
#
# Pins: torch 2.13.0 (CPU wheel, installed first so that the later installs keep it), then
# transformer_lens 3.8.0 and circuitkit 0.2.0 together (circuitkit 0.2.0 requires
# transformer-lens==3.8.0 exactly; 3.8.1 makes the resolution impossible). Idempotent: an existing
# venv whose pins import is left as it is. The last line printed is the venv's python.
set -euo pipefail

DIR="${1:-${HOME}/.cache/workbook/peers/tl3}"
PY="${DIR}/bin/python"
TORCH=2.13.0
TL=3.8.0
CK=0.2.0

ready() {
    [ -x "$PY" ] && "$PY" - "$TORCH" "$TL" "$CK" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
import circuitkit, transformer_lens, torch  # noqa: F401
want = dict(zip(("torch", "transformer_lens", "circuitkit"), sys.argv[1:]))
sys.exit(any(not version(k).startswith(v) for k, v in want.items()))
EOF
}

if ready; then
    echo "peers venv ready: torch ${TORCH}, transformer_lens ${TL}, circuitkit ${CK}" >&2
else
    [ -x "$PY" ] || python3 -m venv "$DIR"
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet "torch==${TORCH}" --index-url https://download.pytorch.org/whl/cpu \
        || "$PY" -m pip install --quiet "torch==${TORCH}"
    "$PY" -m pip install --quiet "torch==${TORCH}" "transformer_lens==${TL}" "circuitkit==${CK}"
    ready || { echo "peers venv at ${DIR} does not import torch/transformer_lens/circuitkit at the pins" >&2; exit 1; }
fi
echo "$PY"
