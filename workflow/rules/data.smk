# Data: one dataset folder per tier, data/<tier>/<dataset>/{train.json,test.json,images/}.
# smoke and tiny make a synthetic stand-in of each dataset (srtod synth); check makes 6 images of
# the dataset's source size and gives them the dataset's classes (srtod.tiers); paper converts the
# user's data={<dataset>: PATH} (srtod convert). Every dataset is then validated, and no training
# starts before all datasets of the invocation are (the gate data_ready()).

if TIER == "paper":

    rule srtod_convert:
        output:
            "data/{tier}/{dataset}/{split}.json",
        benchmark:
            "benchmarks/{tier}/srtod_convert/{dataset}/{split}.tsv",
        log:
            "logs/{tier}/data/{dataset}/convert_{split}.log",
        params:
            src=lambda wc: PAPER_SOURCES[wc.dataset][wc.split][0],
            # converter and options: the dataset's entry in srtod/vocab.py
            options=lambda wc: wf.convert_options(wc.dataset, wc.split, PAPER_SOURCES),
            # the split's image folder, linked under images/<split> (none for DOTA's patches)
            link=lambda wc: wf.stage_images(wc.dataset, wc.split, PAPER_SOURCES),
            raw="data/{tier}/{dataset}/{split}.converted.json",
        resources:
            **job_resources("data"),
        shell:
            "(srtod convert {wildcards.dataset} {params.src:q} {params.raw} {params.options} && "
            " python -m srtod.workflow stage-split {params.raw} {output} {wildcards.split} "
            " {params.link} && rm -f {params.raw}) > {log} 2>&1"


else:

    rule srtod_synth:
        output:
            train="data/{tier}/{dataset}/train.json",
            test="data/{tier}/{dataset}/test.json",
        benchmark:
            "benchmarks/{tier}/srtod_synth/{dataset}.tsv",
        log:
            "logs/{tier}/data/{dataset}/synth.log",
        params:
            out="data/{tier}/{dataset}",
            options=lambda wc: wf.synth_options(wc.tier, wc.dataset),
            seed=config["synth_seed"],
            # check: the paper model's classes (srtod.tiers.label_check_data)
            label=lambda wc: (f" && python -m srtod.tiers label-check-data data/{wc.tier}/"
                              f"{wc.dataset} {wc.dataset}" if wc.tier == "check" else ""),
        resources:
            **job_resources("data"),
        shell:
            "(srtod synth {params.out} --profile {wildcards.dataset} --seed {params.seed} "
            "{params.options}{params.label}) > {log} 2>&1"


rule srtod_validate:
    input:
        train="data/{tier}/{dataset}/train.json",
        test="data/{tier}/{dataset}/test.json",
    output:
        "results/{tier}/data/{dataset}.validation.txt",
    benchmark:
        "benchmarks/{tier}/srtod_validate/{dataset}.tsv",
    log:
        "logs/{tier}/data/{dataset}/validate.log",
    params:
        images="data/{tier}/{dataset}/images",
    resources:
        **job_resources("data"),
    shell:
        "(srtod validate {input.train} --images {params.images} && "
        " srtod validate {input.test} --images {params.images}) > {log} 2>&1 "
        "&& cp {log} {output}"


rule srtod_data_ready:
    input:
        expand("results/{{tier}}/data/{dataset}.validation.txt", dataset=DATASETS),
    output:
        "results/{tier}/data/ready.json",
    benchmark:
        "benchmarks/{tier}/srtod_data_ready/all.tsv",
    log:
        "logs/{tier}/data/ready.log",
    run:
        wf.write_data_ready(output[0], DATASETS, input)
        with open(log[0], "w") as f:
            f.write(f"validated: {', '.join(DATASETS)}\n")
