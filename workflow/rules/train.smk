# Training: one job per (run id, seed), whatever tables ask for the run. `srtod train` works in
# the mmengine work_dir <run dir>/train/, which is NOT an output: Snakemake deletes the outputs
# of an interrupted job, and a rerun resumes from the last checkpoint kept in train/.
# A model failure (NaN/inf loss) is a result: train.json says status 'failed' and the job ends
# with exit 0, so test and fps record the failure and the reports show it.
# GPUs: the registry's count for the run's dataset at the paper tier, 1 at smoke and tiny
# (srtod.engine.distributed.run_gpus); the job asks the cluster for them (resource `gpu`) and
# trains in that many processes. `srtod train` first checks the GPU stack (srtod doctor).

from srtod.engine.distributed import run_gpus
#
# params (rerun-triggers in profiles/default): the hash of the run's resolved config and its
# `version` in configs/experiments.yaml; a change of either retrains that run, and only it.
from srtod.engine.provenance import resolved_config_hash


rule mmdet_train:
    input:
        # ancient(): rebuilding the gate or the data files does not retrain finished runs.
        ready=ancient(data_ready()),
        train=lambda wc: ancient(f"data/{TIER}/{dataset_of(wc)}/train.json"),
        # the slim tiers' pretrained backbones (pretrain.smk; none at paper and tiny)
        pretrained=ancient(PRETRAIN_TARGETS),
    output:
        record="results/{tier}/{run}/seed{seed}/train.json",
        weights="results/{tier}/{run}/seed{seed}/checkpoint.pth",
    benchmark:
        "benchmarks/{tier}/mmdet_train/{run}/seed{seed}.tsv",
    log:
        "logs/{tier}/{run}/seed{seed}/train.log",
    threads: THREADS
    params:
        config_hash=lambda wc: resolved_config_hash(wc.run, wc.tier, int(wc.seed), REGISTRY),
        version=lambda wc: REGISTRY.runs[wc.run].version,
    resources:
        **job_resources("train"),
        gpu=lambda wc: run_gpus(wc.run, TIER, REGISTRY),
    shell:
        "srtod train {wildcards.run:q} --tier {wildcards.tier} --seed {wildcards.seed} "
        "--threads {threads} --gpus {resources.gpu} >> {log} 2>&1"
