"""Run discovery and the runs table: one row per run directory RESULTS/runs/<dataset>/<method>/seed<N>/
(docs/run_layout.md), with its status, FID, FID protocol and provenance; display names and
orders; the probe files of every run stacked into one table each.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ssgan import io, plugins
from ssgan.config.identity import recipe, recipe_differences
from ssgan.errors import ConfigError
from ssgan.methods.sparse_masks import MASK_COLUMNS
from ssgan.metrics.evaluate import protocol_id
from ssgan.training.runs import generator_path

BASELINE, TREATMENT = "wgan_gp", "ssgan"  # the paper's comparison
# A Self-Sparse GAN run whose SASTM output (Y, probe_sparsity.csv output_zero_frac) never has
# this share of exact zeros in any SASTM at any probe is flagged: its SASTMs stayed within that
# share of the identity, so a comparison with WGAN-GP tests WGAN-GP plus an identity module
# (docs/analysis.md).
INERT_ZERO_FRAC = 0.05
INERT_NOTE = "SASTM inert: this comparison tests an identity module"

METHOD_NAMES = {
    "wgan_gp": "WGAN-GP",
    "ssgan": "Self-Sparse GAN",
    "stu_gan": "STU-GAN",
    "sr_gan": "SR-GAN",
    "sn_gan": "SN-GAN",
}
# normalized label -> display name, in the paper's order (unknown labels go last, as-is)
DATASET_NAMES = {
    "mnist": "MNIST",
    "fashionmnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "stl10": "STL-10",
    "miniimagenet": "mini-ImageNet",
    "celebahq": "CelebA-HQ",
    "lsunbedroom": "LSUN bedroom",
    "lsunbedrooms": "LSUN bedroom",
    "sketch": "Sketch",
}

# fid.json's mode-collapse measures (ssgan/metrics/manifold.py, classifier.py) and their
# settings: null in fid.json (blank here) when off, for unlabelled datasets, or in older records
COLLAPSE_MEASURES = ["precision", "recall", "density", "coverage", "classes_covered", "class_kl"]
COLLAPSE_COLUMNS = [
    *COLLAPSE_MEASURES,
    "manifold_n",
    "manifold_seed",
    "prc_k",
    "dc_k",
    "class_kl_real",  # beside class_kl: against the classifier's histogram on real test images
    "class_min_share",  # classes_covered threshold (x 1/classes); blank: older, any sample
    "classifier_accuracy",
]
RUN_COLUMNS = [
    "dataset",
    "method",
    "method_kind",
    "seed",
    "status",
    "note",
    "iteration",
    "iterations",
    "diverged_at",
    "attempts",
    "wall_time_s",
    "fid_status",
    "fid",
    "protocol_id",
    "bn_mode",
    "fid_eval",
    "fid_batch",
    "kid_mean",
    "kid_std",
    *COLLAPSE_COLUMNS,
    "fid_iteration",
    "fid_generator",  # the weights evaluated: final | ema (fid.generator)
    "fid_best",  # secondary: the lowest FID of fid_curve.csv and fid.json (verdicts: fid)
    "fid_best_iteration",
    "n_fake",
    "n_real",
    "split",
    "resolution",
    "extractor",
    "weights_sha256",
    "torch_fidelity",
    "fid_seconds",
    "params_generator",
    "params_critic",
    "params_sastm",
    "sastm_form",  # runs with SASTM: "paper form", else how it differs (models.sastm.form_name)
    "params_active",
    "sastm_zero_max",
    "sastm_inert",
    "density_g",
    "density_d",
    "density_g_all",
    "density_d_all",
    "git_commit",
    "git_dirty",
    "device",
    "device_name",
    "train_precision",
    "cuda_graph",
    "config_hash",
    "run_dir",
]
INT_COLUMNS = [
    "iteration",
    "iterations",
    "diverged_at",
    "attempts",
    "fid_iteration",
    "fid_best_iteration",
    "classes_covered",
    "manifold_n",
    "manifold_seed",
    "prc_k",
    "dc_k",
    "n_fake",
    "n_real",
    "resolution",
    "params_generator",
    "params_critic",
    "params_sastm",
    "params_active",
]
ID = ["dataset", "method", "seed", "status"]
# tables folder name -> (file in the run dir, its columns)
PROBES = {
    "sparsity": (
        "probe_sparsity.csv",
        [
            "iteration",
            "layer",
            "channel_zero_frac",
            "spatial_zero_frac",
            "output_zero_frac",
            "channel_dead_frac",
            "spatial_dead_frac",
        ],
    ),
    "weight_signs": (
        "probe_weights.csv",
        # neg_frac among the nonzero weights; zero_frac (exact zeros) absent in older runs
        ["iteration", "layer", "neg_frac", "mean", "std", "q05", "q25", "q50", "q75", "q95"]
        + ["zero_frac"],
    ),
    "dead_units": (
        "probe_dead_units.csv",
        ["iteration", "layer", "dead_frac", "dead_channel_frac"],  # older runs: dead_frac only
    ),
    "weight_hist": (
        "weight_hist.csv",
        ["stage", "iteration", "layer", "bin_left", "bin_right", "count"],
    ),
    "fid_curves": ("fid_curve.csv", ["iteration", "fid", "kid_mean", "kid_std"]),
    "feature_sparsity": ("probe_feature_sparsity.csv", ["iteration", "layer", "zero_frac"]),
    "gradients": (  # claims C1, C2 (ssgan/probes/gradients.py)
        "probe_gradients.csv",
        [
            "iteration",
            "layer",
            "weight_grad_zero_frac",
            "unit_grad_zero_frac",
            "input_zero_channel_frac",
        ],
    ),
    "stu_masks": ("stu_masks.csv", MASK_COLUMNS),  # STU-GAN only: at 0 and every exploration
    "spectrum_summary": (  # the per-value spectra stay in the runs (spectrum_plots reads them)
        "probe_spectrum_summary.csv",
        ["iteration", "layer", "sigma1", "frac_above_half"],
    ),
}


class AnalysisError(ConfigError):
    """Bad input to ``ssgan aggregate`` / ``ssgan plot``; the message names it."""


def norm_key(label: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(label).lower())


def dataset_name(label: str) -> str:
    return DATASET_NAMES.get(norm_key(label), str(label))


# A suite's variant labels (``ssgan_sigmoid: {method: ssgan, ...}``) -> their registered method,
# learnt from the runs tables read (remember_variants), so figures and tables name a variant by
# its method: "Self-Sparse GAN · sigmoid".
VARIANT_KINDS: dict[str, str] = {}
# Labels of runs with SASTM -> their form (runs.csv ``sastm_form``): every label says whether a
# row is the paper's form or a variant of the suite, from the runs' own options, whatever the
# label: "Self-Sparse GAN (paper form)", "Self-Sparse GAN · balanced, after BN (suite variant)".
SASTM_FORMS: dict[str, str] = {}


def remember_variants(runs: pd.DataFrame) -> None:
    """Record the label -> registered method of every variant in a runs table, and the SASTM
    form of every label whose runs have one."""
    VARIANT_KINDS.clear()  # the labels of the results read now, never of earlier ones
    SASTM_FORMS.clear()
    if "method_kind" not in runs:
        return
    for label, kind in zip(runs["method"], runs["method_kind"]):
        if isinstance(kind, str) and kind and kind != label:
            VARIANT_KINDS[str(label)] = kind
    for label, form in zip(runs["method"], runs.get("sastm_form", [])):
        if isinstance(form, str) and form:
            SASTM_FORMS.setdefault(str(label), form)


def sastm_form(run: dict, params: dict) -> str:
    """The SASTM form of a run record ('' without SASTM, or without a recorded config)."""
    from ssgan.models.sastm import form_name

    opts = (run.get("config") or {}).get("sastm")
    return form_name(opts) if params.get("sastm") and isinstance(opts, dict) else ""


def _variant_suffix(label: str, kind: str) -> str:
    """What a variant label adds to its method's name: 'ssgan_sigmoid' of ssgan -> 'sigmoid',
    'stu_g005' of stu_sngan -> 'g005' (the common leading words dropped)."""
    words, known = label.split("_"), kind.split("_")
    i = 0
    while i < len(words) - 1 and i < len(known) and words[i] == known[i]:
        i += 1
    return " ".join(words[i:])


def method_name(method: str) -> str:
    """Display name: METHOD_NAMES, else the registered method's ``display_name`` (a plugin's),
    else a variant's method name with what its label adds, else the label as it is. A label
    whose runs have SASTM is named by their form (``SASTM_FORMS``)."""
    from ssgan.models.sastm import PAPER_FORM_NAME

    kind = VARIANT_KINDS.get(str(method))
    form = SASTM_FORMS.get(str(method))
    if form:  # named by its options, not by its label
        base = _own_name(kind or method) or _own_name(method) or str(method)
        return (
            f"{base} ({PAPER_FORM_NAME})"
            if form == PAPER_FORM_NAME
            else f"{base} · {form} (suite variant)"
        )
    own = _own_name(method)
    if own:
        return own
    if kind and kind != method:  # its method's own name: a form is said only where recorded
        return f"{_own_name(kind) or method_name(kind)} · {_variant_suffix(str(method), kind)}"
    return str(method)


def _own_name(method: str) -> str | None:
    from ssgan.methods import METHODS

    return METHOD_NAMES.get(method) or getattr(METHODS.get(method), "display_name", None)


def dataset_order(labels) -> list[str]:
    known = list(dict.fromkeys(DATASET_NAMES))
    rank = lambda l: known.index(norm_key(l)) if norm_key(l) in known else len(known)  # noqa: E731
    return sorted(set(labels), key=lambda l: (rank(l), str(l)))


def method_order(methods, first=(BASELINE, TREATMENT)) -> list[str]:
    """``first`` (those present), then the others alphabetically (a variant after its method)."""
    first = [m for m in dict.fromkeys(first) if m in set(methods)]
    return first + sorted(set(methods) - set(first))


def num(value) -> float:
    """A JSON number (or "inf"/"-inf"/null, see ssgan.io) as float; NaN when absent."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ---------------------------------------------------------------- runs.csv


