#!/usr/bin/env bash
# Mutation score of the core modules with mutmut 3 (configuration: pyproject.toml [tool.mutmut]:
# which modules are mutated, which fast tests run). Each mutant runs only the tests that call the
# mutated function, with -x. Not part of CI: run it before resolving work on the core modules.
#
#   bash scripts/mutation.sh                          # every configured module
#   bash scripts/mutation.sh 'ssgan.methods.*' 'ssgan.probes.*'   # only these mutants
#   bash scripts/mutation.sh $(cat names.txt)         # these mutants again (e.g. survivors, after new tests)
#   bash scripts/mutation.sh --report-only            # rewrite the report from ./mutants/ results
#
# Writes benchmarks/results/mutation.md: killed / survived per module, every survivor with its
# explanation from benchmarks/mutation_equivalent.yaml (or "unexplained"), then the notes of
# benchmarks/mutation_notes.md (history of runs and scores). mutmut's working copy
# and result cache are in ./mutants/ (ignored by git; a rerun retests only changed code).
# Environment: MUTMUT_CHILDREN (parallel mutants, default: the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mutmut >/dev/null || source scripts/setup-env.sh
cores=$(getconf _NPROCESSORS_ONLN)  # not nproc: it follows OMP_NUM_THREADS, set to 1 below
export OMP_NUM_THREADS=1 MPLBACKEND=Agg
[ -n "${SSGAN_DATA_ROOT:-}" ] || { echo "set SSGAN_DATA_ROOT (MNIST is read by the tests)" >&2; exit 2; }
if [ -d mutants/ssgan ]; then  # mutmut re-copies changed .py files only: refresh the data files
  (cd ssgan && find . -type f ! -name '*.py' ! -name '*.pyc' ! -path '*/__pycache__/*' \
    -exec cp --parents {} ../mutants/ssgan/ \;)
fi
if [ -d mutants/ssgan ]; then  # a module copied unmutated before it was listed: mutate it now
  python - <<'PY'
import glob
import tomllib
from pathlib import Path

for pattern in tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]:
    for name in glob.glob(pattern):
        copy = Path("mutants") / name
        if name.endswith(".py") and copy.is_file() and not Path(f"{copy}.meta").is_file():
            copy.unlink()
            # mutmut maps tests to functions once and keeps the map until a test is added: without
            # this, every mutant of the newly mutated module would count as reached by no test
            Path("mutants/mutmut-stats.json").unlink(missing_ok=True)
PY
fi
if [ "${1:-}" = "--report-only" ]; then
  shift
  seconds=-1
else
  start=$(date +%s)
  mutmut run --max-children "${MUTMUT_CHILDREN:-$cores}" "$@" || true  # survivors are no error
  seconds=$(( $(date +%s) - start ))
fi
mutmut results --all True > mutants/results.txt
python - "$seconds" "$@" <<'PY'
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import yaml

seconds, globs = int(sys.argv[1]), sys.argv[2:]
explained = yaml.safe_load(Path("benchmarks/mutation_equivalent.yaml").read_text()) or {}
by_module, survivors = defaultdict(Counter), []
for line in Path("mutants/results.txt").read_text().splitlines():
    m = re.match(r"\s*(\S+): (.+)$", line)
    if not m:
        continue
    name, status = m.groups()
    module = re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]
    by_module[module][status] += 1
    if status == "survived":
        survivors.append((module, name))
def run_what(globs):
    if not globs:
        return "see the notes"
    if len(globs) > 12:  # a list of names, e.g. the survivors of earlier runs
        return f"{len(globs)} named mutants"
    return ", ".join(f"`{g}`" for g in globs)


commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
out = [
    "# Mutation score",
    "",
    f"Written by `scripts/mutation.sh` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit "
    f"`{commit.stdout.strip()}`; mutants run: {run_what(globs)}; "
    f"{f'{seconds} s' if seconds >= 0 else 'report rewritten from cached results'}. Score = killed / (killed + survived); mutants that no test reaches or that "
    "were not checked are counted apart.",
    "",
    "| module | mutants | killed | survived | no tests | not checked | other | score |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]
for module in sorted(by_module):
    c = by_module[module]
    other = sum(v for k, v in c.items() if k not in ("killed", "survived", "no tests", "not checked"))
    done = c["killed"] + c["survived"]
    score = f"{100 * c['killed'] / done:.0f}%" if done else "-"
    out.append(
        f"| `{module}` | {sum(c.values())} | {c['killed']} | {c['survived']} | {c['no tests']} "
        f"| {c['not checked']} | {other} | {score} |"
    )
out += ["", "## Surviving mutants", ""]
if not survivors:
    out.append("None.")
for module, name in survivors:
    why = explained.get(name, "unexplained")
    out.append(f"- `{name}`: {why}")
notes = Path("benchmarks/mutation_notes.md")  # hand-written: what was run, what changed
if notes.is_file():
    out += ["", notes.read_text().rstrip()]
out.append("")
Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
Path("benchmarks/results/mutation.md").write_text("\n".join(out))
print("\n".join(out[:8 + len(by_module)]))
PY
