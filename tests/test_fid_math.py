"""FID/KID math and the bookkeeping around it, without the Inception network."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from ssgan.config import ConfigError
from ssgan.metrics import distances, eval_config
from ssgan.metrics.evaluate import latent_seed, to_uint8
from ssgan.metrics.real_stats import stats_key


def random_gaussian(rng, d):
    a = rng.standard_normal((d, 2 * d))
    return rng.standard_normal(d), a @ a.T / (2 * d) + 0.1 * np.eye(d)


def frechet_scipy(mu1, s1, mu2, s2):
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}) with scipy's matrix square root."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("seed,d", [(0, 8), (1, 64), (2, 256)])
def test_frechet_distance_matches_scipy_sqrtm(seed, d):
    rng = np.random.default_rng(seed)
    (mu1, s1), (mu2, s2) = random_gaussian(rng, d), random_gaussian(rng, d)
    ours = distances.fid({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2})
    assert ours == pytest.approx(frechet_scipy(mu1, s1, mu2, s2), rel=1e-6)


def test_statistics_are_mean_and_unbiased_covariance():
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    s = distances.statistics(x)
    assert s["mu"].dtype == np.float64 and s["sigma"].shape == (6, 6)
    np.testing.assert_allclose(s["mu"], x.double().mean(0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(s["sigma"], np.cov(x.double().numpy(), rowvar=False), rtol=1e-12)


def test_fid_of_a_set_with_itself_is_zero():
    # more dimensions than samples: a singular covariance, as with a few hundred Inception features
    x = torch.randn(100, 300, generator=torch.Generator().manual_seed(1)).abs()
    s = distances.statistics(x)
    assert abs(distances.fid(s, s)) < 1e-6 * np.trace(s["sigma"])
    y = distances.statistics(x + 0.5)
    assert distances.fid(s, y) == pytest.approx(0.25 * 300, rel=1e-6)  # ||mu shift||^2 only


def test_kid_same_set_near_zero_shifted_set_positive():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(60, 32, generator=g), torch.randn(60, 32, generator=g)
    same, _, size = distances.kid(x, y, subset_size=1000, subsets=20)
    shifted, _, _ = distances.kid(x, y + 1.0, subset_size=1000, subsets=20)
    assert size == 60  # capped by the set sizes
    assert abs(same) < 0.1 * shifted and shifted > 0
    assert distances.kid(x, y, 40, 20, seed=3) == distances.kid(x, y, 40, 20, seed=3)


def test_generator_output_to_uint8():
    x = torch.tensor([-1.5, -1.0, -0.5, 0.0, 0.999, 1.0, 2.0])
    assert to_uint8(x).tolist() == [0, 0, 64, 128, 255, 255, 255]
    assert to_uint8(x).dtype == torch.uint8


def test_latent_seed_depends_on_the_run_seed_only():
    assert latent_seed(0) != latent_seed(1) and latent_seed(3) == latent_seed(3)


def test_stats_key_changes_with_every_field():
    base = {
        "version": 1,
        "dataset": "mnist",
        "split": "train",
        "resolution": 32,
        "channels": 1,
        "n_real": 100,
        "data_sha256": "a" * 64,
        "extractor": "inception-v3-compat",
        "feature": "2048",
        "resize": "tf1-bilinear-299",
        "weights_sha256": "b" * 64,
        "torch_fidelity": "0.4.0",
    }
    key = stats_key(base)
    assert key == stats_key(dict(base)) and key.startswith("mnist-train-32px-1ch-n100-")
    changes = {
        "split": "test",
        "n_real": 99,
        "data_sha256": "c" * 64,
        "weights_sha256": "d" * 64,
        "torch_fidelity": "0.5.0",
        "resolution": 64,
        "channels": 3,
        "version": 2,
    }
    keys = {stats_key({**base, k: v}) for k, v in changes.items()}
    assert key not in keys and len(keys) == len(changes)


def _run(cfg):
    return {"dataset": "mnist", "method": "wgan_gp", "seed": 0, "config": cfg}


def test_eval_config_layers_run_file_and_overrides():
    from ssgan.config import resolve

    run = _run(resolve("mnist", "wgan_gp", 0, overrides={"fid": {"n_fake": 123, "split": "test"}}))
    assert eval_config(run)["fid"]["n_fake"] == 123
    cfg = eval_config(run, overrides={"fid": {"n_real": 77}, "data": {"root": "/elsewhere"}})
    assert (cfg["fid"]["n_fake"], cfg["fid"]["n_real"], cfg["data"]["root"]) == (
        123,
        77,
        "/elsewhere",
    )
    suite = {"defaults": {"fid": {"n_fake": 500}}, "datasets": {"mnist": {"fid": {"n_real": 600}}}}
    cfg = eval_config(run, suite, {"fid": {"batch_size": 10}})
    assert (
        cfg["fid"]["n_fake"],
        cfg["fid"]["n_real"],
        cfg["fid"]["batch_size"],
        cfg["fid"]["split"],
    ) == (500, 600, 10, None)  # the file's fid section replaces the run's
    with pytest.raises(ConfigError, match="only fid"):
        eval_config(run, overrides={"model": {"width": 4}})
    with pytest.raises(ConfigError, match="fid.n_fake"):
        eval_config(run, overrides={"fid": {"n_fake": 0}})


def test_bn_mode_is_recorded_and_part_of_the_protocol():
    from ssgan.config import resolve
    from ssgan.metrics.evaluate import protocol_id, record

    cfg = resolve("mnist", "wgan_gp", 0, overrides={"fid": {"n_fake": 128}})
    batch_cfg = resolve(
        "mnist", "wgan_gp", 0, overrides={"fid": {"n_fake": 128, "bn_mode": "batch"}}
    )
    ev, ba = record(_run(cfg), cfg), record(_run(batch_cfg), batch_cfg)
    assert (ev["bn_mode"], ev["batch_size_affects_result"]) == ("eval", False)
    assert (ba["bn_mode"], ba["batch_size_affects_result"]) == ("batch", True)
    assert protocol_id(ev) != protocol_id(ba)
    older = {k: v for k, v in ev.items() if k != "bn_mode"}  # records from before the field
    assert protocol_id(older) == protocol_id(ev)
    assert latent_seed(0) == ev["latent_seed"] == ba["latent_seed"]


def test_batch_bn_mode_normalises_per_batch_and_leaves_running_statistics():
    from ssgan.metrics.evaluate import with_bn_mode
    from ssgan.models import Generator

    torch.manual_seed(0)
    G = Generator(32, 1, width=8, z_dim=16)
    for m in G.modules():  # running statistics as after training (not the 0/1 of a fresh BN)
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    G.eval()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    z = torch.randn(64, 16)
    with torch.no_grad():
        Gb = with_bn_mode(G, "batch")
        batch = Gb(z)
        again = Gb(z)
        eval_ = with_bn_mode(G, "eval")(z)
        half = Gb(z[:32])
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before.items())  # G untouched
    running = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert running and all(torch.equal(before[k], Gb.state_dict()[k]) for k in running)  # copy's
    assert not G.training and torch.equal(batch, again)
    assert (batch - eval_).abs().max() > 1e-3  # the two modes differ ...
    assert (half - batch[:32]).abs().max() > 1e-6  # ... and batch mode depends on the batch
    with torch.no_grad():
        assert torch.equal(eval_[:32], with_bn_mode(G, "eval")(z[:32]))  # eval mode does not
