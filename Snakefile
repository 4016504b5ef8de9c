# srtod-bench: re-run every table of SR-TOD ("Visible and Clear: Finding Tiny Objects in
# Difference Map", ECCV 2024) and its supplement, and compare with the published numbers.
#
#   snakemake --cores all                                   # smoke tier, every table
#   snakemake --cores all --config tier=tiny tables=[T4]    # one table, tiny tier
#   snakemake --cores all --config tier=paper tables=[T2] "data={visdrone: /data/VisDrone2019}"
#   snakemake --profile profiles/slurm --config tier=paper "data={droneswarms: /data/DS}"
#
# Results land in results/<tier>/, reports in reports/<tier>/, logs in logs/<tier>/
# (docs/workflow.md); each job's wall and CPU time in benchmarks/<tier>/<rule>/, the invocation's
# start, cores, jobs and wall time in logs/<tier>/workflow.json (`make bench` reads both). Stages: workflow/rules/{data,pretrain,train,test,bench,report,figures}.smk.
from snakemake.utils import min_version, validate

from srtod.workflow import (
    check_config_keys,
    finish_invocation,
    job_counts,
    normalize_config,
    record_invocation,
    tier_defaults,
)

min_version("9.0")

normalize_config(config)  # tables=T1,T2 (and data.<dataset> keys) into the schema's shape
check_config_keys(config, workflow.source_path("workflow/schemas/config.schema.yaml"))
validate(config, "workflow/schemas/config.schema.yaml")
tier_defaults(config)  # seeds: per tier (srtod.vocab.TIER_SEEDS) unless --config seeds=N


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/test.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/figures.smk"


localrules:
    all,
    srtod_data_ready,
    srtod_collect,
    srtod_report,
    srtod_claims,


# The check tier proves the configs (train, test, report) and skips the figures and claims:
# difference maps of 2-iteration random weights say nothing about the paper.
rule all:
    input:
        REPORT_TARGETS,
        FIGURES_TARGETS if config["tier"] != "check" else [],
    default_target: True


# The invocation's record (srtod.workflow.record_invocation): when it started, on how many cores,
# which jobs it runs; index.md states the minutes from this start to the report, and
# `python -m srtod.bench workflow_time` the invocation's wall time. Not run by a dry run.
onstart:
    record_invocation(config["tier"], workflow.cores, job_counts(workflow), config["seeds"])


onsuccess:
    finish_invocation(config["tier"], "ok")


onerror:
    finish_invocation(config["tier"], "failed")
