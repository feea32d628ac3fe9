# One training run per (dataset, method, seed). Checkpoints live in the run directory but are
# not declared outputs, so a failed or preempted job (SLURM retries) resumes instead of
# restarting. Exit code 3 (diverged) is a result, not a failure: run.json records it and the
# tables report it. `config_hash` is compared by the `params` rerun trigger (profiles): an
# edited suite config reruns exactly the runs whose result-relevant config changed, and the
# run it replaces is moved to <results>/superseded/<dataset>/<method>/seed<s>-<old hash>.
# Several seeds of a cell train in one job (resources.train.seed_batch; rules train_seeds_*
# below): each seed's run.json stays a declared output, so the later rules do not change.


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


# One job per batch of a cell's seeds (common.smk seed_batches): `ssgan train --seeds` trains them
# as one network (ssgan/training/seed_batch.py) into the same run directories. One rule per seed
# tuple; its wildcard `cell` (dataset/method) takes only the cells batched with those seeds, and
# it has precedence over rule train for their runs.
for _seeds, _cells in SEED_BATCHES.items():
    _tag = "_".join(map(str, _seeds))

    rule:
        name:
            f"train_seeds_{_tag}"
        input:
            lambda wildcards: res(f"data/{wildcards.cell.split('/')[0]}.json"),
        output:
            [res(f"runs/{{cell}}/seed{s}/run.json") for s in _seeds],
        log:
            res(f"logs/train/{{cell}}/seeds{_tag}.log"),
        wildcard_constraints:
            cell="|".join(re.escape(c) for c in _cells),
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
            dataset=lambda wildcards: wildcards.cell.split("/")[0],
            method=lambda wildcards: wildcards.cell.split("/")[1],
            seeds=",".join(map(str, _seeds)),
            out=lambda wildcards: res(f"runs/{wildcards.cell}"),
            superseded=res("superseded"),
            config_hash=lambda wildcards, seeds=_seeds: ",".join(
                RUN_HASHES[(*wildcards.cell.split("/"), str(s))] for s in seeds
            ),
        shell:
            "OMP_NUM_THREADS={threads} SSGAN_RUNS_PER_GPU={resources.runs_per_gpu} ssgan train --dataset {params.dataset} --method {params.method}"
            " --seeds {params.seeds} --out {params.out} --config {params.config}"
            " --supersede {params.superseded} 2> {log} || [ $? -eq 3 ]"

    workflow.ruleorder(f"train_seeds_{_tag}", "train")
