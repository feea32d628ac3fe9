# Tables, statistics and figures from all runs (cheap: run on the login node).
from ssgan.analysis.aggregate import PAGES, TABLES
from ssgan.analysis.plots import FIGURES, FORMATS

TABLES_DIR = res("tables")
FIGURES_DIR = config["figures"]


localrules:
    aggregate,
    plot,


rule aggregate:
    input:
        runs=all_runs(run_file("run.json")),
        fids=all_runs(run_file("fid.json")),
    output:
        [report_file(f"{TABLES_DIR}/{name}") for name in TABLES],
        [report_entry(f"{TABLES_DIR}/{name}", name) for name in PAGES],
    log:
        res("logs/aggregate.log"),
    conda:
        ENV
    params:
        results=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
        tables=lambda wildcards, output: os.path.dirname(output[0]),
        config=SUITE_CONFIG,  # for its comparisons (written when jobs start, see common.smk)
        comparisons=repr(config.get("comparisons")),  # an edit reruns the tables (params trigger)
        grid=hashlib.sha256(repr(GRID).encode()).hexdigest()[:16],  # so does a removed run
    shell:
        "ssgan aggregate --results {params.results} --out {params.tables} --config {params.config}"
        " 2> {log}"


rule plot:
    input:
        rules.aggregate.output,
    output:
        [report_entry(f"{FIGURES_DIR}/{name}.png", f"{name}.png") for name in FIGURES],
        [f"{FIGURES_DIR}/{name}.{fmt}" for name in FIGURES for fmt in FORMATS if fmt != "png"],
    log:
        res("logs/plot.log"),
    conda:
        ENV
    params:
        results=lambda wildcards, input: os.path.dirname(os.path.dirname(input[0])),
        tables=lambda wildcards, input: os.path.dirname(input[0]),
        figures=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "ssgan plot --results {params.results} --tables {params.tables} --out {params.figures}"
        " 2> {log}"
