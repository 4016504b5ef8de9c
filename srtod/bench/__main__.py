"""`make bench`: speed figures printed, never asserted.

1. SR-TOD inference overhead: Cascade R-CNN R50-FPN with and without SR-TOD at 1920x1080.
2. AI-TOD metric backends: pycocotools vs faster-coco-eval on a DroneSwarms-sized result set.
3. Where the time of the last workflow invocation went (default the smoke tier): per rule and
   stage, the fixed cost of a job x jobs, Snakemake's own share (srtod/bench/workflow_time.py).

Pass the name of one benchmark (`srtod_speed`, `metric_speed`, `workflow_time`) to run only that one; further
arguments go to it.
"""
from __future__ import annotations

import importlib
import sys

BENCHMARKS = ('srtod_speed', 'metric_speed', 'workflow_time')


def main(argv: list[str]) -> int:
    names = BENCHMARKS
    rest: list[str] = []
    if argv and argv[0] in BENCHMARKS:
        names, rest = (argv[0],), argv[1:]
    for name in names:
        print(f'== {name}', flush=True)
        module = importlib.import_module(f'srtod.bench.{name}')
        module.main(rest)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
