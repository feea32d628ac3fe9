"""The sample strips of docs/demo.md from a finished run of config/demo.yaml.

    python scripts/demo_images.py [--results results/demo] [--out docs/demo]

For each method of the demo, one grey-scale PNG: seed 0's sample grids at iterations 500, 1000
and 2000 and seed 1's at 2000 (each grid is the run's own ``samples/iter_*.png``: the fixed
sample latents of that run), labelled, side by side. Small enough to commit beside the page.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

PANELS = [(0, 500), (0, 1000), (0, 2000), (1, 2000)]  # (seed, iteration)
LABEL_HEIGHT = 16
GAP = 6


def strip(runs: Path, method: str) -> Image.Image:
    grids = []
    for seed, it in PANELS:
        path = runs / method / f"seed{seed}" / "samples" / f"iter_{it:08d}.png"
        if not path.is_file():
            raise SystemExit(f"{path}: missing (has config/demo.yaml finished?)")
        grids.append((f"seed {seed}, iteration {it}", Image.open(path).convert("L")))
    w, h = grids[0][1].size
    out = Image.new("L", (len(grids) * (w + GAP) - GAP, h + LABEL_HEIGHT), color=255)
    draw = ImageDraw.Draw(out)
    for k, (label, grid) in enumerate(grids):
        x = k * (w + GAP)
        out.paste(grid, (x, LABEL_HEIGHT))
        draw.text((x + 2, 2), label, fill=0)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results/demo", help="the demo's results folder")
    p.add_argument("--out", default="docs/demo", help="where the PNGs go")
    a = p.parse_args(argv)
    runs, out = Path(a.results) / "runs" / "mnist", Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for method in sorted(d.name for d in runs.iterdir() if d.is_dir()):
        path = out / f"samples_{method}.png"
        strip(runs, method).save(path, optimize=True)
        print(f"{path}: {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
