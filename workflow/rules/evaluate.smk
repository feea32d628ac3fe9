# FID/KID of every run against the cached real statistics of its dataset (fid.json; a
# diverged run gets a fid.json with status "skipped").


rule fid:
    input:
        run=run_file("run.json"),
        stats=res("real_stats/{dataset}.json"),
        stale=stale_marker,  # only for a stale fid.json: makes the job run again
    output:
        run_file("fid.json"),
    log:
        res("logs/fid/{dataset}/{method}/seed{seed}.log"),
    conda:
        ENV
    threads: RES["fid"]["cpus"]
    resources:
        gpu=RES["fid"]["gpu"],
        local_gpu=local_gpu("fid"),
        mem_mb=RES["fid"]["mem_mb"],
        runtime=RES["fid"]["runtime"],
        cpus_per_task=RES["fid"]["cpus"],
        runs_per_gpu=RUNS_PER_GPU,  # not a param: it changes no result
    params:
        config=SUITE_CONFIG,
        run=lambda wildcards, input: os.path.dirname(input.run),
        fid_protocol=run_fid_protocol,
        fid_cache=FID_CACHE,  # a params change: moving the cache reruns these jobs once
    shell:
        "OMP_NUM_THREADS={threads} SSGAN_RUNS_PER_GPU={resources.runs_per_gpu} ssgan fid --run {params.run} --config {params.config}"
        " {params.fid_cache} 2> {log}"


# A stale fid.json (common.smk stale_fids): a fresh marker, newer than it, for its fid job;
# it says why the FID was redone.
rule stale_fid:
    output:
        STALE_MARKER,
    log:
        res("logs/stale_fid/{dataset}/{method}/seed{seed}.{stamp}.log"),
    localrule: True
    conda:
        ENV
    params:
        why=lambda wildcards: STALE_FIDS[(wildcards.dataset, wildcards.method, wildcards.seed)][0],
    shell:
        "echo {params.why:q} > {output} 2> {log}"
