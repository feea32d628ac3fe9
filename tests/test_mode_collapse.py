"""Mode-collapse measures: precision/recall/density/coverage on feature sets with known
answers (fast), on real Inception features of MNIST and Fashion-MNIST (slow, reusing the FID
fixtures), and class coverage by the suite's classifier (slow: trained once per session)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from ssgan import io
from ssgan.cli import main
from ssgan.config import resolve
from ssgan.data.idx import load_labels
from ssgan.metrics import classifier as K
from ssgan.metrics import manifold
from ssgan.training.runs import RunError
from tests.fid_fixtures import N_SET, small_cfg

CFG = {"prc_k": 3, "dc_k": 5, "manifold_samples": 10000, "manifold_seed": 0}
COLLAPSE_FIELDS = [
    *manifold.FIELDS,
    "manifold_n",
    "prc_k",
    "dc_k",
    "classes_covered",
    "class_kl",
    "classifier_key",
    "classifier_accuracy",
]


def gaussian(n: int, d: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def clusters(n: int, only: int | None = None, seed: int = 1) -> torch.Tensor:
    """n points around 10 well separated centres (all of them, or only centre ``only``)."""
    centres = gaussian(10, seed=99) * 10
    which = torch.arange(n) % 10 if only is None else torch.full((n,), only)
    return centres[which] + gaussian(n, seed=seed)


# ------------------------------------------------------------------ the measures' math


def test_identical_sets_have_the_known_answers():
    x = gaussian(400)
    m = manifold.measures(x, x.clone(), CFG)
    assert (m["precision"], m["recall"], m["coverage"]) == (1.0, 1.0, 1.0)
    # each real ball holds its centre and its k nearest neighbours: k + 1 fakes
    assert m["density"] == pytest.approx((5 + 1) / 5, abs=1e-9)
    assert (m["manifold_n"], m["prc_k"], m["dc_k"]) == (400, 3, 5)


def test_two_halves_of_one_sample_score_high():
    x = gaussian(1000)
    m = manifold.measures(x[:500], x[500:], CFG)
    assert m["precision"] > 0.7 and m["recall"] > 0.7  # 0.81, 0.78 (16-d Gaussian, n 500)
    assert m["coverage"] > 0.95 and 0.9 < m["density"] < 1.1


def test_collapse_to_one_mode_keeps_precision_and_loses_recall_and_coverage():
    real = clusters(1000)
    full = manifold.measures(real, clusters(1000, seed=2), CFG)
    one = manifold.measures(real, clusters(1000, only=3, seed=2), CFG)
    assert full["recall"] > 0.7 and full["coverage"] > 0.95
    assert one["precision"] > 0.6  # the fakes are still real-looking
    assert one["recall"] < 0.15 and one["coverage"] <= 0.1 + 1e-9  # 1 of 10 modes


def test_disjoint_sets_score_zero():
    x = gaussian(200)
    m = manifold.measures(x, x + 100, CFG)
    assert [m[f] for f in manifold.FIELDS] == [0.0, 0.0, 0.0, 0.0]


def test_density_and_coverage_by_hand():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])  # k = 1: every radius is 1
    fake = torch.tensor([[0.5], [10.0]])
    # 0.5 lies in the balls of 0 and 1, 10 in none: density = 2 / (1 * 2); reals 0 and 1 have
    # a fake within their radius, 2 and 3 do not: coverage = 2 / 4
    assert manifold.density_coverage(real, fake, 1) == (1.0, 0.5)


def test_a_fake_exactly_at_a_reals_radius_covers_it():
    """Closed balls, and the distances kept in the features' precision: real 0's radius is 0.1
    (its neighbour 0.1) and its nearest fake, -0.1, is exactly as far (in float64; 0.1 rounded
    to float32 would be farther)."""
    real = torch.tensor([[0.0], [0.1]], dtype=torch.float64)
    fake = torch.tensor([[-0.1]], dtype=torch.float64)
    assert manifold.density_coverage(real, fake, 1) == (1.0, 0.5)


def test_density_and_coverage_add_up_over_blocks_of_reals(monkeypatch):
    real, fake = gaussian(11, d=3, seed=5).double(), gaussian(7, d=3, seed=6).double()
    whole = manifold.density_coverage(real, fake, 2)
    monkeypatch.setattr(manifold, "BATCH", 3)  # four blocks of reals
    assert manifold.density_coverage(real, fake, 2) == pytest.approx(whole)
    assert whole[0] > 0 and whole[1] > 0


def test_small_sample_counts_cap_n_and_k_and_give_null_below_two():
    x = gaussian(10)
    m = manifold.measures(x, gaussian(3, seed=1), CFG)
    assert (m["manifold_n"], m["prc_k"], m["dc_k"]) == (3, 2, 2)
    assert manifold.measures(x, x, {**CFG, "manifold_samples": 6})["manifold_n"] == 6
    assert manifold.measures(x[:4], gaussian(9, seed=1), CFG)["manifold_n"] == 4  # fewer reals
    fake2 = gaussian(2, seed=1)
    two = manifold.measures(x[:2], fake2, CFG)  # the smallest n measured
    assert (two["manifold_n"], two["prc_k"], two["dc_k"]) == (2, 1, 1)
    dc = manifold.density_coverage(x[:2].double(), fake2.double(), 1)
    assert (two["density"], two["coverage"]) == pytest.approx(dc)
    assert all(0.0 <= two[f] <= 1.0 for f in ("precision", "recall"))
    assert manifold.measures(x, x[:1], CFG) == {
        **dict.fromkeys([*manifold.FIELDS, "manifold_n", "prc_k", "dc_k"]),
        "manifold_seed": 0,
    }


def test_reals_are_a_seeded_random_subset_not_the_first_in_file_order():
    """A class-sorted reference set (1000 reals per cluster, cluster 0 first) and fakes from
    every cluster, n = 1000: the first 1000 reals are cluster 0 only, so only a tenth of the
    fakes lies on that 'real manifold' and coverage is biased down; the seeded subset spans every
    cluster. The subset depends on the seed alone (the same for every run), not on the fakes."""
    centres = gaussian(10, seed=99) * 10
    real = torch.cat([centres[c] + gaussian(1000, seed=10 + c) for c in range(10)])
    fake = clusters(1000, seed=2)
    cfg = {**CFG, "manifold_samples": 1000}
    first = manifold.measures(real, fake, {**cfg, "manifold_seed": None})
    drawn = manifold.measures(real, fake, cfg)
    assert first["manifold_seed"] is None and drawn["manifold_seed"] == 0
    assert first["precision"] < 0.15  # at most the tenth of the fakes from cluster 0
    # measured: first n P .080 R .842 coverage .328; seeded subset P .796 R .779 coverage .969
    assert first["coverage"] < 0.5 < 0.9 < drawn["coverage"]
    assert drawn["precision"] > 0.7 and drawn["recall"] > 0.7
    sub = manifold.reference_subset(real, 1000, 0)
    which = torch.cdist(sub, centres).argmin(1)
    assert torch.bincount(which, minlength=10).min() > 50  # every cluster, about 100 each
    assert torch.equal(sub, manifold.reference_subset(real, 1000, 0))
    assert not torch.equal(sub, manifold.reference_subset(real, 1000, 1))
    assert len(set(map(tuple, sub.tolist()))) == 1000  # without replacement
    assert torch.equal(manifold.reference_subset(real, 5, None), real[:5])
    assert manifold.measures(real, fake, cfg) == drawn  # deterministic


def test_manifold_seed_is_part_of_the_protocol_and_validated():
    from ssgan import config as C
    from ssgan.errors import ConfigError
    from ssgan.metrics.evaluate import protocol_id

    old = {"n_fake": 64, "n_real": 256, "split": "train", "bn_mode": "eval"}
    assert protocol_id({**old, "manifold_seed": None}) == protocol_id(old)  # first n, as before
    assert protocol_id({**old, "manifold_seed": 0}) != protocol_id(old)
    assert protocol_id({**old, "manifold_seed": 0}) != protocol_id({**old, "manifold_seed": 1})
    assert C.resolve("mnist", "wgan_gp", 0)["fid"]["manifold_seed"] == 0
    for bad in ("-1", "1.5", "true", "abc"):
        with pytest.raises(ConfigError) as err:
            C.resolve(
                "mnist", "wgan_gp", 0, overrides=C.parse_overrides([f"fid.manifold_seed={bad}"])
            )
        assert "config key 'fid.manifold_seed' must be a non-negative integer or null" in str(
            err.value
        )


def test_class_histogram_kl_to_uniform():
    assert K.class_coverage(torch.arange(100) % 10) == {
        "classes_covered": 10,
        "class_kl": 0.0,
        "class_kl_real": None,  # no real histogram given
        "class_min_share": 0.1,
    }
    one = K.class_coverage(torch.full((7,), 4))
    assert one["classes_covered"] == 1 and one["class_kl"] == pytest.approx(math.log(10))
    two = K.class_coverage(torch.tensor([1, 2, 1, 2]))
    assert two["classes_covered"] == 2 and two["class_kl"] == pytest.approx(math.log(5))
    empty = K.class_coverage(torch.empty(0, dtype=torch.long), torch.full((10,), 0.1))
    assert empty["classes_covered"] is None and empty["class_kl_real"] is None


def _labels(counts: list[int]) -> torch.Tensor:
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))


def test_a_class_counts_only_above_a_tenth_of_its_uniform_share():
    """A collapsed generator with a few stray samples in every other class: 9 of 1000 (0.9%)
    per class is below 10% of the uniform 10%, so it covers one class, not ten; 10 of 1000
    (exactly 1%) counts."""
    stray = K.class_coverage(_labels([919] + [9] * 9))
    assert stray["classes_covered"] == 1 and stray["class_min_share"] == K.MIN_SHARE == 0.1
    assert K.class_coverage(_labels([910] + [10] * 9))["classes_covered"] == 10
    assert K.class_coverage(_labels([500, 500] + [0] * 8))["classes_covered"] == 2


def test_class_kl_against_the_real_test_histogram_is_zero_where_the_data_are_matched():
    """The classifier's own histogram on real images is not uniform (confusions, an unbalanced
    test split): a generator with exactly that histogram has KL 0 to it but not to uniform,
    and a uniform generator the reverse."""
    q = torch.tensor([0.28] + [0.08] * 9, dtype=torch.float64)
    matched = K.class_coverage(_labels([280] + [80] * 9), q)  # 1000 samples, shares q
    assert matched["class_kl_real"] == pytest.approx(0.0, abs=1e-12)
    assert matched["class_kl"] == pytest.approx(float((q * torch.log(q * 10)).sum()))
    assert matched["class_kl"] > 0.1
    uniform = K.class_coverage(torch.arange(1000) % 10, q)
    assert uniform["class_kl"] == 0.0
    assert uniform["class_kl_real"] == pytest.approx(float((0.1 * torch.log(0.1 / q)).sum()))
    assert uniform["class_kl_real"] > 0.02


def test_real_histogram_is_the_classifiers_own_with_a_floor_of_half_a_sample():
    class Fixed(K.Classifier):
        def predict(self, images, batch_size=1000):
            return _labels([10, 30] + [0] * 7 + [60])  # never class 2..8 on "real" images

    clf = Fixed(torch.nn.Sequential(), "k", 0.99, True, 0.0)
    q = K.real_histogram(clf, torch.zeros(100, 1, 2, 2, dtype=torch.uint8))
    assert q.tolist() == pytest.approx([0.1, 0.3] + [0.005] * 7 + [0.6])
    # a generated sample in a class never predicted on real images: large, finite
    assert math.isfinite(K.class_coverage(torch.tensor([2, 2, 0, 1]), q)["class_kl_real"])


def test_labels_are_read_in_image_order():
    labels = load_labels(resolve("mnist", "wgan_gp", 0), "test")
    assert len(labels) == 10000 and labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(labels).tolist()[:2] == [980, 1135]


def test_skipped_record_has_the_fields_as_null(tiny_run, tmp_path, fid_weights):
    run = io.read_json(tiny_run / "run.json")
    (tmp_path / "run").mkdir()
    io.write_json(tmp_path / "run" / "run.json", {**run, "status": "diverged"})
    args = ["fid", "--run", str(tmp_path / "run"), f"fid.cache_dir={tmp_path}"]
    assert main([*args, f"fid.weights={fid_weights.path}"]) == 0
    rec = io.read_json(tmp_path / "run" / "fid.json")
    assert {k: rec[k] for k in COLLAPSE_FIELDS} == dict.fromkeys(COLLAPSE_FIELDS)


# ------------------------------------------------------------ real Inception features


@pytest.mark.slow
def test_inception_features_mnist_halves_vs_fashion(digit_sets):
    (_, a), (_, b), (_, f) = digit_sets["A"], digit_sets["B"], digit_sets["F"]
    same = manifold.measures(a, b, CFG)
    other = manifold.measures(a, f, CFG)
    assert same["manifold_n"] == N_SET  # measured: P .853, R .860, density .927, coverage .98
    assert same["precision"] > 0.8 and same["recall"] > 0.8 and same["coverage"] > 0.9
    # Fashion-MNIST as the "generated" set: P 0, density 0, coverage 0; recall only drops to
    # .473, because the wide k-NN balls of the varied Fashion-MNIST features swallow digits
    # (the outlier sensitivity of recall that coverage was proposed to fix, Naeem et al. 2020)
    assert other["precision"] < 0.05 and other["density"] < 0.05 and other["coverage"] < 0.05
    assert other["recall"] < same["recall"] - 0.25


# ------------------------------------------------------------------ the classifier


@pytest.fixture(scope="session")
def mnist_classifier(fid_cache, fid_weights):
    """The suite's MNIST classifier, trained once per session into the session FID cache."""
    return K.get_classifier(small_cfg("mnist", fid_cache, fid_weights))


