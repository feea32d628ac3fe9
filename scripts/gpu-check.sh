#!/usr/bin/env bash
# The GPU check (config/gpu_check.yaml) where Snakemake is not installed (the device machine):
# the commands of the workflow's rules, in their order, on one GPU. Each method's seeds train in
# one `ssgan train --seeds` process; FID jobs run 4 at a time. Writes RESULTS (default
# results/gpu_check) and RESULTS/timing.txt (seconds per stage). Extra key=value arguments
# override the config for every command (e.g. a CPU smoke test: train.device=cpu ...).
#   bash scripts/gpu-check.sh [RESULTS] [key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=config/gpu_check.yaml
res=${1:-results/gpu_check}
shift || true
over=("$@")
fid_over=()  # ssgan fid takes fid.* and data.root only
for kv in "$@"; do [[ $kv == fid.* || $kv == data.root=* ]] && fid_over+=("$kv"); done
cache="$res/cache/fid"
ssgan() { python3 -m ssgan.cli "$@"; }
export -f ssgan
mkdir -p "$res"
seeds=$(python3 -c "import yaml; print(','.join(map(str, yaml.safe_load(open('$cfg'))['seeds'])))")
t0=$(date +%s)
stage() { echo "$1 $(($(date +%s) - t0))" | tee -a "$res/timing.txt"; }
: > "$res/timing.txt"
ssgan prepare-data --dataset mnist --config "$cfg" --out "$res/data/mnist.json" "${over[@]}"
ssgan real-stats --dataset mnist --config "$cfg" --out "$res/real_stats/mnist.json" \
  fid.cache_dir="$cache" "${over[@]}"
stage real_stats
for method in wgan_gp ssgan; do  # exit 3: a diverged run, a result
  ssgan train --dataset mnist --method "$method" --seeds "$seeds" --out "$res/runs/mnist/$method" \
    --config "$cfg" "${over[@]}" || [ $? -eq 3 ]
  stage "train_$method"
done
printf '%s\n' "$res"/runs/mnist/*/seed* | xargs -P 4 -I RUN \
  bash -c 'ssgan fid --run "$0" --config "$1" fid.cache_dir="$2" "${@:3}"' RUN "$cfg" "$cache" "${fid_over[@]}"
stage fid
ssgan aggregate --results "$res" --out "$res/tables" --config "$cfg"
stage aggregate
python3 -c "import torch; print('device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu', 'torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$res/timing.txt"
