"""Analysis of a results folder, top to bottom: ``runs`` (discovery, the runs table),
``stats`` (formulas and the verdict rule), ``claims`` (the claims registry), ``tables``
(comparisons, FID reductions, leaderboard), ``paper_table``, ``aggregate`` (``ssgan aggregate``),
``figure_kit`` / ``probe_plots`` / ``plots`` (``ssgan plot``). docs/analysis.md has the recipe."""
