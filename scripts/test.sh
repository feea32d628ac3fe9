#!/usr/bin/env bash
# The test suite: style checks (ruff, snakefmt), unit tests, real training/FID/Snakemake end to
# end, and a real SLURM cluster started on this machine (needs root for apt-get and the daemons).
# Extra args go to pytest; `--style-only` runs only the style checks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
echo "== style: ruff check, ruff format --check, snakefmt --check"
ruff check .
ruff format --check .
snakefmt --check --line-length 100 Snakefile workflow/rules/
if [ "${1:-}" = "--style-only" ]; then exit 0; fi
python -m pytest -ra --durations=15 "$@"
