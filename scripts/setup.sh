#!/usr/bin/env bash
# Set up SightSound on a fresh machine: system packages, a virtualenv in .venv, torch first, then the package.
#   bash scripts/setup.sh            # runtime + dev tools
#   bash scripts/setup.sh --browser  # also Debian's chromium (for the HTML report's browser test)
# GPU machines: install the CUDA torch of your choice into .venv *before* running this script; it keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
want_browser=0
for a in "$@"; do [[ $a == --browser ]] && want_browser=1; done

apt_pkgs=(espeak-ng)
[[ $want_browser == 1 ]] && apt_pkgs+=(chromium chromium-driver)
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    SUDO=""; [[ $(id -u) != 0 ]] && command -v sudo >/dev/null && SUDO="sudo"
    # Best effort: without espeak-ng the synthetic world falls back to formant babble for voices.
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; } \
      || echo "setup: could not apt-get install ${missing[*]} (continuing; fallbacks are used)" >&2
  fi
fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
# torch before anything else, so no dependency can pull a multi-GB CUDA build onto a CPU machine.
if ! python -c "import torch" >/dev/null 2>&1; then
  python -m pip install -q "torch==2.13.0" 2>&1 | grep -v '^WARNING: Location' || true
fi
python -m pip install -q -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' || true
python -c "import sightsound, torch, transformers, trl, peft; print('setup: ok', 'torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__)"
