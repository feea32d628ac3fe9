"""Reading a run directory back (its record and its generator, final or a snapshot), and
whether a directory holds another run's result (refused, or moved aside when superseded)."""

from __future__ import annotations

from pathlib import Path

import torch

from ssgan import io, plugins
from ssgan.config.identity import differing_keys, hash_relevant, upgrade
from ssgan.data import channels_of, resolution_of
from ssgan.methods import get_method
from ssgan.training import checkpoint
from ssgan.training.seeds import stream_seed


class RunError(RuntimeError):
    pass


# Files that make a directory a run's result: never trained over without its record.
RESULT_FILES = ("generator.pt", "generator_ema.pt", "critic.pt", "fid.json", "checkpoints")


def foreign_result(out: Path, existing: dict | None, cfg: dict, config_hash: str) -> str | None:
    """Why ``out`` holds another run's result than ``cfg``'s (None: this run's, or nothing).
    ``existing`` is its readable run record, if any; the reason names the differing keys."""
    if existing is None:
        found = [n for n in RESULT_FILES if (out / n).exists()]
        if found and (found != ["checkpoints"] or checkpoint.list_checkpoints(out / "checkpoints")):
            return f"it holds {', '.join(found)} but no readable run record"
        return None
    if existing.get("config_hash") == config_hash:
        return None
    a, b = hash_relevant(existing.get("config") or {}), hash_relevant(cfg)
    for section in set(a) ^ set(b):  # a section one method does not read (sastm.*)
        a.pop(section, None), b.pop(section, None)
    keys = differing_keys(a, b)
    shown = "; ".join(keys[:8]) + (f"; and {len(keys) - 8} more" if len(keys) > 8 else "")
    return (
        f"it holds a run with a different config (hash "
        f"{str(existing.get('config_hash', '?'))[:12]} != {config_hash[:12]}; {shown or 'n/a'})"
    )


def check_supersede(out: Path, supersede: Path) -> None:
    """``--supersede`` must be a folder (or not exist yet) outside the run it would receive."""
    supersede, out = Path(supersede), Path(out)
    if supersede.exists() and not supersede.is_dir():
        raise RunError(
            f"--supersede {supersede} is a file; expected the folder superseded runs move to"
        )
    if supersede.resolve().is_relative_to(out.resolve()):
        raise RunError(
            f"--supersede {supersede} is inside --out {out}; expected a folder outside the run "
            "(the workflow uses results/superseded)"
        )


def move_aside(out: Path, existing: dict | None, cfg: dict, supersede: Path) -> Path:
    """Move a superseded run to <supersede>/<dataset>/<method>/seed<s>-<old hash>[-N]."""
    old = str((existing or {}).get("config_hash") or "unknown")[:12]
    method = cfg.get("method_label") or cfg["method"]
    base = Path(supersede) / cfg["label"] / method / f"seed{cfg['seed']}-{old}"
    dest, n = base, 1
    while dest.exists():
        n += 1
        dest = base.with_name(f"{base.name}-{n}")
    io.move(out, dest)
    if existing and not (dest / "run.json").is_file():  # Snakemake removed it before the job
        io.write_json(dest / "run.json", existing)
    return dest


def out_file(path: str | Path, what: str) -> Path:
    """An ``--out`` that must name a file: a directory there is a RunError."""
    path = Path(path)
    if path.is_dir() or str(path).endswith(("/", "\\")):
        raise RunError(f"--out {path} is a directory; give the {what} file to write")
    return path


def read_record(path: str | Path, what: str) -> dict:
    """A JSON record (run.json, fid.json); a damaged one is a RunError naming the file."""
    try:
        data = io.read_json(path)
    except (OSError, ValueError) as err:  # JSONDecodeError, UnicodeDecodeError, unreadable
        raise RunError(f"{path}: unreadable {what}: {type(err).__name__}: {err}") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: unreadable {what}: not a JSON object")
    return data


def read_run(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "run.json"
    if not Path(run_dir).exists():
        raise RunError(f"run directory {run_dir} does not exist")
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run directory (no run.json)")
    run = read_record(path, "run record")
    missing = [k for k in ("dataset", "method", "seed", "status", "config") if k not in run]
    if missing or not isinstance(run["config"], dict):
        raise RunError(f"{path}: damaged run record (missing {', '.join(missing) or 'config'})")
    upgrade(run["config"])  # keys added since the run was recorded
    plugins.load(run["config"].get("plugins"))  # the run's method may be a plugin's
    return run


def generator_path(run_dir: str | Path, iteration: int | None = None, ema: bool = False) -> Path:
    """The final generator (``iteration`` None) or a snapshot; ``ema``: G's moving average
    (train.ema_decay) saved beside it."""
    run_dir, kind = Path(run_dir), "generator_ema" if ema else "generator"
    if iteration is None:
        return run_dir / f"{kind}.pt"
    return run_dir / "snapshots" / f"{kind}_{iteration:08d}.pt"


def build_generator(run: dict) -> torch.nn.Module:
    cfg = run["config"]
    return get_method(cfg["method"], cfg).build_generator(resolution_of(cfg), channels_of(cfg))


def load_generator(
    run_dir: str | Path, iteration: int | None = None, device="cpu", ema: bool = False
):
    """(generator in eval mode on ``device``, run record). Weights load with weights_only=True.
    ``ema``: the moving average of G (fid.generator ema) instead of G's own weights."""
    run = read_run(run_dir)
    path = generator_path(run_dir, iteration, ema)
    if not path.is_file():
        what = (
            "final generator"
            if iteration is None
            else f"generator snapshot of iteration {iteration}"
        )
        if ema:
            what = f"moving average of the {what} (train.ema_decay null when it trained?)"
        raise RunError(f"{run_dir}: no {what} ({path.name}); run status is {run.get('status')!r}")
    G = build_generator(run)
    try:
        G.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:  # noqa: BLE001
        raise RunError(
            f"{path}: cannot load generator weights: {type(err).__name__}: {err}"
        ) from None
    return G.to(device).eval(), run


def sample_cli(args) -> int:
    """``ssgan sample``: a grid of ``n`` samples from the final generator, fixed latent seed."""
    from torchvision.utils import save_image

    from ssgan import io

    if args.n <= 0:
        raise RunError(f"--n must be a positive number of samples, got {args.n}")
    if args.seed is not None and args.seed < 0:  # as train's --seed (torch refuses it later)
        raise RunError(f"--seed must be a non-negative integer, got {args.seed}")
    out_file(args.out, "PNG")
    G, run = load_generator(args.run)
    seed = stream_seed(run["seed"], "sample") if args.seed is None else args.seed
    z = torch.randn(
        args.n, run["config"]["model"]["z_dim"], generator=torch.Generator().manual_seed(seed)
    )
    with torch.no_grad():
        x = G(z)
    with io.atomic_path(args.out) as tmp:
        save_image(
            x, tmp, format="png", nrow=max(1, int(args.n**0.5)), normalize=True, value_range=(-1, 1)
        )
    return 0