def discover(results: Path) -> list[Path]:
    """Run directories RESULTS/runs/<dataset>/<method>/seed<int>/, with or without run.json."""
    return sorted(
        p for p in results.glob("runs/*/*/seed*") if p.is_dir() and re.fullmatch(r"seed\d+", p.name)
    )


SUITE_COPY = "suite_config.yaml"  # the workflow's copy of its suite config, in the results


def load_plugins(results: Path | None, suite: dict | None = None) -> list[str]:
    """Import the plugins that name the methods of a results folder: the suite config's
    (``suite``, else the workflow's copy ``RESULTS/suite_config.yaml``) and those each run
    recorded (run.json's ``config.plugins``), so tables and figures show a plugin method's
    display name, colour and claims. Returns one note per plugin that cannot be loaded."""
    from ssgan.config.yaml_io import load_yaml

    wanted: list = []
    copy_path = Path(results) / SUITE_COPY if results is not None else None
    if suite is None and copy_path is not None and copy_path.is_file():
        try:
            suite = load_yaml(copy_path)
        except ConfigError as err:
            return [str(err)]
    wanted += (suite or {}).get("plugins") or []
    for run_dir in discover(Path(results)) if results is not None else []:
        run, _ = _read_json(run_dir / "run.json")
        config = run.get("config") if isinstance(run, dict) else None
        wanted += (config.get("plugins") if isinstance(config, dict) else None) or []
    notes = []
    for name in dict.fromkeys(m if isinstance(m, str) else repr(m) for m in wanted):
        try:
            plugins.load([name])
        except ConfigError as err:
            notes.append(str(err))
    try:
        plugins.load()
    except ConfigError as err:
        notes.append(str(err))
    return notes


