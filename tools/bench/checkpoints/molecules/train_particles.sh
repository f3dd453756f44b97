#!/usr/bin/env bash
# Long CPU training of an Adjoint Sampler on a particle system (issue 20, item 3):
#   bash tools/bench/checkpoints/molecules/train_particles.sh dw4|lj13 [EPOCHS [FLAGS...]]
# The benchmarked CPU config (AdjointSamplingConfig.cpu(SYSTEM), the CLI default) run for up to
# EPOCHS epochs (default 3,000), checkpointing every 10 epochs (the newest 2 kept), niced so it
# only uses idle CPU. Resumable across sessions: run the same command again; it continues from the
# newest checkpoint in tools/bench/checkpoints/molecules/SYSTEM/ (only the newest is committed).
# FLAGS are passed on to `lab molecules particles sample` (e.g. a learning-rate schedule for a
# later stage); every stage's command is recorded in SYSTEM/stages.txt.
set -euo pipefail
SYSTEM="${1:?usage: train_particles.sh dw4|lj13 [EPOCHS]}"
EPOCHS="${2:-3000}"
shift $(( $# >= 2 ? 2 : $# ))
cd "$(dirname "$0")/../../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export LABWORKS_DATA="${LABWORKS_DATA:-/work/shared/data}"
OUT="tools/bench/checkpoints/molecules/$SYSTEM"
RESUME=()
if compgen -G "$OUT/checkpoints/step_*.pt" > /dev/null; then RESUME=(--resume); fi
CMD=(lab molecules particles sample --energy "$SYSTEM" --out "$OUT" "${RESUME[@]}"
  --epochs "$EPOCHS" --checkpoint-every 10 --keep-checkpoints 2 --device cpu --no-plots "$@")
mkdir -p "$OUT"
LAST=$(tail -n 1 "$OUT/metrics.jsonl" 2>/dev/null | sed -n 's/^{"epoch": \([0-9]*\).*/\1/p')
echo "$(date -u +%FT%TZ) from epoch ${LAST:-0}: ${CMD[*]}" >> "$OUT/stages.txt"
exec nice -n 10 "${CMD[@]}"
