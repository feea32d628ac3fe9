"""Analysis of a results folder, top to bottom: ``runs`` (discovery, the runs table),
``stats`` (formulas and the verdict rule), ``claims`` (the claims registry), ``tables``
(comparisons, reductions, leaderboard, paper table), ``aggregate`` (``ssgan aggregate``),
``plots`` (``ssgan plot``). docs/analysis.md has the recipe."""
