# Collect and report: every run of the tier in one table (results/<tier>/runs.csv), then
# reports/<tier>/index.md and one markdown file per selected table with its chart.


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
    log:
        "logs/{tier}/collect.log",
    shell:
        "srtod collect --tier {wildcards.tier} --out {output} > {log} 2>&1"


rule srtod_report:
    input:
        runs="results/{tier}/runs.csv",
    output:
        index="reports/{tier}/index.md",
        tables=expand("reports/{{tier}}/{table}.md", table=TABLES),
        charts=[
            report(
                f"reports/{{tier}}/figures/{table}_published_vs_reproduced.png",
                caption="../report/chart.rst",
                category="Published vs reproduced",
                labels={"table": table},
            )
            for table in TABLES
        ],
    log:
        "logs/{tier}/report.log",
    params:
        tables=" ".join(TABLES),
        seeds=len(SEEDS),
    shell:
        "srtod report --tier {wildcards.tier} --tables {params.tables} --seeds {params.seeds} "
        "--runs {input.runs} --out reports/{wildcards.tier} > {log} 2>&1"


# Every file the invocation is for: Snakemake only checks the outputs something asks for, so a
# table added to a later invocation (its report, its runs) is listed here explicitly.
REPORT_TARGETS = (
    [f"{REPORTS}/index.md"]
    + [f"{REPORTS}/{table}.md" for table in TABLES]
    + [f"{REPORTS}/figures/{table}_published_vs_reproduced.png" for table in TABLES]
    + run_files("metrics.json")
    + run_files("fps.json", FPS_RUNS)
)
