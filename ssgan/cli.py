"""The ``ssgan`` command line. Each subcommand is a thin wrapper around a library function;
the workflow's rules call these commands and nothing else."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> "module:function"; the function takes the parsed args and returns an exit code.
HANDLERS = {
    "prepare-data": "ssgan.data.prepare:cli",
    "train": "ssgan.training.seed_batch:cli",
    "sample": "ssgan.training.runs:sample_cli",
    "real-stats": "ssgan.metrics.cli:real_stats_cli",
    "fid": "ssgan.metrics.cli:fid_cli",
    "aggregate": "ssgan.analysis.aggregate:cli",
    "plan": "ssgan.analysis.plan:cli",
    "plot": "ssgan.analysis.plots:cli",
    "config": "ssgan.config.show:cli",
}

EXIT_BAD_INPUT = 2


def _epilog() -> str:
    from ssgan import config as C
    from ssgan import plugins
    from ssgan.errors import ConfigError

    try:  # installed plugins' methods and datasets are listed and accepted
        plugins.load()
        broken = ""
    except ConfigError as err:  # --help and --version answer; the commands report it
        broken = f"\nnot loaded: {err}"
    from ssgan.data import DATASETS
    from ssgan.methods import METHODS

    sections = ", ".join(f"{k}.*" for k, v in C.defaults().items() if isinstance(v, dict))
    return (
        f"datasets: {', '.join(sorted(DATASETS))}\n"
        f"methods: {', '.join(sorted(METHODS))}\n"
        f"key=value overrides: {sections} (every key of ssgan/config/defaults.yaml)"
        f"{broken}"
    )


class _Version(argparse.Action):
    """``--version``; asks git only when given (every other command starts without it)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from ssgan.provenance import version_line

        print(version_line())
        parser.exit()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ssgan",
        description="Self-Sparse GAN reproducibility suite",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--version", action=_Version, help="print the version and the git commit, then exit"
    )
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "prepare-data",
        help="check (or download) a dataset, decode it once into prepared arrays, record them",
    )
    d.add_argument("--dataset", required=True, help="dataset name (registry or suite entry)")
    d.add_argument("--config", help="run or suite config (YAML) whose data settings to use")
    d.add_argument("--out", help="JSON record (images per split, content sha256)")
    d.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")

    t = sub.add_parser(
        "train",
        help="train one run (dataset, method, seed), or several seeds, into a directory",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument(
        "--dataset", required=True, help="dataset (a suite config's entry name or a registry name)"
    )
    t.add_argument("--method", required=True, help="method (registry name or a suite's variant)")
    t.add_argument("--seed", type=int, help="training seed (paired across methods)")
    t.add_argument(
        "--seeds",
        metavar="S,S,...",
        help="several seeds of this dataset and method, one process: trained as one network "
        "where the batched trainer takes the config, else one after another; each into "
        "OUT/seed<s>, an ordinary run directory (the workflow's results/runs/<dataset>/<method>)",
    )
    t.add_argument("--out", required=True, help="run directory (with --seeds: their parent)")
    t.add_argument("--config", help="run config or suite config (YAML)")
    t.add_argument(
        "--supersede",
        metavar="DIR",
        help="move a run of another config found in --out to DIR/<dataset>/<method>/"
        "seed<s>-<its config hash> instead of refusing (the workflow: results/superseded)",
    )
    t.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. train.iterations=500")

    s = sub.add_parser("sample", help="write a grid of samples from a run's final generator")
    s.add_argument("--run", required=True, help="run directory (with generator.pt)")
    s.add_argument("--n", type=int, default=64, help="number of samples in the grid (default 64)")
    s.add_argument("--out", required=True, help="PNG file")
    s.add_argument(
        "--seed",
        type=int,
        default=None,
        help="latent seed (default: the run seed's sample stream, as the training grids)",
    )

    r = sub.add_parser("real-stats", help="compute (or reuse) cached FID statistics of a dataset")
    r.add_argument("--dataset", required=True, help="dataset name (registry or suite entry)")
    r.add_argument("--split", default=None, help="dataset split (default: the config's fid.split)")
    r.add_argument("--out", help="JSON record of the cache entry (key, path, n_real)")
    r.add_argument("--config", help="run or suite config (YAML) whose fid settings to use")
    r.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")

    f = sub.add_parser(
        "fid",
        help="FID/KID (and Inception Score) of a run, an image folder or a generator file",
        description="--run DIR: evaluate a run and write its fid.json (the workflow's). "
        "--fake PATH --real DATASET|FOLDER: score a folder of images, a run directory or a "
        "generator file (TorchScript .pt/.pth, or FILE.py[:NAME] building an nn.Module) "
        "against a dataset's cached real statistics or a folder of images; prints the record "
        "(fid.json's fields and protocol_id) and writes it to --out.",
    )
    what = f.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", help="run directory: writes DIR/fid.json (and fid_curve.csv)")
    what.add_argument(
        "--fake",
        metavar="PATH",
        help="folder of images, run directory, or generator file: TorchScript (.pt, .pth, .jit) "
        "or FILE.py[:NAME] (NAME: an nn.Module, or a class/function returning one)",
    )
    f.add_argument(
        "--real",
        metavar="DATASET|FOLDER",
        help="with --fake: a dataset name (its cached real statistics, fid.n_real images of "
        "fid.split) or a folder of images (default for a run: the run's dataset)",
    )
    f.add_argument(
        "--out",
        metavar="FILE",
        help="with --fake: where the JSON record goes ('-': stdout); default beside --fake: "
        "<fake>.fid-<real>.json",
    )
    f.add_argument(
        "--z-dim",
        type=int,
        default=None,
        help="with --fake FILE: the generator's latent size (default: read from the module: "
        "a z_dim/latent_dim attribute or its first layer)",
    )
    f.add_argument(
        "--seed",
        type=int,
        default=0,
        help="with --fake FILE: latents from this seed's eval stream, as a run of that seed",
    )
    f.add_argument(
        "--isc",
        action="store_true",
        help="with --fake: also the Inception Score (needs torch-fidelity's own Inception "
        "weights file, which has the logits: fid.weights=PATH or $SSGAN_INCEPTION_WEIGHTS)",
    )
    f.add_argument(
        "--checkpoint", type=int, default=None, help="evaluate this iteration's snapshot only"
    )
    f.add_argument("--config", help="run or suite config (YAML) whose fid: section to use")
    f.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="fid.* keys (e.g. fid.n_fake=10000 fid.device=cuda); data.root; with --fake any "
        "data.* key (e.g. data.resolution=64 against a folder)",
    )

    a = sub.add_parser("aggregate", help="tables and statistics from a results folder")
    a.add_argument("--results", required=True, help="results folder (holding runs/)")
    a.add_argument("--out", default=None, help="tables folder (default: RESULTS/tables)")
    a.add_argument(
        "--bootstrap", type=int, default=10000, help="bootstrap resamples (default 10000)"
    )
    a.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    a.add_argument("--config", help="suite config whose 'comparisons:' to use")
    a.add_argument(
        "--baseline", help="one comparison: method the reduction is measured against (wgan_gp)"
    )
    a.add_argument(
        "--treatment", help="one comparison: method whose reduction is measured (default: each)"
    )

    n = sub.add_parser(
        "plan",
        help="seeds needed: minimum detectable FID reduction and seeds for 80%% power",
        # a description is printed as it is (only help strings are %-formatted)
        description="Per comparison x dataset: the minimum FID reduction the verdict rule "
        "detects with 80% power at the grid's n and family size, and the seeds needed for "
        "4.76%, 10% and 20%, from a results folder's measured seed-to-seed sd of the log "
        "FID ratios (--results) or an assumed one (--sd; with --config, for that grid).",
    )
    n.add_argument("--results", help="results folder: sd measured on its complete FID pairs")
    n.add_argument("--sd", type=float, help="assumed sd of log(FID_t/FID_b) between seeds")
    n.add_argument("--config", help="suite config: its comparisons, seeds and datasets")
    n.add_argument("--n", type=int, help="paired seeds (default: the grid's / the folder's)")
    n.add_argument("--family", type=int, help="Holm family size (default: datasets compared)")
    n.add_argument("--out", help="also write the table as CSV here")

    g = sub.add_parser("plot", help="figures from an aggregated results folder")
    g.add_argument("--results", required=True, help="results folder (holding runs/)")
    g.add_argument("--tables", default=None, help="tables folder (default: RESULTS/tables)")
    g.add_argument("--out", required=True, help="figures folder (PNG and PDF)")
    g.add_argument("--baseline", help="draw only the comparisons with this baseline")
    g.add_argument("--treatment", help="draw only the comparisons with this treatment")
    c = sub.add_parser(
        "config",
        help="print a resolved config as YAML: a run's, or one cell of a suite config",
        description="With --run DIR: the config the run trained with (its run.json). Otherwise "
        "the run config that `ssgan train` (and the workflow) resolves for --dataset, --method "
        "and --seed from --suite (a suite config) and key=value overrides.",
    )
    c.add_argument("--run", metavar="DIR", help="run directory: print its own config")
    c.add_argument("--suite", metavar="FILE", help="suite config (YAML), e.g. config/demo.yaml")
    c.add_argument("--dataset", help="dataset (registry name or the suite's entry)")
    c.add_argument("--method", help="method (registry name or the suite's variant)")
    c.add_argument("--seed", type=int, help="training seed")
    c.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    module, func = HANDLERS[args.command].split(":")
    from ssgan.data import DataError
    from ssgan.errors import ConfigError
    from ssgan.training.runs import RunError

    try:
        return int(getattr(importlib.import_module(module), func)(args) or 0)
    except (ConfigError, DataError, RunError) as err:
        print(f"ssgan {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
