"""ssgan plot: every declared figure is written, and each figure draws what its tables say
(the data each figure is built from, or the drawn artists read back, on the synthetic folder)."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from PIL import Image

from ssgan.analysis import aggregate, plots, probe_plots
from ssgan.cli import main
from tests.synthetic_results import FID, write_synthetic

REPORT = Path(__file__).resolve().parents[1] / "workflow" / "report"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SS = "ssgan vs wgan_gp"


def aggregated(root, **kw):
    write_synthetic(root, **kw)
    assert main(["aggregate", "--results", str(root), "--bootstrap", "200"]) == 0
    return root


def check_files(out: Path):
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        plots.figure_files()
    )
    for name in plots.FIGURES:
        png, pdf = out / f"{name}.png", out / f"{name}.pdf"
        assert png.read_bytes()[:8] == PNG_SIGNATURE, name
        with Image.open(png) as im:
            im.verify()
        data = pdf.read_bytes()
        assert data[:5] == b"%PDF-" and b"%%EOF" in data[-32:], name


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    root = aggregated(tmp_path_factory.mktemp("full"), mechanisms=True)
    assert main(["plot", "--results", str(root), "--out", str(root / "figures")]) == 0
    return root


@pytest.fixture(scope="module")
def tables(full):
    return plots.select(plots.read_tables(full / "tables"))


def texts(fig) -> str:
    return " ".join(
        t.get_text() for ax in fig.axes for t in [ax.title, *ax.texts, *ax.get_xticklabels()]
    )


def test_figures_full(full):
    check_files(full / "figures")


def test_reduction_points_values_signs_and_order(tables):
    pts = plots.reduction_points(tables["relative_fid_reduction"], tables["fid_pairs"])
    ss = pts[pts["comparison"] == SS]
    assert list(dict.fromkeys(ss["dataset"])) == ["mnist", "fashion_mnist", "cifar10"]
    seeds = ss[(ss["kind"] == "seed") & (ss["dataset"] == "mnist")]
    assert seeds["y"].tolist() == pytest.approx([10.0, 10.0, 25.0])  # r in %, treatment better > 0
    mean = ss[(ss["kind"] == "mean") & (ss["dataset"] == "mnist")].iloc[0]
    assert (mean["x"], mean["y"]) == (0, pytest.approx(15.0)) and mean["lo"] < 15 < mean["hi"]
    sig = pts[(pts["comparison"] == "ssgan_sigmoid vs wgan_gp") & (pts["kind"] == "seed")]
    assert (sig["y"] < 0).all() and len(sig) == 8  # a worse FID is a negative decrease


def test_relative_reduction_draws_r_with_its_sign(tables):
    fig = plots.relative_reduction(tables, None)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split(":")[0] for ax in axes] == [
        "Self-Sparse GAN vs WGAN-GP",
        "Self-Sparse GAN · sigmoid vs WGAN-GP",  # a variant under its method's name
        "STU-GAN vs WGAN-GP",
    ]
    # intervals from MIN_N pairs on: MNIST (3 pairs) a hollow mean, Fashion-MNIST (8) and
    # CIFAR-10 (5) with their t intervals
    assert [c.has_yerr for c in axes[0].containers] == [False, True, True]
    diamonds = [l for l in axes[0].lines if l.get_marker() == "D"]
    assert [l.get_markerfacecolor() == "white" for l in diamonds] == [True, False, False]
    dots = np.concatenate(
        [c.get_offsets()[:, 1] for c in axes[0].collections if isinstance(c, PathCollection)]
    )
    pairs = tables["fid_pairs"]
    expected = 100 * pairs.loc[pairs["comparison"] == SS, "r"].to_numpy()
    assert sorted(dots) == pytest.approx(sorted(expected))
    means = [l.get_ydata()[0] for l in axes[0].lines if l.get_marker() == "D"]
    red = tables["relative_fid_reduction"]
    assert means == pytest.approx(100 * red.loc[red["comparison"] == SS, "r_mean"].to_numpy())
    v = [l.get_ydata()[0] for l in axes[1].lines if l.get_marker() == "D"]
    assert v == pytest.approx([-10.125]) and "does not hold" in texts(fig)
    plt.close(fig)


def test_fid_per_dataset_draws_every_usable_fid(tables):
    fig = plots.fid_per_dataset(tables, None)
    ax = next(a for a in fig.axes if a.get_title() == "Fashion-MNIST")
    dots = np.concatenate(
        [c.get_offsets()[:, 1] for c in ax.collections if isinstance(c, PathCollection)]
    )
    dots = sorted(dots)
    expected = sorted(
        v for m in ("wgan_gp", "ssgan", "ssgan_sigmoid") for v in FID["fashion_mnist", m].values()
    )
    assert dots == pytest.approx(expected)
    names = [" ".join(t.get_text().split("\n")[:-1]) for t in ax.get_xticklabels()]
    assert names == ["WGAN-GP", "Self-Sparse GAN", "Self-Sparse GAN · sigmoid"]  # wrapped
    cifar = next(a for a in fig.axes if a.get_title() == "CIFAR-10")
    assert "(n=5)" in cifar.get_xticklabels()[0].get_text()  # seed 5: another FID protocol
    # the t interval only from MIN_N seeds on: none on MNIST (4, 3 and 1 runs), all on F-MNIST
    mnist = next(a for a in fig.axes if a.get_title() == "MNIST")
    assert [c.has_yerr for c in mnist.containers] == [False, False, False]
    assert [c.has_yerr for c in ax.containers] == [True, True, True]
    assert all(ax.get_ylim()[0] < v < ax.get_ylim()[1] for v in expected)
    plt.close(fig)


def test_probe_figures_draw_the_mean_over_seeds(tables):
    fig = plots.layer_grid(
        tables, None, "feature_sparsity", "zero_frac", r"block\d+", "y", "t", "feature_sparsity"
    )
    ax = next(a for a in fig.axes if a.get_title() == "Fashion-MNIST · block1")
    lines = {tuple(l.get_color() for _ in [0]): l for l in ax.lines}
    by_color = {plots.color(m): m for m in ("wgan_gp", "ssgan", "ssgan_sigmoid")}
    final = {by_color[c[0]]: l.get_ydata()[-1] for c, l in lines.items()}
    assert final == pytest.approx({"wgan_gp": 0.4175, "ssgan": 0.635, "ssgan_sigmoid": 0.4175})
    first = {by_color[c[0]]: l.get_xdata().tolist() for c, l in lines.items()}
    assert first["ssgan"] == [0, 100, 200]
    assert ax.get_yticklabels() and ax.get_ylim()[0] < 0.4  # the empty MNIST row keeps its ticks
    plt.close(fig)
    fig = plots.layer_grid(
        tables, None, "dead_units", "dead_frac", r"bn\d+", "y", "t", "dead_units_over_training"
    )
    ax = next(a for a in fig.axes if a.get_title() == "CIFAR-10 · bn1")
    final = {l.get_color(): l.get_ydata()[-1] for l in ax.lines}
    assert final == pytest.approx({plots.color("wgan_gp"): 0.5, plots.color("ssgan"): 0.3})
    plt.close(fig)


def test_sparsity_figure_draws_dead_gates_per_sastm_layer(tables, full):
    fig = probe_plots.sparsity_over_training(tables, None)
    for what, value in (("dead channel gates", 0.25), ("dead spatial gates", 0.125)):
        ax = next(a for a in fig.axes if a.get_title().startswith(f"Fashion-MNIST · {what}\n"))
        assert [l.get_ydata()[-1] for l in ax.lines] == pytest.approx([value] * len(ax.lines))
        assert len(ax.lines) >= 1
    # one y label per row; MNIST's probes predate the dead-gate columns: said, not drawn empty
    labels = [a.get_ylabel() for a in fig.axes if a.get_title().startswith("Fashion-MNIST")]
    assert labels == ["fraction", "", "", "", ""]
    assert "not recorded by these runs" in texts(fig)
    plt.close(fig)


def test_fid_over_training_and_samples(tables, full):
    fig = plots.fid_over_training(tables, None)
    ax = next(a for a in fig.axes if a.get_title() == "MNIST · FID")
    ss = next(l for l in ax.lines if l.get_color() == plots.color("ssgan"))
    # fid_curve.csv: 1.5 FID at 100, FID at 200, over seeds 0-2 (19)
    assert ss.get_xdata().tolist() == [100, 200]
    assert ss.get_ydata().tolist() == pytest.approx([28.5, 19.0])
    # KID first (above FID): 0.01 at 100, 0.005 at 200
    titles = [a.get_title() for a in fig.axes]
    assert titles.index("MNIST · KID") < titles.index("MNIST · FID")
    ax = next(a for a in fig.axes if a.get_title() == "MNIST · KID")
    ss = next(l for l in ax.lines if l.get_color() == plots.color("ssgan"))
    assert ss.get_ydata().tolist() == pytest.approx([0.01, 0.005])
    assert "no intermediate FID" in texts(fig)  # cifar10 has no curves
    plt.close(fig)
    fig = plots.samples(tables, None, full)
    t = texts(fig)
    assert "MNIST · Self-Sparse GAN\nseed 0, iteration 200" in t
    # per dataset only the methods it runs: no "no run" panels, the variant under its name
    assert "Fashion-MNIST · Self-Sparse GAN · sigmoid" in t and "no run" not in t
    assert "MNIST · Self-Sparse GAN · sigmoid" not in t.replace("Fashion-MNIST", "")
    assert sum(bool(ax.images) for ax in fig.axes) == 3 + 3 + 2
    plt.close(fig)


def test_plot_one_comparison(tables):
    t = plots.select(tables, treatment="ssgan_sigmoid")
    assert set(t["relative_fid_reduction"]["comparison"]) == {"ssgan_sigmoid vs wgan_gp"}
    assert t["order"] == ("wgan_gp", "ssgan_sigmoid")
    assert set(t["runs"]["method"]) == set(t["feature_sparsity"]["method"]) == set(t["order"])
    with pytest.raises(plots.AnalysisError, match="no comparison with baseline=any, treatment=x"):
        plots.select(tables, treatment="x")


def test_figures_without_probes_curves_or_samples(tmp_path):
    root = aggregated(tmp_path / "r", probes=False, curves=False, samples=False)
    plots.plot_all(root, tmp_path / "fig")
    check_files(tmp_path / "fig")


def test_last_sample_is_the_newest_grid(full):
    assert probe_plots.last_sample(full / "runs/mnist/ssgan/seed0").name == "iter_00000200.png"
    assert (
        probe_plots.last_sample(full / "runs/mnist/ssgan/seed3").name == "iter_00000100.png"
    )  # diverged early
    assert probe_plots.last_sample(full / "runs/cifar10/ssgan/seed6") is None


def test_plot_names_missing_tables_and_reads_tables_elsewhere(full, tmp_path, capsys):
    assert main(["plot", "--results", str(tmp_path), "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert "lacks runs.csv, fid_pairs.csv" in err and "ssgan aggregate" in err
    elsewhere = tmp_path / "tables"
    assert (
        main(["aggregate", "--results", str(full), "--out", str(elsewhere), "--bootstrap", "50"])
        == 0
    )
    (elsewhere / "claims.csv").unlink()
    args = [
        "plot",
        "--results",
        str(full),
        "--tables",
        str(elsewhere),
        "--out",
        str(tmp_path / "f"),
    ]
    assert main(args) == 2
    assert "lacks claims.csv" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()  # no empty figures


def test_every_output_has_a_report_caption():
    stems = list(plots.FIGURES) + sorted({Path(t).stem for t in aggregate.TABLES})
    assert len(set(stems)) == len(stems)
    for stem in stems:
        assert (REPORT / f"{stem}.rst").stat().st_size > 100, stem


def test_leaderboard_reads_back(full):
    board = pd.read_csv(full / "tables" / "leaderboard.csv")
    ranked = board["ranking"] == "ranked"  # every method with >= 5 runs
    assert board[ranked].groupby("dataset")["rank"].min().eq(1).all()
    assert board.loc[~ranked, "rank"].isna().all()
    assert set(board.loc[ranked, "dataset"]) == {"fashion_mnist", "cifar10"}  # mnist: n = 1, 3


def test_relative_reduction_one_scale_and_n_on_every_panel(tables):
    """The lone STU-GAN pair (n = 1, r = -20%) does not get a panel scaled to itself: every
    panel shares one y range holding all drawn values, 0 and the published range; n is written
    beside each mean, and no interval is drawn below MIN_N pairs."""
    fig = plots.relative_reduction(tables, None)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len({ax.get_ylim() for ax in axes}) == 1
    lo, hi = axes[0].get_ylim()
    assert lo < -20 and hi > 25 and hi - lo >= plots.MIN_SPAN
    stu = axes[2]
    assert [c.has_yerr for c in stu.containers] == [False]
    assert "n=1" in [t.get_text() for t in stu.texts]
    assert "n=8" in [t.get_text() for t in axes[1].texts]
    plt.close(fig)
    # a single comparison with values near 0: the range is widened to MIN_SPAN, not zoomed
    pts = pd.DataFrame({"y": [0.5, -0.5], "lo": [np.nan, -1.0], "hi": [np.nan, 1.0], "n": [1, 5]})
    lo, hi = plots.reduction_ylim(pts, published=False)
    assert hi - lo == pytest.approx(plots.MIN_SPAN) and lo < -0.5 and hi > 0.5


def test_fid_intervals_stay_above_zero(tables):
    """Three spread FIDs: the plain t interval of the mean reaches below 0, the interval of the
    log FID back-transformed (figure and leaderboard) does not, and holds the geometric mean."""
    v = [2.0, 5.0, 60.0]
    assert plots.stats.t_ci(v)[0] < 0
    lo, hi = plots.stats.log_t_ci(v)
    assert 0 < lo < plots.stats.gmean(v) < hi
    assert np.isnan(plots.stats.log_t_ci([3.0])[0]) and np.isnan(plots.stats.log_t_ci([0.0, 2])[0])
    fig = plots.fid_per_dataset(tables, None)
    ax = next(a for a in fig.axes if a.get_title() == "CIFAR-10")
    bars = [c for c in ax.containers if c.has_yerr]
    ylo = min(seg[:, 1].min() for c in bars for seg in c.lines[2][0].get_segments())
    assert ylo > 0
    plt.close(fig)


def test_fraction_panels_show_the_whole_range_and_titles_fit(tables, full):
    fig = plots.layer_grid(
        tables, None, "dead_units", "dead_frac", r"bn\d+", "y", "t", "dead_units_over_training"
    )
    assert all(ax.get_ylim() == probe_plots.FRACTION for ax in fig.axes if ax.lines)
    plt.close(fig)
    long = "Spectral collapse over training: normalised singular values of the critic " * 2
    fig, _ = probe_plots.grid(1, 1, long)
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent()
    assert "\n" in fig._suptitle.get_text()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width  # wrapped inside the figure
    plt.close(fig)


def test_spectrum_figure_has_a_colour_key(tables, full):
    from ssgan.analysis import spectrum_plots

    fig = spectrum_plots.spectrum_over_training(tables, None, full)
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "generator iteration of the probe"]
    assert len(bars) == 1 and bars[0].get_ylim() == (0.0, 200.0)
    ax = next(a for a in fig.axes if a.get_title().startswith("Fashion-MNIST · Self-Sparse GAN\n"))
    key = bars[0]._colorbar.mappable
    cmap, norm = key.cmap, key.norm
    # each curve's colour is the key's colour of its iteration (0, 100, 200)
    assert [tuple(l.get_color()) for l in ax.lines if l.get_linestyle() == "-"] == [
        tuple(cmap(norm(it))) for it in (0, 100, 200)
    ]
    plt.close(fig)


def test_stu_layers_named_as_every_other_figure(tables):
    from ssgan.analysis import stu_plots

    fig = stu_plots.stu_density_per_layer(tables, None)
    ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in fig.axes if ax.patches]
    assert ticks == [["deconv1", "deconv2", "deconv3"], ["conv1", "conv2", "conv3"]]
    plt.close(fig)
