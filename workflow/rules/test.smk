# Test: AI-TOD metrics of the final weights on the test split -> metrics.json, and the
# per-image evaluation records (records.npz, beside it, not declared: a failed run has none)
# that the statistics bootstrap over. For an SR-TOD run metrics.json also holds the mechanism
# (reconstruction PSNR, difference-map AUC against the mean-colour reconstruction; srtod.analysis.
# mechanism) on the whole test split, measured in the same job with the loaded model, in every
# seed. A run whose training failed gets a metrics.json with status 'failed'.


rule aitod_eval:
    input:
        record="results/{tier}/{run}/seed{seed}/train.json",
        weights="results/{tier}/{run}/seed{seed}/checkpoint.pth",
        test=lambda wc: ancient(f"data/{TIER}/{dataset_of(wc)}/test.json"),
    output:
        "results/{tier}/{run}/seed{seed}/metrics.json",
    benchmark:
        "benchmarks/{tier}/aitod_eval/{run}/seed{seed}.tsv",
    log:
        "logs/{tier}/{run}/seed{seed}/test.log",
    threads: THREADS
    resources:
        **job_resources("test"),
    shell:
        "srtod test {wildcards.run:q} --tier {wildcards.tier} --seed {wildcards.seed} "
        "--threads {threads} > {log} 2>&1"
