# Collect and report: every run of the tier in one table (results/<tier>/runs.csv, with the
# mechanism that srtod test wrote into each SR-TOD seed's metrics.json), then
# reports/<tier>/index.md and one markdown file per selected table with its figures, an HTML
# copy of each page (reports/<tier>/html/, figures inlined) for `snakemake --report`, and the
# collected table beside the reports (reports/<tier>/runs.csv, a copy of results/<tier>/runs.csv).
# A table report shows the figure panels of its SR-TOD runs (figure_panel.npz of seed 0, made
# by srtod_figures) and the index supplement Fig. 1 (srtod_figures_datasets): both are inputs,
# so every image a page shows exists. Logic: srtod/analysis/{collect,report,html}.py.
from srtod.analysis.report import srtod_table_runs, srtod_tables

PANEL_TABLES = srtod_tables(REGISTRY, TABLES)


# The check tier (2 iterations of random weights) draws no figures: its reports show the
# panels as not measured.
FIGURES_DRAWN = TIER != "check"


def report_panels(wildcards):
    """figure_panel.npz of the SR-TOD runs the table reports show (figures.smk makes them)."""
    if not FIGURES_DRAWN:
        return []
    return [f"{run_dir(run, FIGURES_SEED)}/{PANEL_FILE}"
            for run in srtod_table_runs(REGISTRY, TABLES)]


def report_datasets_figure(wildcards):
    return [f"{REPORTS}/figures/{DATASETS_FIGURE}"] if SRTOD_RUNS and FIGURES_DRAWN else []


rule srtod_collect:
    input:
        run_files("train.json"),
        run_files("metrics.json"),
        run_files("fps.json", FPS_RUNS),
    output:
        report(
            "results/{tier}/runs.csv",
            caption="../report/runs.rst",
            category="Runs",
        ),
    benchmark:
        "benchmarks/{tier}/srtod_collect/all.tsv",
    log:
        "logs/{tier}/collect.log",
    shell:
        "srtod collect --tier {wildcards.tier} --out {output} > {log} 2>&1"


rule srtod_report:
    input:
        runs="results/{tier}/runs.csv",
        panels=report_panels,
        datasets_figure=report_datasets_figure,
    output:
        index="reports/{tier}/index.md",
        runs="reports/{tier}/runs.csv",
        tables=expand("reports/{{tier}}/{table}.md", table=TABLES),
        index_html=report(
            "reports/{tier}/html/index.html",
            caption="../report/index.rst",
            category="Tables",
            labels={"page": "index"},
        ),
        tables_html=[
            report(
                f"reports/{{tier}}/html/{table}.html",
                caption="../report/table_page.rst",
                category="Tables",
                labels={"page": table},
            )
            for table in TABLES
        ],
        charts=[
            report(
                f"reports/{{tier}}/figures/{table}_published_vs_reproduced.png",
                caption="../report/chart.rst",
                category="Published vs reproduced",
                labels={"table": table},
            )
            for table in TABLES
        ],
        panels=[
            report(
                f"reports/{{tier}}/figures/{table}_{name}.png",
                caption=f"../report/table_{name}.rst",
                category="Figures of the tables",
                subcategory=table,
                labels={"table": table, "figure": name.replace("_", " ")},
            )
            for table in PANEL_TABLES
            for name in ("difference_maps", "features", "gains")
        ],
    benchmark:
        "benchmarks/{tier}/srtod_report/all.tsv",
    log:
        "logs/{tier}/report.log",
    params:
        tables=" ".join(TABLES),
        seeds=len(SEEDS),
    shell:
        "srtod report --tier {wildcards.tier} --tables {params.tables} --seeds {params.seeds} "
        "--runs {input.runs} --out reports/{wildcards.tier} > {log} 2>&1 "
        "&& cp {input.runs:q} {output.runs:q}"


# Every file the invocation is for: Snakemake only checks the outputs something asks for, so a
# table added to a later invocation (its report, its runs) is listed here explicitly.
REPORT_TARGETS = (
    [f"{REPORTS}/index.md", f"{REPORTS}/runs.csv", f"{REPORTS}/html/index.html"]
    + [f"{REPORTS}/{table}.md" for table in TABLES]
    + [f"{REPORTS}/html/{table}.html" for table in TABLES]
    + [f"{REPORTS}/figures/{table}_published_vs_reproduced.png" for table in TABLES]
    + run_files("metrics.json")
    + run_files("fps.json", FPS_RUNS)
)