@pytest.mark.slow
def test_classifier_covers_all_classes_on_real_images_and_one_on_copies(mnist_classifier):
    cfg = resolve("mnist", "wgan_gp", 0)
    images, labels = K._split(cfg, "test")
    assert mnist_classifier.accuracy >= K.MIN_ACCURACY["mnist"]
    pred = mnist_classifier.predict(images[:1000])
    assert float((pred == labels[:1000]).double().mean()) > 0.97
    real = K.class_coverage(pred, mnist_classifier.real_share)
    assert real["classes_covered"] == 10 and real["class_kl"] < 0.02
    assert real["class_kl_real"] < real["class_kl"]  # 1000 of its own test images
    assert mnist_classifier.real_share.sum() == pytest.approx(1.0)
    copies = K.class_coverage(mnist_classifier.predict(images[:1].repeat(200, 1, 1, 1)))
    assert (copies["classes_covered"], copies["class_kl"]) == (1, pytest.approx(math.log(10)))


@pytest.mark.slow
def test_classifier_is_cached_and_refused_below_its_threshold(
    mnist_classifier, fid_cache, fid_weights, monkeypatch
):
    cfg = small_cfg("mnist", fid_cache, fid_weights)
    again = K.get_classifier(cfg)
    assert again.cache_hit and again.key == mnist_classifier.key
    assert again.accuracy == mnist_classifier.accuracy
    x = K._split(cfg, "test")[0][:300]
    assert torch.equal(again.predict(x), mnist_classifier.predict(x))
    monkeypatch.setitem(K.MIN_ACCURACY, "mnist", mnist_classifier.accuracy + 1e-4)
    with pytest.raises(RunError, match="below the"):
        K.get_classifier(cfg)


