"""Progress of the long stages (dataset preparation, FID features, real statistics, the
class-coverage classifier, the Inception weight conversion), by tqdm, on stderr.

On a terminal: tqdm's bar. Elsewhere (a Snakemake job's log, where the rules send stderr; a
SLURM log): tqdm's status as one line at most every ``$SSGAN_PROGRESS_SECONDS`` seconds
(default 10) and at the end, so a log holds a readable, bounded record of the rate and the time
left instead of carriage-return redraws. The rate counts this attempt's work only (a resumed
stage starts at what it kept). ``SSGAN_PROGRESS_SECONDS=0`` writes a line per step; a negative
value turns the lines off (the terminal bar stays).
"""

from __future__ import annotations

import os
import sys
import time

ENV = "SSGAN_PROGRESS_SECONDS"
LOG_SECONDS = 10.0


def log_interval() -> float:
    try:
        return float(os.environ.get(ENV, LOG_SECONDS))
    except ValueError:
        return LOG_SECONDS


class Progress:
    """``with Progress(total, "fid fake features", "img") as p: ... p.update(n)``."""

    def __init__(self, total: int, desc: str, unit: str = "it", done: int = 0):
        from tqdm import tqdm

        self.tqdm, self.desc, self.unit = tqdm, desc, unit
        self.total, self.done, self.start = total, done, done
        self.t0, self.last, self.bar, self.closed = time.perf_counter(), None, None, False
        self.interval = log_interval()
        if sys.stderr.isatty():
            self.bar = tqdm(
                total=total, initial=done, desc=desc, unit=unit, file=sys.stderr, leave=True
            )

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.perf_counter()
        if self.interval < 0 or (self.last is not None and now - self.last < self.interval):
            return
        if self.done < self.total:
            self._line(now)

    def _line(self, now: float) -> None:
        self.last = now
        line = self.tqdm.format_meter(
            self.done, self.total, now - self.t0, ncols=0, prefix=self.desc, unit=self.unit,
            initial=self.start,
        )  # fmt: skip
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        elif self.interval >= 0 and self.done > self.start:
            self._line(time.perf_counter())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
