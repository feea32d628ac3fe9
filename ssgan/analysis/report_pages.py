"""The tables as HTML pages for the Snakemake report (``snakemake --report``), and the order in
which the report lists tables and figures.

A CSV or Markdown file registered in the report is a download; an HTML file is shown in place.
``ssgan aggregate`` writes one self-contained page per table (``tables/html/<stem>.html``): a
CSV as an HTML table (numbers to 4 significant digits, blanks as "–"), a Markdown file
(``paper_table.md``, ``published.md``: pipe tables, headings and paragraphs, as written by this
package) as its HTML. ENTRIES orders the report: the headline results first (category
"1 Results"), then the other tables, the mechanism figures and the raw files.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from ssgan import io

RESULTS, TABLES, MECHANISMS, FILES = (
    "1 Results",
    "2 Tables",
    "3 Mechanisms",
    "4 Data files (CSV, Markdown, LaTeX)",
)
# (file under tables/ or figures/, category, title), in the order the report lists them
ENTRIES = (
    ("fid_per_dataset.png", RESULTS, "FID per dataset"),
    ("relative_reduction.png", RESULTS, "Relative FID decrease per dataset"),
    ("fid_over_training.png", RESULTS, "FID over training"),
    ("samples.png", RESULTS, "Samples"),
    ("html/leaderboard.html", RESULTS, "Leaderboard"),
    ("html/paper_table.html", RESULTS, "Paper table: Self-Sparse GAN vs WGAN-GP"),
    ("html/claims.html", RESULTS, "Mechanism claims"),
    ("html/relative_fid_reduction.html", TABLES, "Relative FID decrease: statistics"),
    ("html/published.html", TABLES, "Published values beside ours"),
    ("html/fid_pairs.html", TABLES, "FID pairs per seed"),
    ("html/runs.html", TABLES, "Runs"),
    ("html/runs_outside_config.html", TABLES, "Runs outside the config"),
    ("html/fid_bn_modes.html", TABLES, "FID by BatchNorm mode"),
    ("sparsity_over_training.png", MECHANISMS, "SASTM sparsity over training"),
    ("feature_sparsity_over_training.png", MECHANISMS, "Feature-map sparsity over training"),
    ("dead_units_over_training.png", MECHANISMS, "Dead units after BatchNorm"),
    ("weight_signs_over_training.png", MECHANISMS, "Negative weights over training"),
    ("weight_hist_end.png", MECHANISMS, "Weight histograms at the end"),
    ("spectrum_over_training.png", MECHANISMS, "Critic spectrum over training"),
    ("spectral_collapse_over_training.png", MECHANISMS, "Spectral collapse over training"),
    ("stu_density_per_layer.png", MECHANISMS, "STU-GAN masked layers"),
    ("stu_exploration_over_training.png", MECHANISMS, "STU-GAN exploration"),
)
PAGES = tuple(f for f, _, _ in ENTRIES if f.startswith("html/"))  # what aggregate writes
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:13px;margin:12px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef1f5;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fafafa}
p{max-width:60em;line-height:1.4}
"""


def entry(name: str) -> tuple[str, dict]:
    """(category, labels) of a report entry: labels sort it within its category."""
    for i, (f, category, title) in enumerate(ENTRIES):
        if f == name:
            return category, {"#": f"{i + 1:02d}", "result": title}
    raise KeyError(name)


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _cell(v) -> tuple[str, bool]:
    """(text, numeric) of one cell."""
    if v is None or (isinstance(v, float) and v != v):
        return "–", False
    if isinstance(v, float):
        return f"{v:.4g}", True
    if isinstance(v, int):
        return str(v), True
    return html.escape(str(v)), False


def csv_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = [_cell(v.item() if hasattr(v, "item") else v) for v in rec]
        rows.append(
            "<tr>"
            + "".join(f'<td class="num">{t}</td>' if n else f"<td>{t}</td>" for t, n in cells)
            + "</tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def inline(text: str) -> str:
    """Escaped text with Markdown's **bold** and `code`."""
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _pipe_row(line: str) -> list[str]:
    return [inline(c.strip()) for c in line.strip().strip("|").split("|")]


def markdown(text: str) -> str:
    """The Markdown this package writes: pipe tables (header, alignment row, rows), ``#``
    headings, paragraphs separated by blank lines."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            align = _pipe_row(block[1]) if len(block) > 1 else []
            right = [a.endswith(":") and not a.startswith(":") for a in align]
            head = "".join(f"<th>{c}</th>" for c in _pipe_row(block[0]))
            body = "".join(
                "<tr>"
                + "".join(
                    f'<td class="num">{c}</td>' if k < len(right) and right[k] else f"<td>{c}</td>"
                    for k, c in enumerate(_pipe_row(row))
                )
                + "</tr>"
                for row in block[2:]
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            continue
        m = re.match(r"(#{1,6})\s+(.*)", line)
        if m:
            n = len(m.group(1))
            out.append(f"<h{n}>{inline(m.group(2))}</h{n}>")
        elif line.strip():
            para = [line]
            while i + 1 < len(lines) and lines[i + 1].strip() and lines[i + 1][0] not in "|#":
                i += 1
                para.append(lines[i])
            out.append(f"<p>{inline(' '.join(para))}</p>")
        i += 1
    return "\n".join(out)


def write_pages(tables: Path) -> list[Path]:
    """One HTML page per table of PAGES, from the table files in ``tables``."""
    tables = Path(tables)
    written = []
    for name in PAGES:
        stem = Path(name).stem
        title = entry(name)[1]["result"]
        md, csv = tables / f"{stem}.md", tables / f"{stem}.csv"
        if md.is_file():
            body = markdown(md.read_text())
        else:
            try:
                df = pd.read_csv(csv)
            except pd.errors.EmptyDataError:
                df = pd.DataFrame()
            body = csv_table(df) if len(df.columns) else "<p>(no rows)</p>"
            if df.empty and len(df.columns):
                body += "<p>(no rows)</p>"
        path = tables / name
        io.write_text(path, page(title, f"<h2>{html.escape(title)}</h2>\n{body}"))
        written.append(path)
    return written
