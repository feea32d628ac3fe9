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
# Two workers on 2 cores: most tests run tiny networks on one thread, so two at a time use the
# machine (tests/conftest.py keeps a file's tests, and each SLURM cluster, on one worker).
# Pass `-n 0` to run in one process. --no-loadscope-reorder: pytest-xdist (3.8) otherwise
# reorders the groups by size, and the workflow group that tests/conftest.py puts first (the
# longest: the quick-config pipeline, SLURM) would start last. Limits on waits scale with the
# machine's load (tests/conftest.py wall_limit; SSGAN_TEST_TIME_SCALE multiplies them).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m pytest -ra --durations=15 -n "${SSGAN_TEST_WORKERS:-2}" --dist loadgroup \
  --no-loadscope-reorder "$@"
