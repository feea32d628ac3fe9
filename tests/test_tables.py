"""Known answers for the FID tables' parts (ssgan/analysis/tables.py), called directly on a
hand-built runs table: the complete pairs, every field of a reduction row, the notes at each
number of pairs and the mode-collapse setting of the leaderboard. (tests/test_aggregate.py
checks the same tables as ``ssgan aggregate`` writes them.)"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from ssgan.analysis import stats
from ssgan.analysis import tables as T
from ssgan.analysis.runs import method_name
from ssgan.analysis.tables import Comparison

SS = Comparison(baseline="wgan_gp", treatment="ssgan")
STU = Comparison(baseline="wgan_gp", treatment="stu_gan")


def run(dataset, method, seed, fid, status="completed", fid_status="ok", protocol="p-1"):
    return dict(
        dataset=dataset,
        method=method,
        seed=seed,
        status=status,
        fid_status=fid_status,
        fid=fid,
        protocol_id=protocol,
    )


def runs_table() -> pd.DataFrame:
    rows = [run("mnist", "wgan_gp", s, f) for s, f in enumerate([10.0, 20.0, 40.0, 30.0])]
    rows += [run("mnist", "ssgan", s, f) for s, f in enumerate([9.0, 18.0, 30.0])]
    rows += [run("mnist", "ssgan", 3, math.nan, status="diverged", fid_status="missing")]
    rows += [run("mnist", "stu_gan", 1, 25.0), run("mnist", "stu_gan", 2, 20.0)]
    rows += [
        run("cifar10", m, 0, f, protocol="p-2") for m, f in (("wgan_gp", 50.0), ("ssgan", 40.0))
    ]
    rows += [run("fashion_mnist", "wgan_gp", 0, 7.0)]  # no treatment run at all
    return pd.DataFrame(rows)


def test_fid_pairs_are_the_complete_pairs_of_each_comparison_in_order():
    p = T.fid_pairs(runs_table(), [SS, STU])
    assert list(p.columns) == T.PAIR_COLUMNS
    assert list(zip(p["comparison"], p["dataset"], p["seed"])) == [
        ("ssgan vs wgan_gp", "mnist", 0),
        ("ssgan vs wgan_gp", "mnist", 1),
        ("ssgan vs wgan_gp", "mnist", 2),
        ("ssgan vs wgan_gp", "cifar10", 0),
        ("stu_gan vs wgan_gp", "mnist", 1),
        ("stu_gan vs wgan_gp", "mnist", 2),
    ]
    assert list(p.index) == list(range(6))
    assert list(p["baseline"]) == ["wgan_gp"] * 6
    assert list(p["treatment"]) == ["ssgan"] * 4 + ["stu_gan"] * 2
    assert list(p["fid_baseline"]) == [10, 20, 40, 50, 20, 40]
    assert list(p["fid_treatment"]) == [9, 18, 30, 40, 25, 20]
    assert p["r"].tolist() == pytest.approx([0.1, 0.1, 0.25, 0.2, -0.25, 0.5])
    assert p["log_ratio"].tolist() == pytest.approx(np.log([0.9, 0.9, 0.75, 0.8, 1.25, 0.5]))
    empty = T.fid_pairs(runs_table(), [])
    assert empty.empty and list(empty.columns) == T.PAIR_COLUMNS


def reduction(dataset="mnist", comp=SS, n_boot=500, seed=4):
    runs = runs_table()
    return T.reduction_row(runs, T.fid_pairs(runs, [SS, STU]), dataset, comp, n_boot, seed)


def test_reduction_row_every_field():
    r = reduction()
    assert set(r) == set(T.RED_COLUMNS)
    fb, ft = np.array([10.0, 20.0, 40.0, 30.0]), np.array([9.0, 18.0, 30.0])
    rr, d = 1 - ft / fb[:3], np.log(ft / fb[:3])
    assert (r["comparison"], r["dataset"], r["dataset_name"]) == (
        "ssgan vs wgan_gp",
        "mnist",
        "MNIST",
    )
    assert (r["baseline"], r["treatment"], r["protocol_id"]) == ("wgan_gp", "ssgan", "p-1")
    assert (r["baseline_n"], r["treatment_n"], r["n_pairs"]) == (4, 3, 3)
    assert r["baseline_fid_mean"] == pytest.approx(fb.mean())
    assert r["baseline_fid_std"] == pytest.approx(fb.std(ddof=1))
    assert r["treatment_fid_mean"] == pytest.approx(ft.mean())
    assert r["treatment_fid_std"] == pytest.approx(ft.std(ddof=1))
    assert r["r_of_means"] == pytest.approx(1 - ft.mean() / fb.mean())
    assert (r["r_mean"], r["r_std"]) == (pytest.approx(rr.mean()), pytest.approx(rr.std(ddof=1)))
    assert (r["r_ci_low"], r["r_ci_high"]) == pytest.approx(stats.bootstrap_ci(rr, 500, 4))
    assert r["log_ratio_mean"] == pytest.approx(d.mean())
    half = st.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert r["log_ratio_ci_low"] == pytest.approx(d.mean() - half)
    assert r["log_ratio_ci_high"] == pytest.approx(d.mean() + half)
    assert r["r_t_ci_low"] == pytest.approx(1 - math.exp(d.mean() + half))
    assert r["r_t_ci_high"] == pytest.approx(1 - math.exp(d.mean() - half))
    ref = st.ttest_1samp(d, 0.0)
    assert (r["t_stat"], r["p_ttest"], r["df"]) == (
        pytest.approx(ref.statistic),
        pytest.approx(ref.pvalue),
        2,
    )
    assert math.isnan(r["p_wilcoxon"])  # 3 pairs < WILCOXON_MIN_N
    assert r["p_perm"] == pytest.approx(stats.sign_flip_p(d, 4))
    assert math.isnan(r["p_ttest_holm"]) and math.isnan(r["p_perm_holm"])  # set by the table
    assert (r["verdict"], r["rule"]) == ("inconclusive", stats.RULE)
    assert (r["published_low"], r["published_high"]) == stats.PUBLISHED_RANGE
    # r_mean = 0.15 is in the range, but its interval (3 pairs) reaches far beyond it
    assert r["in_published_range"] is None and r["r_t_ci_low"] < 0.0476
    assert (r["n_bootstrap"], r["bootstrap_seed"]) == (500, 4)
    assert (r["n_dropped"], r["dropped"]) == (1, "seed 3: ssgan diverged")
    assert r["note"] == "n = 3 < 5 pairs: too few for a verdict (descriptive only)"
    assert (r["perm_verdict"], r["tests_disagree"]) == ("inconclusive", False)


def test_reduction_row_notes_and_undefined_values_by_number_of_pairs():
    one = reduction("cifar10")
    assert (one["n_pairs"], one["protocol_id"], one["r_mean"]) == (1, "p-2", pytest.approx(0.2))
    assert one["note"] == "1 complete pair: std, CI and tests undefined"
    assert math.isnan(one["r_std"]) and math.isnan(one["r_t_ci_low"])
    assert one["log_ratio_mean"] == pytest.approx(math.log(0.8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning about empty means
        none = reduction("fashion_mnist")
    assert none["n_pairs"] == 0 and none["note"] == "no complete pairs: statistics undefined"
    assert (none["baseline_n"], none["treatment_n"]) == (1, 0)
    assert math.isnan(none["r_of_means"]) and math.isnan(none["log_ratio_mean"])
    assert none["in_published_range"] is None and none["dropped"] == "seed 0: ssgan missing"
    rows = [
        run("lsun", m, s, 10.0 + s - (m == "ssgan")) for m in ("wgan_gp", "ssgan") for s in range(6)
    ]
    runs = pd.DataFrame(rows)
    six = T.reduction_row(runs, T.fid_pairs(runs, [SS]), "lsun", SS, 100, 3)
    d = np.log((np.arange(6) + 9.0) / (np.arange(6) + 10.0))
    assert six["n_pairs"] == 6 and six["note"] == "" and six["protocol_id"] == "p-1"
    assert six["p_wilcoxon"] == pytest.approx(st.wilcoxon(d).pvalue)
    r6 = 1 - np.exp(d)
    assert stats.bootstrap_ci(r6, 100, 0) != stats.bootstrap_ci(r6, 100, 3)  # the seed matters
    assert (six["r_ci_low"], six["r_ci_high"]) == stats.bootstrap_ci(r6, 100, 3)
    fb = 10.0 + np.arange(17)
    ft = fb * np.exp(
        [
            0.3,
            -0.2,
            0.1,
            -0.4,
            0.25,
            0.05,
            -0.1,
            0.2,
            -0.3,
            0.15,
            0.1,
            -0.05,
            0.2,
            -0.1,
            0.1,
            0,
            0.2,
        ]
    )
    rows = [run("lsun", "wgan_gp", s, f) for s, f in enumerate(fb)]
    runs = pd.DataFrame(rows + [run("lsun", "ssgan", s, f) for s, f in enumerate(ft)])
    many = T.reduction_row(runs, T.fid_pairs(runs, [SS]), "lsun", SS, 10, 3)
    d = np.log(ft / fb)
    assert stats.sign_flip_p(d, 3) != stats.sign_flip_p(d, 0)  # n > 16: Monte Carlo, seeded
    assert many["p_perm"] == stats.sign_flip_p(d, 3)


def test_reduction_row_protocol_of_the_pairs_methods_only():
    runs = runs_table()
    runs.loc[runs["method"].isin(["wgan_gp", "ssgan"]), "protocol_id"] = None
    r = T.reduction_row(runs, T.fid_pairs(runs, [SS]), "mnist", SS, 50, 0)
    assert r["protocol_id"] is None  # stu_gan's p-1 is not this comparison's


def test_manifold_setting_of_runs_with_precision():
    sub = pd.DataFrame(
        dict(
            precision=[0.5, "n/a", math.nan],
            manifold_n=[64, 64, 64],
            prc_k=[3, 3, 3],
            dc_k=[5, 5, 5],
        ),
        index=[7, 8, 9],
    )
    got = T._manifold_setting(sub)
    assert list(got.index) == [7, 8, 9] and got.dtype == object
    assert got.tolist() == ["n=64 k=3/5", None, None]


def paired_runs(effects: dict[str, float], n=7) -> pd.DataFrame:
    """Per dataset, n seeds of wgan_gp and ssgan with FID_ssgan = FID_wgan_gp * exp(effect +
    a small seed-dependent wobble)."""
    rows = []
    for dataset, effect in effects.items():
        for s in range(n):
            fb = 20.0 + 3 * s
            rows += [run(dataset, "wgan_gp", s, fb)]
            rows += [
                run(
                    dataset,
                    "ssgan",
                    s,
                    fb * math.exp(effect + 0.01 * ((s * 5) % 7 - 3) + 0.0003 * s**2),
                )
            ]
    return pd.DataFrame(rows)


def test_reduction_table_holm_across_datasets_then_the_verdict():
    runs = paired_runs({"mnist": -0.2, "fashion_mnist": 0.2, "cifar10": 0.0})
    pairs = T.fid_pairs(runs, [SS])
    datasets = {SS.name: ["mnist", "fashion_mnist", "cifar10"], STU.name: []}
    red = T.reduction_table(runs, pairs, [STU, SS], datasets, n_boot=100, seed=1)
    assert list(red.columns) == T.RED_COLUMNS
    assert list(red["dataset"]) == ["mnist", "fashion_mnist", "cifar10"]  # no rows for STU
    back = Comparison("ssgan", "wgan_gp")  # the other way round: a second block of rows
    both = T.reduction_table(
        runs, T.fid_pairs(runs, [SS, back]), [SS, back], datasets | {back.name: ["mnist"]}
    )
    assert list(both.index) == list(range(4)) and list(both["comparison"])[-1] == back.name
    ci = lambda n_boot, seed: tuple(  # noqa: E731
        T.reduction_row(runs, pairs, "mnist", SS, n_boot, seed)[k]
        for k in ("r_ci_low", "r_ci_high")
    )
    assert (both.iloc[0]["r_ci_low"], both.iloc[0]["r_ci_high"]) == ci(10000, 0)  # the defaults
    assert ci(10000, 0) != ci(10000, 1) and ci(10000, 0) != ci(10001, 0)
    rows = [T.reduction_row(runs, pairs, d, SS, 100, 1) for d in datasets[SS.name]]
    p_t, p_perm = [r["p_ttest"] for r in rows], [r["p_perm"] for r in rows]
    assert red["p_ttest_holm"].tolist() == pytest.approx(list(stats.holm(p_t)))
    assert red["p_perm_holm"].tolist() == pytest.approx(list(stats.holm(p_perm)))
    assert red["p_perm_holm"].iloc[0] == pytest.approx(min(1.0, 3 * min(p_perm)))
    assert list(red["verdict"]) == ["holds", "does not hold", "inconclusive"]
    empty = T.reduction_table(runs, pairs, [], {}, n_boot=10)
    assert empty.empty and list(empty.columns) == T.RED_COLUMNS


def test_leaderboard_ranks_means_reductions_and_the_main_manifold_setting():
    runs = paired_runs({"mnist": -0.2, "cifar10": 0.1})
    runs = pd.concat(
        [
            runs,
            pd.DataFrame(
                [
                    run("mnist", "stu_gan", 0, 20.0),  # ties wgan_gp's mean FID of 29
                    run("mnist", "stu_gan", 1, 38.0),
                    run("mnist", "stu_gan", 2, math.nan, status="failed", fid_status="missing"),
                    run("mnist", "ssgan_sigmoid", 0, 90.0),  # a variant of ssgan
                    run("cifar10", "ssgan_sigmoid", 0, 90.0),  # its kind not recorded here
                ]
            ),
        ],
        ignore_index=True,
    )
    runs["method_kind"] = runs["method"].map({"stu_gan": "stu_gan", "ssgan_sigmoid": "ssgan"})
    runs.loc[(runs["dataset"] == "cifar10"), "method_kind"] = None  # older records: no kind
    runs.loc[runs["method"] == "stu_gan", "protocol_id"] = "p-3"  # each method's own protocol
    for c in ("precision", "recall", "density", "coverage"):
        runs[c] = 0.5
    runs.loc[(runs["method"] == "ssgan") & (runs["dataset"] == "mnist"), "precision"] = 0.8
    runs["manifold_n"], runs["prc_k"], runs["dc_k"] = 64, 3, 5
    odd = (runs["method"] == "ssgan") & (runs["seed"] == 0) & (runs["dataset"] == "mnist")
    runs.loc[odd, ["manifold_n", "precision"]] = (96, 0.0)  # another n: left out of the means
    runs["recall"] = runs["recall"].astype(object)  # as read from JSON records
    runs.loc[runs["method"] == "wgan_gp", "recall"] = "n/a"  # not a number: no mean
    runs["classes_covered"] = (
        runs["seed"].astype(float) + 5
    )  # over every usable run (>= 5: none collapsed)
    runs["class_kl"] = runs["seed"].astype(float) / 10
    red = T.reduction_table(
        runs, T.fid_pairs(runs, [SS]), [SS], {SS.name: ["mnist", "cifar10"]}, n_boot=50
    )
    lb = T.leaderboard(runs, red)
    assert list(lb.columns) == T.LEADER_COLUMNS and lb["rank"].dtype == "Int64"
    key = list(zip(lb["dataset"], lb["method"]))
    assert key == [  # by mean FID
        ("mnist", "ssgan"),
        ("mnist", "wgan_gp"),
        ("mnist", "stu_gan"),
        ("mnist", "ssgan_sigmoid"),
        ("cifar10", "wgan_gp"),
        ("cifar10", "ssgan"),
        ("cifar10", "ssgan_sigmoid"),
    ]
    # stu_gan (2 runs) and ssgan_sigmoid (1) have fewer than MIN_N: no ranks, only description
    assert lb["rank"].isna().all()
    assert set(lb["ranking"]) == {f"descriptive: a method has n < {stats.MIN_N} runs"}
    two = runs[runs["method"].isin(["wgan_gp", "ssgan"])]  # 7 seeds each
    ranked = T.leaderboard(two, red)
    assert list(zip(ranked["dataset"], ranked["method"], ranked["rank"])) == [
        ("mnist", "ssgan", 1),
        ("mnist", "wgan_gp", 2),
        ("cifar10", "wgan_gp", 1),
        ("cifar10", "ssgan", 2),
    ]
    assert set(ranked["ranking"]) == {"ranked"}
    tie = pd.concat([two, runs[runs["method"] == "stu_gan"]] * 1, ignore_index=True)
    tie = pd.concat(
        [tie, pd.DataFrame([run("mnist", "stu_gan", s, 29.0) for s in range(3, 6)])],
        ignore_index=True,
    )  # stu_gan: 5 usable runs, mean 29 = wgan_gp's: ties share the better rank
    t = T.leaderboard(tie, red).set_index(["dataset", "method"])["rank"]
    assert (t["mnist", "wgan_gp"], t["mnist", "stu_gan"], t["mnist", "ssgan"]) == (2, 2, 1)
    m = lb[lb["dataset"] == "mnist"].set_index("method")
    fb = np.array([20.0 + 3 * s for s in range(7)])
    assert m.loc["wgan_gp", "fid_mean"] == pytest.approx(fb.mean())
    assert m.loc["wgan_gp", "fid_std"] == pytest.approx(fb.std(ddof=1))
    lo, hi = np.exp(stats.t_ci(np.log(fb)))  # the interval of log FID, back-transformed
    assert (m.loc["wgan_gp", "fid_ci_low"], m.loc["wgan_gp", "fid_ci_high"]) == pytest.approx(
        (lo, hi)
    )
    assert m.loc["wgan_gp", "fid_gmean"] == pytest.approx(np.exp(np.log(fb).mean()))
    assert lo < m.loc["wgan_gp", "fid_gmean"] < hi
    assert (m.loc["wgan_gp", "n"], m.loc["stu_gan", "n"]) == (7, 2)
    assert m.loc["stu_gan", "fid_mean"] == pytest.approx(29.0)
    assert list(m["method_kind"]) == ["ssgan", "wgan_gp", "stu_gan", "ssgan"]
    c = lb[lb["dataset"] == "cifar10"].set_index("method")
    assert list(c["method_kind"]) == ["wgan_gp", "ssgan", "ssgan_sigmoid"]  # the name itself
    assert list(m["method_name"]) == [method_name(x) for x in m.index]
    assert m.loc["ssgan", "dataset_name"] == "MNIST"
    mine = red[red["dataset"] == "mnist"].iloc[0]
    for k in ("baseline", "n_pairs", "r_mean", "r_t_ci_low", "r_t_ci_high", "p_ttest_holm"):
        assert m.loc["ssgan", k] == mine[k], k
    assert m.loc["ssgan", "verdict"] == "holds"
    assert pd.isna(m.loc["wgan_gp", "baseline"]) and pd.isna(m.loc["wgan_gp", "verdict"])
    assert m.loc["ssgan", "precision_mean"] == pytest.approx(0.8)  # the n=96 run left out
    assert math.isnan(m.loc["wgan_gp", "recall_mean"])
    assert m.loc["ssgan", "recall_mean"] == pytest.approx(0.5)
    assert m.loc["ssgan", "classes_covered_mean"] == pytest.approx(8.0)  # all 7 seeds
    assert m.loc["ssgan", "class_kl_mean"] == pytest.approx(0.3)  # all 7 seeds, n=96 too
    assert m.loc["stu_gan", "classes_covered_mean"] == pytest.approx(5.5)
    assert set(lb["manifold_setting"]) == {"n=64 k=3/5"}  # the most common, not the largest
    assert list(m["protocol_id"]) == ["p-1", "p-1", "p-3", "p-1"]
    assert T.leaderboard(runs.iloc[0:0], red.iloc[0:0]).empty
    none_usable = runs.assign(status="failed")
    assert T.leaderboard(none_usable, red.iloc[0:0])["n"].tolist() == [0] * 7


def test_comparisons_defaults_options_and_errors():
    runs = runs_table()
    assert T.comparisons(runs) == [SS, STU]  # every method against wgan_gp, paper order
    assert T.comparisons(runs, baseline="wgan_gp") == [SS, STU]
    assert T.comparisons(runs, baseline="ssgan") == [
        Comparison("ssgan", "wgan_gp"),
        Comparison("ssgan", "stu_gan"),
    ]
    assert T.comparisons(runs, treatment="stu_gan") == [STU]
    suite = {"comparisons": [{"baseline": "ssgan", "treatment": "stu_gan", "claims": ["C3"]}]}
    assert T.comparisons(runs, suite) == [Comparison("ssgan", "stu_gan", ("C3",))]
    assert T.comparisons(runs[runs["method"] != "wgan_gp"]) == []  # no default baseline
    with pytest.raises(T.AnalysisError) as err:
        T.comparisons(runs, treatment="sn_gan")
    assert str(err.value) == (
        "treatment 'sn_gan' has no runs in this results folder; methods with runs: "
        "wgan_gp, ssgan, stu_gan"
    )
    with pytest.raises(T.AnalysisError) as err:
        T.comparisons(runs.iloc[0:0], baseline="wgan_gp", treatment="ssgan")
    assert str(err.value).endswith("methods with runs: none")
    with pytest.raises(T.AnalysisError) as err:
        T.comparisons(
            runs, {"comparisons": [{**suite["comparisons"][0], "claims": ["C3", "X", "Y"]}]}
        )
    assert str(err.value) == (
        "comparison 'stu_gan vs ssgan': unknown claim(s) X, Y; known: "
        "C0, C1, C2, C3, N0, M1, MC1, MC2, MC3, SR1"
    )
    with pytest.raises(T.AnalysisError, match="baseline and treatment are the same method"):
        T.comparisons(runs, baseline="ssgan", treatment="ssgan")


def test_published_number_is_ours_only_when_every_run_of_the_label_matches(tmp_path, monkeypatch):
    """A published row's ``match`` must hold for all of a method label's usable runs, not any:
    a label one of whose runs was trained otherwise (here one seed's SASTM gate) is not "ours"
    for that number; once every run matches it is, with all of them in the mean."""
    from ssgan import published
    from ssgan.analysis.published_table import published_table
    from ssgan.analysis.runs import runs_table
    from ssgan.config import resolve
    from tests.synthetic_results import write_fid_grid

    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "paper.yaml").write_text(
        "paper: P\nsource: S\nentries:\n"
        "  - {dataset: mnist, what: relu SASTM, match: {method: ssgan, sastm.gate: relu},"
        " fid: 10.0, selection: final, protocol: p}\n"
        "  - {dataset: mnist, what: WGAN-GP, match: {method: wgan_gp}, fid: 20.0,"
        " selection: final, protocol: p}\n"
    )
    monkeypatch.setattr(published, "HERE", folder)
    published.registry.cache_clear()
    root = write_fid_grid(tmp_path / "r", {"mnist": 0.1}, 3)

    def gates(*values):
        for seed, gate in enumerate(values):
            for method in ("wgan_gp", "ssgan"):
                path = root / "runs" / "mnist" / method / f"seed{seed}" / "run.json"
                cfg = resolve("mnist", method, seed, overrides={"sastm": {"gate": gate}})
                path.write_text(json.dumps({**json.loads(path.read_text()), "config": cfg}))
        runs = runs_table(root)
        return published_table(root, runs, pd.DataFrame()).set_index("what")

    try:
        mixed = gates("relu", "relu", "sigmoid")
        assert list(mixed.index) == ["WGAN-GP"] and mixed.loc["WGAN-GP", "n"] == 3
        same = gates("relu", "relu", "relu")
        assert list(same.index) == ["relu SASTM", "WGAN-GP"]
        assert (same.loc["relu SASTM", "method"], same.loc["relu SASTM", "n"]) == ("ssgan", 3)
    finally:
        published.registry.cache_clear()
