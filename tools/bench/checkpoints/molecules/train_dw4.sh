#!/usr/bin/env bash
# Long CPU training of the DW-4 Adjoint Sampler (issue 20, item 3): the benchmarked CPU config
# (AdjointSamplingConfig.cpu("dw4"), the CLI default) run for up to 3,000 epochs, checkpointing
# every 10 epochs (the newest 2 kept). Resumable across sessions: run this script again; it
# continues from the newest checkpoint in tools/bench/checkpoints/molecules/dw4/ (committed:
# epoch 250, scored in docs/benchmarks/molecules.md; only the newest checkpoint is committed).
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export LABWORKS_DATA="${LABWORKS_DATA:-/work/shared/data}"
OUT=tools/bench/checkpoints/molecules/dw4
RESUME=()
if compgen -G "$OUT/checkpoints/step_*.pt" > /dev/null; then RESUME=(--resume); fi
exec nice -n 10 lab molecules particles sample --energy dw4 --out "$OUT" "${RESUME[@]}" \
  --epochs 3000 --checkpoint-every 10 --keep-checkpoints 2 --device cpu --no-plots
