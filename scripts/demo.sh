#!/usr/bin/env bash
# Set up (idempotent) and run the CPU demo into runs/demo (pass --quick for the short version).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec sightsound demo --out runs/demo "$@"