def _read_json(path: Path) -> tuple[dict | None, str]:
    if not path.is_file():
        return None, "missing"
    try:
        return io.read_json(path), ""
    except (OSError, ValueError) as err:
        return None, f"{path.name} unreadable ({type(err).__name__})"


def active_params(run: dict, params: dict):
    """Parameters of G and D not masked out: a sparse method's ``method_summary`` count
    (STU-GAN), else every parameter (dense methods); None when the record has no counts."""
    summary = run.get("method_summary") or {}
    if "params_active" in summary:
        return summary["params_active"]
    if params.get("generator") is None or params.get("critic") is None:
        return None
    return params["generator"] + params["critic"]


def densities(run: dict) -> dict:
    """A sparse run's configured densities (``stu.density_g``/``density_d``: of the masked
    weights) and its density as it is: active over all parameters of G and of D (the dense
    linear layers, biases and norms included), from ``method_summary``; empty for dense runs."""
    summary = run.get("method_summary") or {}
    if "generator_active" not in summary:
        return {}
    stu = (run.get("config") or {}).get("stu") or {}
    out = {"density_g": stu.get("density_g"), "density_d": stu.get("density_d")}
    for net, key in (("generator", "density_g_all"), ("critic", "density_d_all")):
        params = summary.get(f"{net}_params")
        out[key] = summary[f"{net}_active"] / params if params else None
    return out


