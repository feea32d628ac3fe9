"""``ssgan config``: the resolved config of a run (``--run DIR``: the one it trained with, from
its run.json) or of one cell of a suite config (``--suite FILE --dataset D --method M --seed S``,
with ``key=value`` overrides), printed as YAML."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ssgan.errors import ConfigError


def resolved(args) -> dict:
    from ssgan import config as C

    if args.run:
        if args.suite or args.dataset or args.method or args.seed is not None or args.overrides:
            raise ConfigError("--run prints the run's own config: give it alone")
        record = Path(args.run) / "run.json"
        try:
            return json.loads(record.read_text())["config"]
        except FileNotFoundError:
            raise ConfigError(f"{record} does not exist (not a run directory)") from None
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ConfigError(
                f"{record} holds no run config (not written by ssgan train)"
            ) from None
    missing = [f for f in ("dataset", "method", "seed") if getattr(args, f) is None]
    if missing:
        raise ConfigError(
            f"give --run DIR, or --{', --'.join(missing)} (with --suite FILE for a suite's cell)"
        )
    suite = C.load_yaml(args.suite) if args.suite else None
    return C.resolve(args.dataset, args.method, args.seed, suite, C.parse_overrides(args.overrides))


def cli(args) -> int:
    print(yaml.safe_dump(resolved(args), sort_keys=False), end="")
    return 0
