"""The Python interface (``import ssgan``): the CLI's operations as functions on dicts, run
directories and DataFrames, for a notebook or a script. Each one calls what the CLI calls, so a
run trained here is the run ``ssgan train`` would write (same directory layout, same bitwise
resume) and a FID computed here is the number ``ssgan fid`` records, under the same protocol.

::

    cfg = ssgan.resolve_config("mnist", "ssgan", 0, {"train.iterations": 200, "model.width": 16})
    run = ssgan.train_run(cfg, "results/runs/mnist/ssgan/seed0")
    score = ssgan.fid(run, n=1000)              # or an nn.Module / an image folder, dataset="mnist"
    table = ssgan.runs_table("results")         # results/tables/runs.csv as a DataFrame
    ssgan.compare("results", "wgan_gp", "ssgan")  # relative_fid_reduction.csv's rows

Walk-through: docs/api.md. Errors are those of the CLI (``ConfigError``, ``DataError``,
``RunError``), each a one-line message naming the problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssgan.errors import ConfigError

if TYPE_CHECKING:  # the heavy imports happen when a function is called, not on ``import ssgan``
    import pandas as pd
    import torch

__all__ = [
    "FIDResult",
    "Run",
    "compare",
    "fid",
    "load_run",
    "resolve_config",
    "runs_table",
    "train_run",
]


@dataclasses.dataclass(frozen=True)
class Run:
    """A run directory read back: ``record`` is its run.json, ``fid_record`` its fid.json (None
    before ``ssgan fid``/``ssgan.fid``)."""

    dir: Path
    record: dict
    fid_record: dict | None

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def config(self) -> dict:
        return self.record["config"]

    @property
    def iteration(self) -> int | None:
        return self.record.get("iteration")

    @property
    def fid(self) -> float | None:
        return (self.fid_record or {}).get("fid")

    def generator(self, iteration: int | None = None, device: str = "cpu") -> torch.nn.Module:
        """The final generator (or a snapshot's) in eval mode."""
        from ssgan.training.runs import load_generator

        return load_generator(self.dir, iteration, device)[0]


@dataclasses.dataclass(frozen=True)
class FIDResult:
    """One evaluation: FID, KID, the protocol they are comparable under (``protocol`` holds the
    fields that define it, ``protocol_id`` names it as fid.json and runs.csv do) and the full
    record (every field of docs/run_layout.md's fid.json, with provenance)."""

    fid: float
    kid_mean: float
    kid_std: float
    protocol: dict
    protocol_id: str
    record: dict
    isc_mean: float | None = None  # Inception Score (fid(..., isc=True)), else None
    isc_std: float | None = None


def _nested(overrides: Mapping[str, Any] | None) -> dict:
    """``{"train.iterations": 40, "model": {"width": 8}}`` -> one nested dict."""
    out: dict = {}
    for key, value in (overrides or {}).items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"override keys are strings like 'train.iterations', got {key!r}")
        *path, last = key.split(".")
        here = out
        for part in path:
            here = here.setdefault(part, {})
            if not isinstance(here, dict):
                raise ConfigError(f"override {key!r} goes below {part!r}, which is given a value")
        if isinstance(value, Mapping):
            value = _nested(value)
        if isinstance(value, dict) and isinstance(here.get(last), dict):
            _update(here[last], value)  # the resolver's merge then checks every key
        else:
            here[last] = value
    return out


def _update(into: dict, layer: dict) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _update(into[key], value)
        else:
            into[key] = value


def resolve_config(
    dataset: str,
    method: str = "wgan_gp",
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    config: str | Path | Mapping | None = None,
) -> dict:
    """The validated run config of (dataset, method, seed), as ``ssgan train`` resolves it:
    defaults.yaml <- the method's own defaults <- ``config`` (a run or suite config: a YAML
    path or a dict) <- ``overrides`` (dotted keys or nested dicts, any key of defaults.yaml)."""
    from ssgan import config as C

    file_cfg = C.load_yaml(config) if isinstance(config, str | Path) else config
    return C.resolve(
        dataset, method, seed, dict(file_cfg) if file_cfg else None, _nested(overrides)
    )


def load_run(run_dir: str | Path) -> Run:
    """A run directory (run.json, and fid.json when evaluated)."""
    from ssgan.training.runs import read_record, read_run

    run_dir = Path(run_dir)
    record = read_run(run_dir)
    fid_path = run_dir / "fid.json"
    fid_record = read_record(fid_path, "FID record") if fid_path.is_file() else None
    return Run(run_dir, record, fid_record)


def train_run(cfg: Mapping, out: str | Path, supersede: str | Path | None = None) -> Run:
    """Train (or resume, or confirm) the run of ``cfg`` in ``out``; the run read back. Its
    ``status`` says how it ended (``completed``, ``diverged``); ``supersede`` as in the CLI.
    Not ``ssgan.train``: that name is the training module's old import path (ssgan/moved.py)."""
    import copy

    from ssgan import config as C
    from ssgan import plugins
    from ssgan.training.loop import train

    if not isinstance(cfg, Mapping):
        raise ConfigError(f"train_run takes a run config (ssgan.resolve_config), got {cfg!r}")
    cfg = copy.deepcopy(dict(cfg))
    plugins.load(cfg.get("plugins"))  # the run's method, dataset or config section
    C.check_keys(cfg)
    cfg = C.with_plugin_code(C.validate(cfg))  # as C.resolve: unknown keys, values, code
    C.check_devices(cfg, ("train.device",))
    train(cfg, out, supersede)
    return load_run(out)


