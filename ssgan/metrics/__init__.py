"""FID/KID evaluation (torch-fidelity's TF-Inception features) with cached real statistics.

weights = resolve_weights(cfg["fid"])                 # offline-first weights (path, sha256)
real = real_statistics(cfg, Inception(weights))       # cached mu/sigma/features of real data
rec = run_fid(run_dir, eval_config(read_run(run_dir)))  # writes fid.json
Anything else (image folders, generator files, a folder as the reference, Inception Score):
ssgan/metrics/external.py, with generators.py for generator files and their checks.
"""

from ssgan.metrics.distances import fid, kid, statistics
from ssgan.metrics.evaluate import eval_config, evaluate_run, latent_seed, run_fid
from ssgan.metrics.extractor import Inception, Weights, WeightsError, resolve_weights
from ssgan.metrics.real_stats import RealStats, real_statistics

__all__ = [
    "Inception",
    "RealStats",
    "Weights",
    "WeightsError",
    "eval_config",
    "evaluate_run",
    "fid",
    "kid",
    "latent_seed",
    "real_statistics",
    "resolve_weights",
    "run_fid",
    "statistics",
]
