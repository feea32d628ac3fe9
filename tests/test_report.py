"""The Snakemake report from a synthetic results folder: tables as HTML pages shown in place,
the headline figures and tables first, every figure once (PNG), the raw files as downloads."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ssgan.analysis import report_pages
from ssgan.analysis.aggregate import PAGES, TABLES
from ssgan.analysis.plots import FIGURES
from ssgan.cli import main
from tests.conftest import wall_limit
from tests.synthetic_results import write_synthetic

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = write_synthetic(tmp_path_factory.mktemp("synthetic"), mechanisms=True)
    assert main(["aggregate", "--results", str(root), "--bootstrap", "100"]) == 0
    assert main(["plot", "--results", str(root), "--out", str(root / "figures")]) == 0
    return root


def test_every_table_and_figure_has_its_place():
    names = [f for f, _, _ in report_pages.ENTRIES]
    assert len(set(names)) == len(names)
    assert {f"{n}.png" for n in FIGURES} <= set(names)
    assert [f for f in names if f.startswith("html/")] == list(PAGES)
    assert names[:4] == [  # the headline figures first
        "fid_per_dataset.png",
        "relative_reduction.png",
        "fid_over_training.png",
        "samples.png",
    ]
    assert report_pages.entry("samples.png") == ("1 Results", {"#": "04", "result": "Samples"})
    with pytest.raises(KeyError):
        report_pages.entry("nothing.png")


def test_pages_render_the_tables(synthetic):
    tables = synthetic / "tables"
    board = (tables / "html" / "leaderboard.html").read_text()
    assert board.startswith("<!DOCTYPE html>") and "<th>fid_mean</th>" in board
    assert '<td class="num">26.84</td>' in board  # Fashion-MNIST, Self-Sparse GAN, 4 digits
    assert "<td>–</td>" in board  # a blank cell (mnist has no rank)
    paper = (tables / "html" / "paper_table.html").read_text()
    assert "<th>Dataset</th>" in paper and "<td>Fashion-MNIST</td>" in paper
    assert paper.count("<tr>") == 1 + 3  # header and three datasets
    assert "<p>FID: mean ± std" in paper and "|" not in paper.split("<body>")[1]
    assert report_pages.markdown("a **b** `c`\nd\n\n# T") == (
        "<p>a <strong>b</strong> <code>c</code> d</p>\n<h1>T</h1>"
    )
    assert "&lt;x&gt;" in report_pages.csv_table(__import__("pandas").DataFrame({"a": ["<x>"]}))


@pytest.mark.slow
def test_snakemake_report_from_synthetic_results(synthetic, tmp_path):
    """A Snakefile that registers the synthetic tables and figures with this workflow's
    helpers (workflow/rules/report.smk, as analyze.smk does); its report read back."""
    (tmp_path / "Snakefile").write_text(
        "from pathlib import Path\n"
        f'include: "{REPO}/workflow/rules/report.smk"\n'
        "from ssgan.analysis.aggregate import PAGES, TABLES\n"
        "from ssgan.analysis.plots import FIGURES\n"
        f'SRC = "{synthetic}"\n'
        "rule all:\n    input: 'tables/html/leaderboard.html', 'figures/samples.png'\n"
        "rule tables:\n"
        "    output: [report_file(f'tables/{n}') for n in TABLES],"
        " [report_entry(f'tables/{n}', n) for n in PAGES]\n"
        '    shell: "cp -r {SRC}/tables/. tables/"\n'
        "rule figures:\n"
        "    output: [report_entry(f'figures/{n}.png', f'{n}.png') for n in FIGURES],"
        " [f'figures/{n}.pdf' for n in FIGURES]\n"
        '    shell: "cp -r {SRC}/figures/. figures/"\n'
    )
    exe = Path(sys.executable).with_name("snakemake")
    run = dict(cwd=tmp_path, capture_output=True, text=True, timeout=wall_limit(600))
    proc = subprocess.run([str(exe), "--cores", "1"], **run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([str(exe), "--cores", "1", "--report", "report.html"], **run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "report.html").read_text()
    categories = json.loads(re.search(r"var categories = (\{.*?\});\n", text).group(1))
    results = json.loads(re.search(r"var results = (\{.*?\});\n", text).group(1))
    assert sorted(categories) == [
        "1 Results",
        "2 Tables",
        "3 Mechanisms",
        "4 Data files (CSV, Markdown, LaTeX)",
    ]
    first = categories["1 Results"]["Other"]
    by_order = sorted(first, key=lambda p: results[p]["labels"]["#"])
    assert [Path(p).name for p in by_order[:5]] == [
        "fid_per_dataset.png",
        "relative_reduction.png",
        "fid_over_training.png",
        "samples.png",
        "leaderboard.html",
    ]
    assert results[by_order[4]]["mime_type"] == "text/html"
    assert not [p for p in results if p.endswith(".pdf")]  # each figure once
    pngs = [p for p in results if p.endswith(".png")]
    assert len(pngs) == len(FIGURES)
    raw = categories["4 Data files (CSV, Markdown, LaTeX)"]["Other"]
    assert sorted(Path(p).name for p in raw) == sorted(TABLES)
    assert "Leaderboard" in results[by_order[4]]["caption"]
