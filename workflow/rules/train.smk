# One training run per (dataset, method, seed). Checkpoints live in the run directory but are
# not declared outputs, so a failed or preempted job (SLURM retries) resumes instead of
# restarting. Exit code 3 (diverged) is a result, not a failure: run.json records it and the
# tables report it. `config_hash` is compared by the `params` rerun trigger (profiles): an
# edited suite config reruns exactly the runs whose result-relevant config changed, and the
# run it replaces is moved to <results>/superseded/<dataset>/<method>/seed<s>-<old hash>.


rule train:
    input:
        res("data/{dataset}.json"),
    output:
        run_file("run.json"),
    log:
        res("logs/train/{dataset}/{method}/seed{seed}.log"),
    conda:
        ENV
    threads: RES["train"]["cpus"]
    resources:
        gpu=RES["train"]["gpu"],
        local_gpu=local_gpu("train"),
        mem_mb=RES["train"]["mem_mb"],
        runtime=RES["train"]["runtime"],
        cpus_per_task=RES["train"]["cpus"],
        runs_per_gpu=RUNS_PER_GPU,  # not a param: it changes no result
    params:
        config=SUITE_CONFIG,
        out=lambda wildcards, output: os.path.dirname(output[0]),
        superseded=res("superseded"),
        config_hash=run_hash,
    shell:
        "OMP_NUM_THREADS={threads} SSGAN_RUNS_PER_GPU={resources.runs_per_gpu} ssgan train --dataset {wildcards.dataset} --method {wildcards.method}"
        " --seed {wildcards.seed} --out {params.out} --config {params.config}"
        " --supersede {params.superseded} 2> {log} || [ $? -eq 3 ]"
