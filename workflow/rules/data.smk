# Data preparation on the login node: downloads (where allowed), checks, and decodes each
# dataset once into the prepared arrays that train and real_stats jobs read (data.prepared_dir,
# else prepared/ in the suite's cache, $SSGAN_CACHE_DIR or ~/.cache/ssgan: a folder compute nodes
# must see; a job that does not find its array builds it). Compute nodes are often offline, so
# nothing else downloads.


localrules:
    prepare_data,


rule prepare_data:
    output:
        res("data/{dataset}.json"),
    log:
        res("logs/prepare_data/{dataset}.log"),
    conda:
        ENV
    params:
        config=SUITE_CONFIG,
    shell:
        "ssgan prepare-data --dataset {wildcards.dataset} --config {params.config} --out {output} 2> {log}"


rule real_stats:
    input:
        res("data/{dataset}.json"),
    output:
        res("real_stats/{dataset}.json"),
    log:
        res("logs/real_stats/{dataset}.log"),
    conda:
        ENV
    threads: RES["real_stats"]["cpus"]
    resources:
        gpu=RES["real_stats"]["gpu"],
        local_gpu=local_gpu("real_stats"),
        mem_mb=RES["real_stats"]["mem_mb"],
        runtime=RES["real_stats"]["runtime"],
        cpus_per_task=RES["real_stats"]["cpus"],
        runs_per_gpu=RUNS_PER_GPU,  # not a param: it changes no result
    params:
        config=SUITE_CONFIG,
        fid_cache=FID_CACHE,  # a params change: moving the cache reruns these jobs once
    shell:
        "OMP_NUM_THREADS={threads} SSGAN_RUNS_PER_GPU={resources.runs_per_gpu} ssgan real-stats --dataset {wildcards.dataset} --config {params.config}"
        " --out {output} {params.fid_cache} 2> {log}"
