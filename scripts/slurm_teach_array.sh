#!/usr/bin/env bash
# Step 1 (teach) or Step 2 (verify) as a SLURM job array: one shard per array task, then one merge.
#
#   sbatch --array=0-7 scripts/slurm_teach_array.sh teach  configs/paper.yaml data/records.jsonl runs/paper
#   # when every task has finished (or chain it: sbatch --dependency=afterok:<jobid> ...):
#   MERGE=1 NUM_SHARDS=8 bash scripts/slurm_teach_array.sh teach configs/paper.yaml data/records.jsonl runs/paper
#
#   sbatch --array=0-7 scripts/slurm_teach_array.sh verify configs/paper.yaml runs/paper/teach/traces.jsonl runs/paper
#
# Each task runs `sightsound <stage> --shard $SLURM_ARRAY_TASK_ID/$NUM_SHARDS` into its own file
# (RUN/<stage>/shard-<i>-of-<N>.jsonl). A shard is the records whose id hashes to i (sightsound.sharding),
# so the split needs no coordination, and a task that dies is simply resubmitted (`--array=3`): it resumes
# where it stopped. `merge` refuses duplicates, gaps (a shard missing or unfinished) and shards made with
# different settings, so a wrong merge cannot happen silently.
#
# Where the model runs: either every task talks to one shared endpoint (a vLLM server, an API: set
# models.<role>.backend=openai and base_url in the recipe; models.<role>.rate_limit_rpm/tpm are per task,
# so divide the account's limits by the number of tasks), or each task loads the model on its own GPU
# (backend hf or vllm). Extra `key=value` overrides after the four arguments go to every task; RECIPE
# may be - for the defaults.
#SBATCH --job-name=sightsound-shard
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time=12:00:00
#SBATCH --output=logs/%x-%A_%a.out
set -euo pipefail

STAGE=${1:?usage: $0 teach|verify RECIPE INPUT RUN_DIR [key=value ...]}
RECIPE=${2?recipe yaml, or - for the defaults}
INPUT=${3:?records JSONL (teach) or traces JSONL (verify)}
RUN=${4:?run directory}
shift 4
NUM_SHARDS=${NUM_SHARDS:-${SLURM_ARRAY_TASK_COUNT:-1}}
OUT_DIR="$RUN/$STAGE"
CONFIG=()
if [[ -n "$RECIPE" && "$RECIPE" != "-" ]]; then CONFIG=(--config "$RECIPE"); fi
mkdir -p "$OUT_DIR"

case "$STAGE" in
  teach)  INPUT_FLAG=--data;   KEY=id;  MERGED="$OUT_DIR/traces.jsonl";   FILTER=() ;;
  verify) INPUT_FLAG=--traces; KEY=key; MERGED="$OUT_DIR/verified.jsonl"; FILTER=(--data-filter kept) ;;
  *) echo "stage must be teach or verify, got $STAGE" >&2; exit 2 ;;
esac

if [[ "${MERGE:-0}" == 1 ]]; then
  inputs=()
  for ((i = 0; i < NUM_SHARDS; i++)); do inputs+=("$OUT_DIR/shard-$i-of-$NUM_SHARDS.jsonl"); done
  exec sightsound merge --inputs "${inputs[@]}" --out "$MERGED" --key "$KEY" --data "$INPUT" "${FILTER[@]}"
fi

I=${SLURM_ARRAY_TASK_ID:?not inside a SLURM array task (or set SLURM_ARRAY_TASK_ID)}
exec sightsound "$STAGE" "${CONFIG[@]}" "$INPUT_FLAG" "$INPUT" --shard "$I/$NUM_SHARDS" \
  --out "$OUT_DIR/shard-$I-of-$NUM_SHARDS.jsonl" --no-progress "$@"
