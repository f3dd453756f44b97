#!/usr/bin/env bash
# Long CPU training of an Adjoint Sampler on a particle system (issue 20, item 3):
#   bash tools/bench/checkpoints/molecules/train_particles.sh dw4|lj13 [EPOCHS]
# The benchmarked CPU config (AdjointSamplingConfig.cpu(SYSTEM), the CLI default) run for up to
# EPOCHS epochs (default 3,000), checkpointing every 10 epochs (the newest 2 kept), niced so it
# only uses idle CPU. Resumable across sessions: run the same command again; it continues from the
# newest checkpoint in tools/bench/checkpoints/molecules/SYSTEM/ (only the newest is committed).
set -euo pipefail
SYSTEM="${1:?usage: train_particles.sh dw4|lj13 [EPOCHS]}"
EPOCHS="${2:-3000}"
cd "$(dirname "$0")/../../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export LABWORKS_DATA="${LABWORKS_DATA:-/work/shared/data}"
OUT="tools/bench/checkpoints/molecules/$SYSTEM"
RESUME=()
if compgen -G "$OUT/checkpoints/step_*.pt" > /dev/null; then RESUME=(--resume); fi
exec nice -n 10 lab molecules particles sample --energy "$SYSTEM" --out "$OUT" "${RESUME[@]}" \
  --epochs "$EPOCHS" --checkpoint-every 10 --keep-checkpoints 2 --device cpu --no-plots
