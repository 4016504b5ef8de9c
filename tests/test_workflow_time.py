"""Where a workflow invocation's time goes: the invocation record (srtod.workflow), index.md's
wall-time sentence, and `python -m srtod.bench workflow_time` on hand-made benchmark files."""
import json
import os

import pytest

from srtod import workflow as wf
from srtod.bench import workflow_time as wt
from srtod.errors import InputError

HEADER = 's\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n'


def bench_file(root, tier, rel, s, cpu, rss='100.5', mtime=None):
    """One Snakemake benchmark tsv (the header of Snakemake 9) under benchmarks/<tier>/."""
    path = root / 'benchmarks' / tier / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f'{s}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n')
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def last_run(tmp_path):
    """A smoke invocation started at t=1000 and ended at t=1600 on 2 cores: 2 trainings, 2
    tests, 1 synth and the in-process data gate; one older training file (t=500) it did not
    rerun."""
    wf.record_invocation('smoke', 2, {'srtod_synth': 1, 'mmdet_train': 2, 'aitod_eval': 2,
                                      'srtod_data_ready': 1}, 3, root=tmp_path, now=1000.0)
    rec = wf.finish_invocation('smoke', 'ok', root=tmp_path, now=1600.0)
    rec.update(snakemake_cpu_s=30.0, children_cpu_s=900.0)   # the getrusage figures, fixed
    (tmp_path / 'logs' / 'smoke' / 'workflow.json').write_text(json.dumps(rec))
    bench_file(tmp_path, 'smoke', 'srtod_synth/droneswarms.tsv', 10.0, 8.0, mtime=1010)
    # the in-process data gate: Snakemake's own CPU and RSS, not counted as the job's
    bench_file(tmp_path, 'smoke', 'srtod_data_ready/all.tsv', 0.2, 4.0, rss='500', mtime=1020)
    bench_file(tmp_path, 'smoke', 'mmdet_train/droneswarms/cascade_rcnn/seed0.tsv', 300.0,
               290.0, rss='800', mtime=1400)
    bench_file(tmp_path, 'smoke', 'mmdet_train/droneswarms/cascade_rcnn/seed1.tsv', 200.0,
               190.0, rss='900', mtime=1450)
    bench_file(tmp_path, 'smoke', 'aitod_eval/droneswarms/cascade_rcnn/seed0.tsv', 30.0, 25.0,
               mtime=1500)
    bench_file(tmp_path, 'smoke', 'aitod_eval/droneswarms/cascade_rcnn/seed1.tsv', 20.0, 15.0,
               mtime=1500)
    bench_file(tmp_path, 'smoke', 'mmdet_train/aitod/retinanet/seed0.tsv', 999.0, 999.0,
               mtime=500)
    return tmp_path


def test_invocation_record_round_trip(tmp_path):
    path = wf.record_invocation('tiny', 2, {'mmdet_train': 3}, 1, root=tmp_path, now=100.0)
    assert path == tmp_path / 'logs' / 'tiny' / 'workflow.json'
    rec = wf.read_invocation('tiny', tmp_path)
    assert rec['jobs'] == 3 and rec['cores'] == 2 and rec['status'] == 'running'
    assert rec['wall_s'] is None and rec['started'] == '1970-01-01 00:01:40 UTC'
    rec = wf.finish_invocation('tiny', 'failed', root=tmp_path, now=220.0)
    assert rec['wall_s'] == 120.0 and rec['status'] == 'failed'
    assert rec['snakemake_cpu_s'] >= 0 and rec['children_cpu_s'] >= 0
    assert wf.read_invocation('smoke', tmp_path) is None
    assert wf.finish_invocation('smoke', 'ok', root=tmp_path) is None
    path.write_text('{"tier": ')
    with pytest.raises(InputError, match='not JSON'):
        wf.read_invocation('tiny', tmp_path)


