"""Session fixtures of the FID tests (imported by conftest.py): the real Inception network,
its features on small MNIST / Fashion-MNIST sets (computed once: Inception runs at ~10
images/s on 2 CPU cores) and a tiny run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

N_SET = 150  # images per set in the MNIST-vs-Fashion-MNIST test


@pytest.fixture(scope="session")
def fid_cache(tmp_path_factory) -> Path:
    """A session cache dir (converted weights, real statistics)."""
    return tmp_path_factory.mktemp("fid_cache")


@pytest.fixture(scope="session")
def fid_weights(fid_cache):
    from ssgan.metrics import resolve_weights

    return resolve_weights({"weights": None, "allow_download": False, "cache_dir": str(fid_cache)})


@pytest.fixture(scope="session")
def inception(fid_weights):
    from ssgan.metrics import Inception

    return Inception(fid_weights, "cpu")


def small_cfg(dataset: str, cache: Path, weights, **fid) -> dict:
    """A run config for the FID tests: small protocol, the session weights, a given cache."""
    from ssgan.config import resolve

    return resolve(
        dataset,
        "wgan_gp",
        0,
        overrides={
            "fid": {"cache_dir": str(cache), "weights": str(weights.path), "batch_size": 50, **fid}
        },
    )


@pytest.fixture(scope="session")
def digit_sets(inception, fid_cache, fid_weights):
    """Images and pool3 features (batch 50) of MNIST test[:N], test[N:2N], Fashion-MNIST test[:N]."""
    from ssgan.metrics.real_stats import real_images

    mnist = real_images(small_cfg("mnist", fid_cache, fid_weights, n_real=2 * N_SET), "test")
    fashion = real_images(small_cfg("fashion_mnist", fid_cache, fid_weights, n_real=N_SET), "test")
    images = {"A": mnist[:N_SET], "B": mnist[N_SET:], "F": fashion}
    return {k: (v, inception.features(v, 50)) for k, v in images.items()}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A completed run directory: a width-8 WGAN-GP generator (iteration 2) and a snapshot (1)."""
    from ssgan import io
    from ssgan.config import resolve
    from ssgan.methods import get_method

    run_dir = tmp_path_factory.mktemp("run")
    cfg = resolve(
        "mnist", "wgan_gp", 0, overrides={"model": {"width": 8}, "train": {"iterations": 2}}
    )
    for seed, path in (
        (1, run_dir / "snapshots" / "generator_00000001.pt"),
        (2, run_dir / "generator.pt"),
    ):
        torch.manual_seed(seed)
        G = get_method("wgan_gp", cfg).build_generator(32, 1)
        path.parent.mkdir(exist_ok=True)
        torch.save(G.state_dict(), path)
    io.write_json(
        run_dir / "run.json",
        {
            "dataset": "mnist",
            "dataset_kind": "mnist",
            "method": "wgan_gp",
            "seed": 0,
            "status": "completed",
            "iteration": 2,
            "iterations": 2,
            "resolution": 32,
            "channels": 1,
            "config": cfg,
        },
    )
    return run_dir