def _result(rec: dict) -> FIDResult:
    from ssgan.metrics.evaluate import PROTOCOL_FIELDS, protocol_id

    rec.setdefault("protocol_id", protocol_id(rec))
    proto = {k: rec.get(k, default) for k, default in PROTOCOL_FIELDS.items()}
    return FIDResult(
        rec["fid"],
        rec["kid_mean"],
        rec["kid_std"],
        proto,
        rec["protocol_id"],
        rec,
        rec.get("isc_mean"),
        rec.get("isc_std"),
    )


def fid(
    source: Run | str | Path | torch.nn.Module,
    dataset: str | Path | None = None,
    n: int | None = None,
    protocol: Mapping[str, Any] | None = None,
    seed: int = 0,
    config: str | Path | Mapping | None = None,
    z_dim: int | None = None,
    isc: bool = False,
) -> FIDResult:
    """FID/KID of a run, a generator or an image folder against a dataset's real statistics
    (or a folder of real images); what ``ssgan fid --run`` / ``--fake --real`` compute.

    ``source``: a ``Run`` or run directory (evaluated as ``ssgan fid --run`` does: it writes
    fid.json; ``dataset`` may only repeat the run's); an ``nn.Module`` or a generator file
    (TorchScript ``.pt``, or ``FILE.py[:NAME]``; ssgan/metrics/generators.py) mapping N x
    z_dim latents to N x C x H x W images in [-1, 1] at the dataset's format (z_dim read from
    the module unless given; latents from the ``seed``'s eval stream, as a run of that seed); a
    folder of images (the first ``n`` in sorted order, decoded to the dataset's resolution and
    channels as training data are). ``dataset``: a dataset name or a folder of real images.
    ``n``: generated images (``fid.n_fake``; a folder: all when None); ``protocol``: other
    ``fid.*`` keys (``n_real``, ``split``, ``bn_mode``, ``device``, ``weights``, ...: keys of
    defaults.yaml's ``fid:``). ``isc``: also the Inception Score (``record["isc_mean"]``;
    needs torch-fidelity's own weights file, which carries the logits)."""
    import torch

    from ssgan.metrics import external

    fid_keys = dict(protocol or {})
    if n is not None:
        fid_keys["n_fake"] = n
    source = source.dir if isinstance(source, Run) else source
    if not isinstance(source, torch.nn.Module):
        path = Path(str(source).rpartition(".py:")[0] + ".py" if ".py:" in str(source) else source)
        if not path.expanduser().exists():
            raise ConfigError(f"fid source {str(source)!r} does not exist")
        if (path / "run.json").is_file() and not isc and z_dim is None:
            from ssgan.training.runs import read_run

            if dataset is None or str(dataset) in _datasets_of(read_run(path)):
                return _run_fid(path, fid_keys)
    elif dataset is None:
        raise ConfigError("fid of a generator or an image folder needs dataset=... (e.g. 'mnist')")
    fake = external.open_fake(source, z_dim)
    if dataset is None and fake.kind != "run":
        raise ConfigError("fid of a generator or an image folder needs dataset=... (e.g. 'mnist')")
    from ssgan import config as C

    file_cfg = C.load_yaml(config) if isinstance(config, str | Path) else config
    file_cfg = dict(file_cfg) if file_cfg else None
    real = None if dataset is None else str(dataset)
    cfg, folder, seed = external.resolve(fake, real, seed, file_cfg, {"fid": fid_keys})
    C.check_devices(cfg, ("fid.device",))
    n_given = n is not None or "n_fake" in fid_keys or fake.kind != "folder"
    return _result(external.evaluate(fake, cfg, folder, seed, isc, n_given))


def _datasets_of(run: dict) -> tuple[str, str]:
    return run["dataset"], run["config"]["dataset"]


def _run_fid(run_dir: Path, fid_keys: dict) -> FIDResult:
    from ssgan.metrics.evaluate import eval_config, run_fid
    from ssgan.training.runs import read_run

    run = read_run(run_dir)
    return _result(run_fid(run_dir, eval_config(run, None, {"fid": fid_keys})))


def runs_table(results: str | Path) -> pd.DataFrame:
    """One row per run directory under ``results/runs/<dataset>/<method>/seed<s>/``: the
    ``results/tables/runs.csv`` that ``ssgan aggregate`` writes (docs/analysis.md)."""
    from ssgan.analysis.runs import runs_table as table

    results = Path(results)
    if not (results / "runs").is_dir():
        raise ConfigError(f"{results} holds no runs/ folder (runs are results/runs/<dataset>/...)")
    return table(results)


def compare(
    results: str | Path | pd.DataFrame,
    baseline: str = "wgan_gp",
    treatment: str | None = None,
    n_boot: int = 10000,
    seed: int = 0,
) -> pd.DataFrame:
    """Relative FID reduction of ``treatment`` (each other method when None) against
    ``baseline``, per dataset, paired by seed: the rows of relative_fid_reduction.csv (mean
    reduction, t interval, sign-flip p with Holm, verdict, bootstrap CI; docs/analysis.md).
    ``results``: a results folder or a ``runs_table`` DataFrame."""
    import pandas as pd

    from ssgan.analysis import tables as T

    runs = results if isinstance(results, pd.DataFrame) else runs_table(results)
    comps = T.comparisons(runs, None, baseline, treatment)
    pairs = T.fid_pairs(runs, comps)
    return T.reduction_table(runs, pairs, comps, T.comparison_datasets(runs, comps), n_boot, seed)
