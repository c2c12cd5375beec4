#!/usr/bin/env bash
# One entry point for set-up, the main job and the tests.
#   bash scripts/dev.sh main [args]   set up .venv if needed, then run `python -m workbook [args]`
#   bash scripts/dev.sh test [args]   set up .venv if needed, then run the whole test suite
#                                     (notebook kernels use 1 CPU thread; WORKBOOK_THREADS=2 for two,
#                                     WORKBOOK_THREADS=default for torch's own choice, OMP_NUM_THREADS unset;
#                                     add -n 1 with more than one thread, so kernels do not oversubscribe)
#   bash scripts/dev.sh setup         only set up .venv
#   bash scripts/dev.sh doctor        set up .venv if needed, then check the install (python -m workbook doctor)
#   bash scripts/dev.sh solutions [args]  execute every solution notebook -> static HTML site in out/site/
#   bash scripts/dev.sh docs [--check]    regenerate docs/exercises.md and the instructor guide's tables
#   bash scripts/dev.sh reset-notebooks   put notebooks/ and solutions/ back as committed (backs up changes)
#   bash scripts/dev.sh lock          re-resolve every dependency in a scratch venv and rewrite requirements/lock.txt
# Set-up installs from requirements/lock.txt (the exact versions the suite was last green on) as pip
# constraints; LOCK=none installs unpinned, as a user's `pip install .` would. A changed lock file or
# pyproject.toml re-runs the install (the venv keeps a stamp of both).
# Set-up installs CPU torch FIRST (an unpinned torch pulls a multi-GB CUDA build), then the
# package with its test extra. Override the torch requirement with TORCH_SPEC, the venv with VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PY=${PYTHON:-python3}
LOCK=${LOCK:-requirements/lock.txt}

stamp() { cat pyproject.toml "$LOCK" 2>/dev/null | sha256sum | cut -c1-16; }

setup() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    echo ">> creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  local want; want=$(stamp)
  if [[ "$(cat "$VENV/.workbook-stamp" 2>/dev/null)" != "$want" ]] \
      || ! "$VENV/bin/python" -c "import workbook, transformer_lens, nbval" >/dev/null 2>&1; then
    local pins=()
    [[ -f "$LOCK" ]] && pins=(-c "$LOCK")
    "$VENV/bin/python" -m pip install -q --upgrade pip
    if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
      echo ">> installing $TORCH_SPEC (CPU build)"
      "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
    fi
    echo ">> installing when-gradients-mislead[test]${pins:+ (versions from $LOCK)}"
    "$VENV/bin/python" -m pip install -q "${pins[@]}" -e ".[test]"
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
    echo "$want" > "$VENV/.workbook-stamp"
  fi
}

lock() {
  # Resolve from scratch (no constraints) in a throw-away venv, run nothing, write the exact versions.
  local tmp; tmp=$(mktemp -d)
  "$PY" -m venv "$tmp/venv"
  "$tmp/venv/bin/python" -m pip install -q --upgrade pip
  "$tmp/venv/bin/python" -m pip install -q "$TORCH_SPEC"
  "$tmp/venv/bin/python" -m pip install -q -e ".[test]"
  mkdir -p "$(dirname "$LOCK")"
  { echo "# Exact versions the test suite is green on (pip constraints; refresh: bash scripts/dev.sh lock,"
    echo "# then run bash scripts/dev.sh test and commit both). Made $(date -u +%Y-%m-%d) with $("$tmp/venv/bin/python" -V)."
    # a local build label (+cpu, +cu128) is the user's TORCH_SPEC choice, not a pin
    "$tmp/venv/bin/python" -m pip freeze --exclude-editable | grep -v '^-e ' | sed -E 's/^(torch==[^+]*)\+.*/\1/'; } > "$LOCK"
  rm -rf "$tmp"
  echo ">> wrote $LOCK ($(grep -vc '^#' "$LOCK") packages)"
}

reset_notebooks() {
  # After a session: restore the committed notebooks; copies of changed/new files go to out/notebook-backups/.
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo ">> not a git checkout: regenerating the notebooks from chapters/ instead"
    setup
    exec "$VENV/bin/python" scripts/build_notebooks.py --no-execute
  fi
  local changed
  changed=$(git ls-files --modified --others --exclude-standard -- notebooks solutions)
  if [[ -z "$changed" ]]; then
    echo "notebooks/ and solutions/ are already as committed"
    return 0
  fi
  local backup
  backup="out/notebook-backups/$(date +%Y%m%d-%H%M%S)"
  while IFS= read -r f; do
    if [[ -f "$f" ]]; then mkdir -p "$backup/$(dirname "$f")" && cp -p "$f" "$backup/$f"; fi
  done <<< "$changed"
  git checkout -- notebooks solutions
  git clean -fdxq -- notebooks solutions
  echo "reset $(wc -l <<< "$changed") file(s) in notebooks/ and solutions/; the changed versions are in $backup/"
}

cmd=${1:-test}
shift || true
case "$cmd" in
  setup) setup ;;
  main) setup; exec "$VENV/bin/python" -m workbook "$@" ;;
  test)
    setup
    export WORKBOOK_PROGRESS=0 MPLBACKEND=Agg
    if [[ "${WORKBOOK_THREADS:-}" == "default" ]]; then unset OMP_NUM_THREADS; else export OMP_NUM_THREADS=1; fi
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  doctor) setup; exec "$VENV/bin/python" -m workbook doctor "$@" ;;
  solutions) setup; exec "$VENV/bin/python" scripts/solutions_site.py "$@" ;;
  docs) setup; exec "$VENV/bin/python" scripts/workshop_docs.py "$@" ;;
  reset-notebooks) reset_notebooks ;;
  lock) lock ;;
  *) echo "usage: bash scripts/dev.sh {setup|main|test|doctor|solutions|docs|reset-notebooks|lock} [args]" >&2; exit 2 ;;
esac
