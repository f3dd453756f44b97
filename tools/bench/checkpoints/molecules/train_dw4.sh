#!/usr/bin/env bash
# Kept for the command in docs/benchmarks/molecules.md: the DW-4 run of train_particles.sh.
exec bash "$(dirname "$0")/train_particles.sh" dw4 "$@"
