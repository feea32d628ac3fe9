"""Elapsed and remaining time of a Snakemake run, from its own output (read on stdin, passed
through unchanged): ``snakemake ... 2>&1 | python scripts/snakemake_eta.py --cores N``.

Up front, from Snakemake's "Job stats" table (job count per rule), an estimate of the whole run:
each rule's jobs at ``PRIOR_SECONDS`` (one core each), spread over the cores. After each
"N of M steps (x%) done" line, a line with the elapsed time and the time left: the remaining
jobs per rule at that rule's measured mean duration (from the "rule X: ... jobid: J" and
"Finished jobid: J" lines; the prior until one job of the rule has finished), divided by the
parallelism measured so far (job-seconds finished / wall seconds, between 1 and the cores).
"""

from __future__ import annotations

import argparse
import re
import sys
import time

# Seconds per job on one core of a 2-core machine for the quick start's rules (config/quick.yaml;
# they add up to about its measured 9.5 minutes on 2 cores). Only the first estimate uses them:
# a rule's measured durations replace its prior as soon as one of its jobs finishes.
PRIOR_SECONDS = {
    "prepare_data": 10,
    "real_stats": 120,
    "train": 45,
    "fid": 40,
    "stale_fid": 1,
    "aggregate": 10,
    "plot": 30,
}
DEFAULT_PRIOR = 10
STATS_ROW = re.compile(r"^(\w+)\s+(\d+)\s*$")
RULE = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
JOBID = re.compile(r"^\s*jobid: (\d+)\s*$")
FINISHED = re.compile(r"Finished jobid: (\d+)(?: \(Rule: (\w+)\))?")
STEPS = re.compile(r"^(\d+) of (\d+) steps \((\d+)%\) done")


def hms(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class ETA:
    """The state read from Snakemake's lines; ``feed(line, now)`` returns lines to print."""

    def __init__(self, cores: int, start: float):
        self.cores, self.start = max(1, cores), start
        self.counts: dict[str, int] = {}  # rule -> jobs of the run
        self.in_stats, self.announced = False, False
        self.rule: str | None = None  # the rule whose block is being read
        self.started: dict[str, tuple[str, float]] = {}  # jobid -> (rule, start)
        self.durations: dict[str, list[float]] = {}  # rule -> finished jobs' seconds
        self.done: dict[str, int] = {}

    def seconds_per_job(self, rule: str) -> float:
        got = self.durations.get(rule)
        return sum(got) / len(got) if got else PRIOR_SECONDS.get(rule, DEFAULT_PRIOR)

    def work_left(self) -> float:
        """Job-seconds of the jobs not finished yet."""
        return sum(
            max(0, n - self.done.get(rule, 0)) * self.seconds_per_job(rule)
            for rule, n in self.counts.items()
            if rule != "all"
        )

    def parallelism(self, now: float) -> float:
        busy = sum(sum(d) for d in self.durations.values())
        wall = now - self.start
        if busy <= 0 or wall <= 0:
            return float(self.cores)
        return min(float(self.cores), max(1.0, busy / wall))

    def remaining(self, now: float) -> float:
        return self.work_left() / self.parallelism(now)

    def feed(self, line: str, now: float) -> list[str]:
        out = []
        text = line.rstrip("\n")
        if text.startswith("Job stats:"):
            self.in_stats, self.counts = True, {}
            return out
        if self.in_stats:
            row = STATS_ROW.match(text.strip())
            if row and row.group(1) != "total":
                self.counts[row.group(1)] = int(row.group(2))
            elif text.strip().startswith("total") or (not text.strip() and self.counts):
                self.in_stats = False
                if not self.announced and self.counts:
                    self.announced = True
                    jobs = sum(n for r, n in self.counts.items() if r != "all")
                    out.append(
                        f"== {jobs} jobs; estimated about {hms(self.remaining(now))} on "
                        f"{self.cores} cores (re-estimated from measured job times as they finish)"
                    )
            return out
        if m := RULE.match(text):
            self.rule = m.group(1)
        elif (m := JOBID.match(text)) and self.rule:
            self.started.setdefault(m.group(1), (self.rule, now))
            self.rule = None
        elif m := FINISHED.search(text):
            rule, t0 = self.started.pop(m.group(1), (m.group(2), None))
            if rule:
                self.done[rule] = self.done.get(rule, 0) + 1
                if t0 is not None:
                    self.durations.setdefault(rule, []).append(now - t0)
        elif m := STEPS.match(text):
            done, total = int(m.group(1)), int(m.group(2))
            left = "0m00s" if done >= total else f"about {hms(self.remaining(now))}"
            out.append(f"== {done}/{total} jobs, elapsed {hms(now - self.start)}, {left} left")
        return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cores", type=int, default=1, help="cores Snakemake runs jobs on")
    args = p.parse_args(argv)
    eta = ETA(args.cores, time.monotonic())
    for line in sys.stdin:
        sys.stdout.write(line)
        for extra in eta.feed(line, time.monotonic()):
            sys.stdout.write(extra + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
