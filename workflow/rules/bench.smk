# FPS: inference speed at batch 1 after warm-up on the test images (supplement Table 5) ->
# fps.json. The job asks for every core Snakemake was given, so no other job runs beside it
# and distorts the timing; the model itself uses `threads` (the same for every run).


rule srtod_fps:
    input:
        record="results/{tier}/{run}/seed{seed}/train.json",
        weights="results/{tier}/{run}/seed{seed}/checkpoint.pth",
        metrics="results/{tier}/{run}/seed{seed}/metrics.json",
    output:
        "results/{tier}/{run}/seed{seed}/fps.json",
    benchmark:
        "benchmarks/{tier}/srtod_fps/{run}/seed{seed}.tsv",
    log:
        "logs/{tier}/{run}/seed{seed}/fps.log",
    threads: workflow.cores
    params:
        threads=THREADS,
    resources:
        **job_resources("fps"),
    shell:
        "srtod fps {wildcards.run:q} --tier {wildcards.tier} --seed {wildcards.seed} "
        "--threads {params.threads} > {log} 2>&1"