@pytest.mark.slow
def test_fid_json_carries_the_mode_collapse_measures(
    tiny_run, fid_cache, fid_weights, mnist_classifier
):
    args = ["fid", "--run", str(tiny_run), "fid.n_fake=16", "fid.n_real=24", "fid.split=test"]
    args += ["fid.batch_size=16", f"fid.cache_dir={fid_cache}", f"fid.weights={fid_weights.path}"]
    assert main(args) == 0
    rec = io.read_json(tiny_run / "fid.json")
    assert (rec["manifold_n"], rec["prc_k"], rec["dc_k"]) == (16, 3, 5)
    assert all(0 <= rec[f] <= 1 for f in ("precision", "recall", "coverage"))
    assert rec["density"] >= 0
    assert 1 <= rec["classes_covered"] <= 10 and 0 <= rec["class_kl"] <= math.log(10) + 1e-9
    assert rec["class_kl_real"] >= 0 and rec["class_min_share"] == K.MIN_SHARE
    assert rec["classifier_key"] == mnist_classifier.key
    assert rec["classifier_accuracy"] == mnist_classifier.accuracy


# ------------------------------------------------------------- runs.csv and leaderboard


def _run(results, method, seed, **collapse):
    d = results / "runs" / "mnist" / method / f"seed{seed}"
    d.mkdir(parents=True)
    io.write_json(
        d / "run.json",
        {"dataset": "mnist", "method": method, "seed": seed, "status": "completed", "iteration": 9},
    )
    rec = {"status": "ok", "fid": 10.0 + seed, "iteration": 9, "n_fake": 64, "n_real": 256}
    io.write_json(d / "fid.json", {**rec, **collapse})


