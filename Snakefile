# ssgan-bench: Self-Sparse GAN vs WGAN-GP over datasets x methods x seeds.
#   snakemake --cores all --profile slurm                       # paper grid on a SLURM cluster
#   snakemake --cores all --configfile config/quick.yaml        # quick start on a laptop
# Stages: workflow/rules/{data,train,evaluate,analyze,report}.smk. Rules call the `ssgan` CLI.

from snakemake.utils import min_version, validate

min_version("9.0")


# The paper grid, unless another config is given with --configfile (which then replaces it,
# instead of being merged into it: the quick start must not inherit the paper's datasets).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


include: "workflow/rules/common.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyze.smk"


rule all:
    input:
        rules.aggregate.output,
        rules.plot.output,