def test_wall_time_sentence_is_honest():
    rec = {'started': 'S', 'started_unix': 0.0, 'cores': 2, 'jobs': 9, 'pid': os.getpid(),
           'host': os.uname().nodename, 'jobs_by_rule': {'mmdet_train': 6, 'srtod_pretrain': 2}}
    text = wf.wall_time_text(rec, 6, now=3000.0)
    assert 'started at S on 2 cores with 9 jobs' in text and 'after 50.0 min' in text
    assert 'it trained all 6 runs (run x seed) shown, after pretraining 2 backbones' in text
    assert 'trained 6 of the 9 runs shown' in wf.wall_time_text(rec, 9, now=3000.0)
    rec['jobs_by_rule'] = {'srtod_report': 1}   # a rerun that only rewrote the reports
    assert 'trained none of the 6 runs shown' in wf.wall_time_text(rec, 6, now=60.0)
    assert wf.wall_time_text(None, 6).startswith('Wall time: not measured')
    ended = dict(rec, finished_unix=600.0, wall_s=600.0, status='ok')
    assert 'written by hand' in wf.wall_time_text(ended, 6) and '10.0 min' in wf.wall_time_text(
        ended, 6)


def test_breakdown_from_benchmark_files(last_run, capsys):
    rules, older = wt.collect('smoke', last_run, since=1000.0)
    assert older == 1   # the training of an earlier invocation is left out
    train = rules['mmdet_train']
    assert (train.jobs, train.wall_s, train.cpu_s, train.max_rss_mb) == (2, 500.0, 480.0, 900.0)
    assert rules['srtod_data_ready'].cpu_missing == 1 and rules['srtod_data_ready'].cpu_s == 0
    every, older = wt.collect('smoke', last_run)
    assert every['mmdet_train'].jobs == 3 and older == 0

    fixed = {'cli': (1.5, 4.0), 'model': (3.0, 6.0)}
    lines = wt.breakdown(rules, fixed, wf.read_invocation('smoke', last_run))
    table = {line.split()[0]: line.split() for line in lines if line and line[0] != ' '}
    # rule: stage, jobs, wall s, CPU s, wall/job, CPU/job, RSS MB
    assert table['mmdet_train'] == ['mmdet_train', 'train', '2', '500.0', '480.0', '250.0',
                                    '240.0', '900']
    assert table['aitod_eval'][1:7] == ['test', '2', '50.0', '40.0', '25.0', '20.0']
    # stage totals, then every job: 6 jobs, 560.2 s wall, 528 s CPU
    assert table['data'][1:] == ['2', '10.2', '8.0', '5.1', '4.0']
    assert table['all'][2:] == ['6', '560.2', '528.0', '93.4', '88.0']
    text = '\n'.join(lines)
    assert '1 jobs without a CPU time of their own' in text
    # 5 jobs with a process of their own (not the in-process data gate) x 4 s CPU; 4 model
    # jobs x 6 s CPU = 24 s, 5% of the jobs' 528 s
    assert 'x 5 jobs with a process of their own = 8 s wall, 20 s CPU' in text
    assert 'x 4 model jobs = 12 s wall, 24 s CPU (5% of the jobs\' CPU)' in text
    # 600 s x 2 cores = 1200 core-s: jobs 900 (75%), Snakemake 30 (2%), rest 270 (22%)
    assert 'wall time 600 s (10.0 min); x 2 cores = 1200 core-s' in text
    assert "jobs' CPU (getrusage of Snakemake's child processes): 900 s (75%)" in text
    assert "Snakemake's own CPU: 30 s (2%)" in text and 'rest (cores waiting): 270 s (22%)' in text

    assert wt.main(['--tier', 'smoke', '--root', str(last_run), '--repeats', '0']) == 0
    out = capsys.readouterr().out
    assert 'the jobs of the invocation started 1970-01-01 00:16:40 UTC' in out
    assert '(1 older benchmark files left out' in out and 'mmdet_train' in out


def test_no_benchmarks_is_a_message_not_an_error(tmp_path, capsys):
    assert wt.main(['--tier', 'smoke', '--root', str(tmp_path), '--repeats', '0']) == 0
    assert 'no benchmark files of the smoke tier' in capsys.readouterr().out


def test_a_broken_benchmark_file_is_named(tmp_path):
    path = tmp_path / 'benchmarks' / 'smoke' / 'mmdet_train' / 'x.tsv'
    path.parent.mkdir(parents=True)
    path.write_text('wall\n3\n')
    with pytest.raises(InputError, match='expected a Snakemake benchmark file'):
        wt.collect('smoke', tmp_path)


def test_fixed_cost_of_a_fresh_process():
    import sys
    wall, cpu = wt.process_cost([sys.executable, '-c', 'pass'], repeats=2)
    assert 0 < wall < 60 and 0 <= cpu < 60
    with pytest.raises(RuntimeError, match='failed'):
        wt.process_cost([sys.executable, '-c', 'raise SystemExit(3)'], repeats=1)
