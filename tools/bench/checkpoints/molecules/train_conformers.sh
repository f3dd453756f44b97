#!/usr/bin/env bash
# Long CPU training of the torsional conformer sampler (issue 20, item 6):
#   bash tools/bench/checkpoints/molecules/train_conformers.sh [EPOCHS]
# The default TorsionalConfig (the shipped model's config) on 300 training molecules of RDKit's
# NCI set, for up to EPOCHS epochs (default 2,000), a checkpoint every 10 epochs (newest 2 kept),
# niced so it only uses idle CPU. Resumable across sessions: run the same command again; it
# continues from the newest checkpoint in tools/bench/checkpoints/molecules/conformers/.
# Each run also exports the generation-only model to .../conformers/torsional_long.pt.
set -euo pipefail
EPOCHS="${1:-2000}"
cd "$(dirname "$0")/../../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=tools/bench/checkpoints/molecules/conformers
RESUME=()
if compgen -G "$OUT/checkpoints/step_*.pt" > /dev/null; then RESUME=(--resume); fi
exec nice -n 10 lab molecules conformers train --out "$OUT" --n-train 300 "${RESUME[@]}" \
  --epochs "$EPOCHS" --checkpoint-every 10 --keep-checkpoints 2 --device cpu \
  --export "$OUT/torsional_long.pt"
