#!/usr/bin/env bash
# Set up (idempotent) and run the CPU demo into runs/demo (pass --quick for the short version).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if sightsound demo --help >/dev/null 2>&1; then
  exec sightsound demo --out runs/demo "$@"
fi
# Until the demo command lands: make the synthetic world and show what was made.
sightsound synth --out runs/demo/data --num 24 --seed 0
