# Backbone pretraining of the slim tiers, the stand-in for the paper's ImageNet weights
# (srtod/engine/pretrain.py): each slim backbone family is trained once per tier on synthetic
# classification crops (srtod/data/crops.py, random streams disjoint from every `srtod synth`
# split), and the slim configs load the checkpoints with init_cfg=dict(type='Pretrained', ...),
# as the paper configs load ImageNet. The paper tier loads the real ImageNet weights: nothing here.
#
# Exposed: PRETRAIN_TARGETS, the checkpoints this tier's configs load ([] for paper and tiny, which
# start from ImageNet and from scratch); every training of the tier takes them as input
# (ancient: a re-run of the pretraining does not retrain finished runs).
from srtod.engine import pretrain as _pretrain

PRETRAIN_TARGETS = (
    [
        f"results/{TIER}/pretrain/{family}-{norm}.pth"
        for family in _pretrain.FAMILIES
        for norm in _pretrain.NORMALISATIONS
    ]
    if TIER in _pretrain.PRETRAINED_TIERS
    else []
)


rule srtod_pretrain:
    output:
        **{
            norm: f"results/{{tier}}/pretrain/{{family}}-{norm}.pth"
            for norm in _pretrain.NORMALISATIONS
        },
        record="results/{tier}/pretrain/{family}.json",
    benchmark:
        "benchmarks/{tier}/srtod_pretrain/{family}.tsv",
    log:
        "logs/{tier}/pretrain/{family}.log",
    wildcard_constraints:
        family="|".join(_pretrain.FAMILIES),
    threads: THREADS
    resources:
        **job_resources("train"),
    shell:
        "python -m srtod.engine.pretrain --tier {wildcards.tier} --family {wildcards.family} "
        "--threads {threads} > {log} 2>&1"