def run_row(run_dir: Path, results: Path) -> dict:
    """The folder names the run (one row per cell); a record that names another run is a
    ``mismatch`` (e.g. a run directory copied to the wrong place) and enters no statistics."""
    row = dict.fromkeys(RUN_COLUMNS)
    row.update(
        dataset=run_dir.parent.parent.name,
        method=run_dir.parent.name,
        method_kind=run_dir.parent.name,
        seed=int(run_dir.name[4:]),
        run_dir=run_dir.relative_to(results).as_posix(),
    )
    notes = []
    run, err = _read_json(run_dir / "run.json")
    if run is None:  # a job that died before writing its record (or a corrupt record)
        files = sum(1 for p in run_dir.rglob("*") if p.is_file())
        row["status"] = "failed"
        notes.append(f"no run.json ({files} files)" if err == "missing" else err)
    else:
        try:  # the run's method may be a plugin's: its display name, colour, claims
            plugins.load((run.get("config") or {}).get("plugins") or None)
        except ConfigError as err:
            notes.append(str(err))
        prov = run.get("provenance") or {}
        params = run.get("params") or {}
        execution = run.get("execution") or {}
        said = (run.get("dataset"), run.get("method"), run.get("seed"))
        where = (row["dataset"], row["method"], row["seed"])
        row.update(
            method_kind=run.get("method_kind") or run.get("method") or row["method"],
            status=run.get("status") or "failed",
            iteration=run.get("iteration"),
            iterations=run.get("iterations"),
            diverged_at=run.get("diverged_at"),
            attempts=run.get("attempts"),
            wall_time_s=num(run.get("wall_time_s")),
            resolution=run.get("resolution"),
            params_generator=params.get("generator"),
            params_critic=params.get("critic"),
            params_sastm=params.get("sastm"),
            sastm_form=sastm_form(run, params),
            params_active=active_params(run, params),
            git_commit=(prov.get("git") or {}).get("commit"),
            git_dirty=(prov.get("git") or {}).get("dirty"),
            device=prov.get("device"),
            device_name=prov.get("device_name"),
            # runs recorded before the key existed computed in fp32, eagerly
            train_precision=execution.get("precision", "fp32"),
            cuda_graph=execution.get("cuda_graph", False),
            config_hash=run.get("config_hash"),
            **densities(run),
        )
        if isinstance(run.get("config"), dict):  # what the run's pair partner must share
            row["recipe"] = json.dumps(recipe(run["config"]), sort_keys=True, default=str)
        if said != where:
            notes.append(
                "run.json is for {}/{}/seed{}, the folder for {}/{}/seed{}".format(*said, *where)
            )
            row["status"] = "mismatch"
    fid, err = _read_json(run_dir / "fid.json")
    if fid is None:
        row.update(fid_status=err if err == "missing" else "unreadable", fid=math.nan)
        if err != "missing":
            notes.append(err)
    else:
        status = fid.get("status", "ok")
        if status == "ok" and (bad := invalid_fid(fid)):
            status = "invalid"
            notes.append(f"fid.json is invalid ({bad}): rerun ssgan fid --run {run_dir}")
        row.update(
            fid_status=status,
            fid=num(fid.get("fid")),
            protocol_id=protocol_id(fid) if status == "ok" else None,
            bn_mode=fid.get("bn_mode", "eval"),  # records older than the option sampled in eval
            fid_eval=num((fid.get("fid_by_bn_mode") or {}).get("eval")),
            fid_batch=num((fid.get("fid_by_bn_mode") or {}).get("batch")),
            kid_mean=num(fid.get("kid_mean")),
            kid_std=num(fid.get("kid_std")),
            fid_iteration=fid.get("iteration"),
            fid_generator=fid.get("generator", "final"),
            n_fake=fid.get("n_fake"),
            n_real=fid.get("n_real"),
            split=fid.get("split"),
            extractor=fid.get("extractor"),
            weights_sha256=fid.get("weights_sha256"),
            torch_fidelity=fid.get("torch_fidelity"),
            fid_seconds=num(fid.get("seconds")),
            **{c: num(fid.get(c)) for c in COLLAPSE_COLUMNS},
        )
        row["resolution"] = fid.get("resolution", row["resolution"])
        row["fid_best"], row["fid_best_iteration"] = best_fid(run_dir, row)
        if fid.get("reason"):
            notes.append(f"fid: {fid['reason']}")
        why = stale_fid(run_dir, run or {}, fid, row)
        if why and row["fid_status"] in ("ok", "skipped"):
            row["fid_status"] = "stale"
            notes.append(f"fid.json is stale ({why}): rerun ssgan fid --run {run_dir}")
    row["sastm_zero_max"], row["sastm_inert"] = sastm_inertness(_probe_rows(run_dir))
    if row["sastm_inert"]:
        notes.append(INERT_NOTE)
    row["note"] = "; ".join(notes)
    return row


