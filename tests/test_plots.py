"""ssgan plot: every declared figure is written as a valid, non-trivial PNG and PDF."""

from pathlib import Path

import pytest
from PIL import Image

from ssgan import aggregate, plots
from ssgan.cli import main
from tests.synthetic_results import write_synthetic

REPORT = Path(__file__).resolve().parents[1] / "workflow" / "report"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def aggregated(root, **kw):
    write_synthetic(root, **kw)
    assert main(["aggregate", "--results", str(root), "--bootstrap", "200"]) == 0
    return root


def check_figures(out: Path):
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        plots.figure_files()
    )
    for name in plots.FIGURES:
        png, pdf = out / f"{name}.png", out / f"{name}.pdf"
        assert png.read_bytes()[:8] == PNG_SIGNATURE, name
        assert png.stat().st_size > 10_000, name
        with Image.open(png) as im:
            im.verify()
        with Image.open(png) as im:
            assert im.size[0] >= 600 and im.size[1] >= 300, (name, im.size)
        data = pdf.read_bytes()
        assert data[:5] == b"%PDF-" and b"%%EOF" in data[-32:] and len(data) > 5_000, name


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    root = aggregated(tmp_path_factory.mktemp("full"))
    assert main(["plot", "--results", str(root), "--out", str(root / "figures")]) == 0
    return root


def test_figures_full(full):
    check_figures(full / "figures")


def test_figures_without_probes_curves_or_samples(tmp_path):
    root = aggregated(tmp_path / "r", probes=False, curves=False, samples=False)
    plots.plot_all(root, tmp_path / "fig")
    check_figures(tmp_path / "fig")


def test_last_sample_is_the_newest_grid(full):
    assert plots.last_sample(full / "runs/mnist/ssgan/seed0").name == "iter_00000200.png"
    assert (
        plots.last_sample(full / "runs/mnist/ssgan/seed3").name == "iter_00000100.png"
    )  # diverged early
    assert plots.last_sample(full / "runs/cifar10/ssgan/seed6") is None


def test_plot_needs_aggregate_first(tmp_path, capsys):
    assert main(["plot", "--results", str(tmp_path), "--out", str(tmp_path / "f")]) == 2
    assert "ssgan aggregate" in capsys.readouterr().err


def test_every_output_has_a_report_caption():
    stems = list(plots.FIGURES) + sorted({Path(t).stem for t in aggregate.TABLES})
    assert len(set(stems)) == len(stems)
    for stem in stems:
        assert (REPORT / f"{stem}.rst").stat().st_size > 100, stem
