#!/usr/bin/env bash
# Quick start: the whole pipeline on config/quick.yaml (MNIST + Fashion-MNIST, both methods,
# 2 seeds, tiny networks) -> results/quick/tables, figures/quick, results/quick/report.html.
# It installs only what it runs (ssgan and its workflow extra; scripts/test.sh adds the test
# tools), keeps its cache in results/quick/cache unless SSGAN_CACHE_DIR is set (ssgan/cache.py),
# prints an estimate up front and the elapsed and remaining time after each job, and ends with
# the leaderboard and the verdicts.
set -euo pipefail
cd "$(dirname "$0")/.."
SSGAN_EXTRAS=workflow source scripts/setup-env.sh
export SSGAN_CACHE_DIR="${SSGAN_CACHE_DIR:-$PWD/results/quick/cache}"
if [ -z "${SSGAN_DATA_ROOT:-}" ]; then  # no offline copy: download MNIST/Fashion-MNIST to ./data
  export SSGAN_DATA_ROOT="$PWD/data"
  for d in mnist fashion_mnist; do ssgan prepare-data --dataset "$d" data.download=true; done
fi
echo "== data root: $SSGAN_DATA_ROOT; cache: $SSGAN_CACHE_DIR"
cores="$(nproc)"
snakemake --cores all --configfile config/quick.yaml "$@" 2>&1 \
  | python scripts/snakemake_eta.py --cores "$cores"
snakemake --cores all --configfile config/quick.yaml --report results/quick/report.html
echo
python scripts/print_tables.py results/quick/tables
echo "== done: tables in results/quick/tables, figures in figures/quick, report in results/quick/report.html"