# An unbiased KID estimate of two near-equal distributions scatters around 0: a negative mean
# is a measurement within this many of its standard deviations over the subsets.
KID_NEGATIVE_STDS = 3


def invalid_fid(fid: dict) -> str:
    """Why the numbers of an "ok" fid.json cannot be a measurement, or '': FID, a squared
    distance, must be finite and >= 0 (up to rounding); KID finite and negative only within
    KID_NEGATIVE_STDS of its subsets' std. Such a record is ``invalid``: never paired."""
    value, kid, kid_std = num(fid.get("fid")), num(fid.get("kid_mean")), num(fid.get("kid_std"))
    if not math.isfinite(value):
        return f"FID {fid.get('fid')} is not a finite number"
    if value < -1e-6:
        return f"FID {value:g} is negative"
    if fid.get("kid_mean") is not None and not math.isfinite(kid):
        return f"KID {fid.get('kid_mean')} is not a finite number"
    spread = KID_NEGATIVE_STDS * (kid_std if math.isfinite(kid_std) else 0.0)
    if math.isfinite(kid) and kid < -max(spread, 1e-6):
        return f"KID {kid:g} is negative beyond its std {kid_std:g}"
    return ""


def best_fid(run_dir: Path, row: dict) -> tuple[float, int | None]:
    """(FID, iteration) of the best evaluated generator: the lowest of fid_curve.csv's rows
    and the final FID. A secondary column, as the seed papers report it: choosing the best of
    several evaluations by the FID itself is biased low, so verdicts use the final FID."""
    best = (row["fid"], row["fid_iteration"])
    curve = run_dir / "fid_curve.csv"
    if curve.is_file() and curve.stat().st_size:
        df = pd.read_csv(curve)
        df = df[pd.to_numeric(df["fid"], errors="coerce").notna()]
        if len(df):
            low = df.loc[df["fid"].astype(float).idxmin()]
            if not math.isfinite(best[0]) or float(low["fid"]) < best[0]:
                best = (float(low["fid"]), int(low["iteration"]))
    return best if math.isfinite(best[0]) else (math.nan, None)


