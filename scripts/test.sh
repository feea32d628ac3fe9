#!/usr/bin/env bash
# The test suite: unit tests, real training/FID/Snakemake end to end, and a real SLURM cluster
# started on this machine (needs root for apt-get and the daemons). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
python -m pytest -ra --durations=15 "$@"