def test_measures_flow_into_runs_and_leaderboard(tmp_path):
    from ssgan.analysis import runs as R
    from ssgan.analysis import tables as T

    at = {"manifold_n": 64, "prc_k": 3, "dc_k": 5}
    for seed, (p, cov) in enumerate([(0.9, 0.5), (0.7, 0.3)]):
        _run(tmp_path, "wgan_gp", seed, precision=p, recall=0.4, density=1.0, coverage=cov, **at)
        _run(tmp_path, "ssgan", seed, precision=0.6, recall=0.2, classes_covered=3 + seed, **at)
    # another k: listed in runs.csv, left out of the leaderboard's means
    _run(tmp_path, "ssgan", 2, precision=0.0, recall=0.0, **{**at, "prc_k": 10})
    runs = R.runs_table(tmp_path)
    assert set(R.COLLAPSE_COLUMNS) <= set(runs.columns)
    row = runs[(runs["method"] == "wgan_gp") & (runs["seed"] == 1)].iloc[0]
    assert (row["precision"], row["coverage"], row["manifold_n"], row["dc_k"]) == (0.7, 0.3, 64, 5)
    assert pd.isna(row["classes_covered"]) and pd.isna(row["class_kl"])  # null in fid.json
    board = T.leaderboard(runs, pd.DataFrame(columns=T.RED_COLUMNS)).set_index("method")
    assert board.loc["wgan_gp", "precision_mean"] == pytest.approx(0.8)
    assert board.loc["wgan_gp", "coverage_mean"] == pytest.approx(0.4)
    assert board.loc["ssgan", "precision_mean"] == pytest.approx(0.6)  # seed 2 (k=10) left out
    assert board.loc["ssgan", "classes_covered_mean"] == pytest.approx(3.5)
    assert math.isnan(board.loc["wgan_gp", "class_kl_mean"])
    assert set(board["manifold_setting"]) == {"n=64 k=3/5"}


@pytest.mark.slow
def test_real_stats_command_fetches_the_classifier(
    tmp_path, fid_cache, fid_weights, mnist_classifier, capsys
):
    """The workflow's real_stats job trains the classifier before the FID jobs need it."""
    args = [
        "real-stats",
        "--dataset",
        "mnist",
        "--split",
        "test",
        "--out",
        str(tmp_path / "r.json"),
    ]
    args += ["fid.n_real=8", f"fid.cache_dir={fid_cache}", f"fid.weights={fid_weights.path}"]
    assert main(args) == 0
    rec = io.read_json(tmp_path / "r.json")
    assert rec["classifier_key"] == mnist_classifier.key
    assert rec["classifier_accuracy"] == mnist_classifier.accuracy
    assert "class-coverage classifier" in capsys.readouterr().out
    assert main([*args, "fid.class_coverage=false"]) == 0
    assert io.read_json(tmp_path / "r.json")["classifier_key"] is None
