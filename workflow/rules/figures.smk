# Figures and claims: for every SR-TOD run (seed 0) the paper's Fig. 1, 3 and 4 and the measured
# separation of its difference map (separation.json, whose `mechanism` is copied from the seed's
# metrics.json: srtod test measures it in every seed); supplement Fig. 1 across the datasets of
# the tier; then reports/<tier>/claims.md (and html/claims.html), the paper's claims with this
# run's evidence. Every figure goes into `snakemake --report` with its caption
# (workflow/report/*.rst).
# Logic lives in srtod/analysis/{figure_commands,figures,separation,stats,claims}.py.
from srtod.analysis.figure_commands import (
    DATASETS_FIGURE,
    FIGURE_FILES,
    FIGURES_SEED,
    PANEL_FILE,
    dataset_panel_runs,
)

SRTOD_RUNS = [run for run in RUN_IDS if REGISTRY.runs[run].srtod]


def figures_baseline(wildcards):
    """The baseline's weights, for its P2 in Fig. 4 (when the baseline is trained here)."""
    baseline = REGISTRY.runs[wildcards.run].baseline
    if baseline and baseline in RUN_IDS:
        return [f"{run_dir(baseline, FIGURES_SEED)}/checkpoint.pth"]
    return []


rule srtod_figures:
    input:
        record=f"results/{{tier}}/{{run}}/seed{FIGURES_SEED}/train.json",
        weights=f"results/{{tier}}/{{run}}/seed{FIGURES_SEED}/checkpoint.pth",
        metrics=f"results/{{tier}}/{{run}}/seed{FIGURES_SEED}/metrics.json",
        baseline=figures_baseline,
    output:
        figures=[
            report(
                f"reports/{{tier}}/figures/{{run}}/{name}",
                caption=f"../report/{name.removesuffix('.png')}.rst",
                category="Difference maps",
                subcategory="{run}",
            )
            for name in FIGURE_FILES
        ],
        panel=f"results/{{tier}}/{{run}}/seed{FIGURES_SEED}/{PANEL_FILE}",
        separation=f"results/{{tier}}/{{run}}/seed{FIGURES_SEED}/separation.json",
    benchmark:
        "benchmarks/{tier}/srtod_figures/{run}.tsv",
    log:
        "logs/{tier}/figures/{run}.log",
    threads: THREADS
    resources:
        **job_resources("test"),
    shell:
        "OMP_NUM_THREADS={threads} srtod figures {wildcards.run:q} --tier {wildcards.tier} "
        f"--seed {FIGURES_SEED} > {{log}} 2>&1"


rule srtod_figures_datasets:
    input:
        [f"{run_dir(run, FIGURES_SEED)}/{PANEL_FILE}" for run in dataset_panel_runs(SRTOD_RUNS)],
    output:
        report(
            f"reports/{{tier}}/figures/{DATASETS_FIGURE}",
            caption="../report/datasets.rst",
            category="Difference maps",
            subcategory="all datasets",
        ),
    benchmark:
        "benchmarks/{tier}/srtod_figures_datasets/all.tsv",
    log:
        "logs/{tier}/figures/datasets.log",
    params:
        runs=" ".join(f"'{run}'" for run in dataset_panel_runs(SRTOD_RUNS)),
    shell:
        "srtod figures --tier {wildcards.tier} --datasets {params.runs} > {log} 2>&1"


rule srtod_claims:
    input:
        runs="results/{tier}/runs.csv",
        separation=[
            f"{run_dir(run, FIGURES_SEED)}/separation.json" for run in SRTOD_RUNS
        ],
    output:
        md="reports/{tier}/claims.md",
        html=report(
            "reports/{tier}/html/claims.html",
            caption="../report/claims.rst",
            category="Claims",
        ),
    benchmark:
        "benchmarks/{tier}/srtod_claims/all.tsv",
    log:
        "logs/{tier}/claims.log",
    shell:
        "srtod claims --tier {wildcards.tier} --runs {input.runs} --out {output.md} > {log} 2>&1"


FIGURES_TARGETS = [f"{REPORTS}/claims.md", f"{REPORTS}/html/claims.html"] + (
    [f"{REPORTS}/figures/{DATASETS_FIGURE}"] if SRTOD_RUNS else []
)
