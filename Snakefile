# ssgan-bench: Self-Sparse GAN vs WGAN-GP over datasets x methods x seeds.
#   snakemake --cores all --profile slurm                       # paper grid on a SLURM cluster
#   snakemake --cores all --configfile config/quick.yaml        # quick start on a laptop
# Stages: workflow/rules/{data,train,evaluate,analyze,report}.smk. Rules call the `ssgan` CLI.

from snakemake.utils import min_version, validate

from ssgan.config import ConfigError, check_suite_keys

min_version("9.0")


# The paper grid, unless another config is given with --configfile (which then replaces it,
# instead of being merged into it: the quick start must not inherit the paper's datasets).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# An unknown top-level key is one line with a did-you-mean, before the schema's long report.
try:
    check_suite_keys(config)
except ConfigError as err:
    raise WorkflowError(f"invalid config: {err}") from None
validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


include: "workflow/rules/common.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyze.smk"


# Every run is named here, not only the tables: Snakemake does not regenerate a missing
# intermediate file when the final outputs are up to date, so without them a deleted run
# would stay deleted. For the same reason a stale fid.json's marker is named here (only a
# target makes Snakemake produce it; common.smk stale_fids).
rule all:
    input:
        all_runs(run_file("run.json")),
        all_runs(run_file("fid.json")),
        rules.aggregate.output,
        rules.plot.output,
        stale_markers(),
