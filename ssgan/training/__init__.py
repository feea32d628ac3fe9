"""Stage 3, training: the run around the loop (``loop``: checkpoints, signals, resume), one
generator iteration (``step``), resumable state (``checkpoint``), device and RNG state
(``runtime``), the run's records and CSVs (``run_files``), reading a run back (``runs``) and the
seed streams (``seeds``).

Nothing is imported here: the method registry imports ``ssgan.training.seeds``, and the run loop
imports the registry, so this package's ``__init__`` must stay empty of imports.
"""
