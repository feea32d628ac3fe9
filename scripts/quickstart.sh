#!/usr/bin/env bash
# Quick start: the whole pipeline on config/quick.yaml (MNIST + Fashion-MNIST, both methods,
# 2 seeds, tiny networks) -> results/quick/tables, figures/quick, results/quick/report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
if [ -z "${SSGAN_DATA_ROOT:-}" ]; then  # no offline copy: download MNIST/Fashion-MNIST to ./data
  export SSGAN_DATA_ROOT="$PWD/data"
  for d in mnist fashion_mnist; do ssgan prepare-data --dataset "$d" data.download=true; done
fi
echo "== data root: $SSGAN_DATA_ROOT"
snakemake --cores all --configfile config/quick.yaml "$@"
snakemake --cores all --configfile config/quick.yaml --report results/quick/report.html
echo "== done: tables in results/quick/tables, figures in figures/quick, report in results/quick/report.html"
