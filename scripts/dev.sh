#!/usr/bin/env bash
# One entry point for set-up, the main job and the tests.
#   bash scripts/dev.sh main [args]   set up .venv if needed, then run `python -m workbook [args]`
#   bash scripts/dev.sh test [args]   set up .venv if needed, then run the whole test suite
#   bash scripts/dev.sh setup         only set up .venv
# Set-up installs CPU torch FIRST (an unpinned torch pulls a multi-GB CUDA build), then the
# package with its test extra. Override the torch requirement with TORCH_SPEC, the venv with VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PY=${PYTHON:-python3}

setup() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    echo ">> creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import workbook, transformer_lens, nbval" >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
      echo ">> installing $TORCH_SPEC (CPU build)"
      "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
    fi
    echo ">> installing when-gradients-mislead[test]"
    "$VENV/bin/python" -m pip install -q -e ".[test]"
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
  fi
}

cmd=${1:-test}
shift || true
case "$cmd" in
  setup) setup ;;
  main) setup; exec "$VENV/bin/python" -m workbook "$@" ;;
  test)
    setup
    export WORKBOOK_PROGRESS=0 MPLBACKEND=Agg OMP_NUM_THREADS=1
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *) echo "usage: bash scripts/dev.sh {setup|main|test} [args]" >&2; exit 2 ;;
esac