def _probe_rows(run_dir: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(run_dir / PROBES["sparsity"][0])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return pd.DataFrame()


def sastm_inertness(sparsity: pd.DataFrame) -> tuple[float, bool | None]:
    """(largest SASTM output zero fraction over a run's probes and SASTMs, inert flag); NaN and
    None for a run without SASTM rows (other methods, runs without the probe)."""
    if "output_zero_frac" not in sparsity:
        return math.nan, None
    zeros = pd.to_numeric(sparsity["output_zero_frac"], errors="coerce").dropna()
    if zeros.empty:
        return math.nan, None
    top = float(zeros.max())
    return top, top < INERT_ZERO_FRAC


def stale_fid(run_dir: Path, run: dict, fid: dict, row: dict) -> str:
    """Why a completed run's fid.json describes an earlier state of the run, or '': it was
    skipped while the run was not yet completed, or evaluated another iteration, config or
    generator file (its ``run_status``, ``run_config_hash``, ``generator_sha256``)."""
    if row["status"] != "completed":
        return ""
    if fid.get("status") == "skipped":
        return f"written while the run was {fid.get('run_status') or 'not completed'}"
    if None not in (row["iteration"], row["fid_iteration"]) and int(row["fid_iteration"]) != int(
        row["iteration"]
    ):  # evaluated an older generator (e.g. before a resume)
        return f"for iteration {row['fid_iteration']}, run ended at {row['iteration']}"
    if fid.get("run_config_hash") and fid["run_config_hash"] != run.get("config_hash"):
        return "for another config of the run"
    # the file it evaluated: G, or its moving average with fid.generator ema
    generator = generator_path(run_dir, None, ema=fid.get("generator") == "ema")
    if fid.get("generator_sha256") and generator.is_file():
        if io.sha256_file(generator) != fid["generator_sha256"]:
            return f"for another {generator.name}"
    return ""


def fid_staleness(run_dir: Path) -> str:
    """``stale_fid`` of a run directory's files ('' when either record is missing)."""
    run, _ = _read_json(Path(run_dir) / "run.json")
    fid, _ = _read_json(Path(run_dir) / "fid.json")
    if run is None or fid is None:
        return ""
    row = {
        "status": run.get("status"),
        "iteration": run.get("iteration"),
        "fid_iteration": fid.get("iteration"),
    }
    return stale_fid(Path(run_dir), run, fid, row)


def recipe_mismatch(baseline, treatment) -> str:
    """'' when two runs' ``recipe`` (runs table) allow a pair, else the keys in which they differ
    (ssgan.config.identity.recipe_differences; a run without a recorded config is not checked)."""
    if not isinstance(baseline, str) or not isinstance(treatment, str):
        return ""
    diff = recipe_differences(json.loads(baseline), json.loads(treatment))
    shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
    return f"config differs beyond the method ({shown})" if diff else ""


def runs_table(results: Path) -> pd.DataFrame:
    rows = [run_row(d, results) for d in discover(results)]
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    df["recipe"] = [r.get("recipe") for r in rows]  # not in runs.csv: fid_pairs compares it
    for c in INT_COLUMNS:  # nullable integers: 200, not 200.0, and blank when absent
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    remember_variants(df)
    return sort_runs(one_protocol(df))


def one_protocol(df: pd.DataFrame) -> pd.DataFrame:
    """FIDs of one dataset are compared only under one protocol (``protocol_id`` of fid.json,
    ssgan.metrics.evaluate): the one most usable runs of the dataset share (ties: the one of
    the earliest run in folder order). Runs under another get ``fid_status`` ``other protocol``
    with the reason in ``note``, so they are listed but never paired or averaged."""
    ok = usable(df)
    for dataset in df["dataset"].unique():
        here = ok & (df["dataset"] == dataset)
        ids = df.loc[here, "protocol_id"]
        if ids.nunique() < 2:
            continue
        counts = ids.value_counts()
        main = max(ids.unique(), key=lambda i: counts[i])  # first of the most common
        for i in df.index[here & (df["protocol_id"] != main)]:
            df.loc[i, "fid_status"] = "other protocol"
            note = f"FID protocol {df.loc[i, 'protocol_id']} differs from the dataset's {main}"
            df.loc[i, "note"] = "; ".join(filter(None, [df.loc[i, "note"], note]))
    return df


def sort_runs(df: pd.DataFrame, keys=("dataset", "method", "seed"), first=()) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    ranks = {"dataset": dataset_order(df["dataset"])}
    if "method" in keys:
        ranks["method"] = method_order(df["method"], [*first, BASELINE, TREATMENT])
    rank = lambda c: c.map({v: i for i, v in enumerate(ranks[c.name])}) if c.name in ranks else c  # noqa: E731
    return df.sort_values(list(keys), key=rank, kind="stable").reset_index(drop=True)


def usable(runs: pd.DataFrame) -> pd.Series:
    """A run enters the FID statistics iff it completed and has a finite FID."""
    fid = pd.to_numeric(runs["fid"], errors="coerce")
    return (runs["status"] == "completed") & (runs["fid_status"] == "ok") & np.isfinite(fid)


def why_unusable(row) -> str:
    if row is None:
        return "missing"
    if row["status"] != "completed":
        return str(row["status"])
    if row["fid_status"] == "missing":
        return "no FID"
    if row["fid_status"] != "ok":
        return f"FID {row['fid_status']}"
    return "FID non-finite"


def gather(results: Path, runs: pd.DataFrame, name: str) -> pd.DataFrame:
    """One probe file of every run, stacked, with dataset/method/seed/status in front."""
    filename, columns = PROBES[name]
    parts = []
    for row in runs.itertuples():
        path = results / row.run_dir / filename
        try:
            df = pd.read_csv(path)
        except FileNotFoundError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            print(f"aggregate: skipping {path}: {type(err).__name__}", file=sys.stderr)
            continue
        if df.empty:
            continue
        for i, c in enumerate(ID):
            df.insert(i, c, getattr(row, c))
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=ID + columns)
    out = pd.concat(parts, ignore_index=True)
    return out.reindex(columns=ID + columns + [c for c in out.columns if c not in ID + columns])
