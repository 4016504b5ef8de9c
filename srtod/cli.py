"""The ``srtod`` command. Each group of sub-commands lives next to the code it drives; a module
listed in COMMAND_MODULES defines ``add_commands(subparsers)`` and sets ``func`` on each parser."""
from __future__ import annotations

import argparse
import importlib
import sys

from srtod.errors import SRTODError

COMMAND_MODULES = (
    'srtod.data.commands',        # synth, convert, validate, stats
    'srtod.evaluation.commands',  # eval
    'srtod.registry_commands',    # runs, config, plan
    'srtod.engine.commands',      # train, test, fps
    'srtod.engine.pretrain',      # pretrain
    'srtod.analysis.commands',    # collect, report
    'srtod.analysis.figure_commands',  # figures, claims
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='srtod', description='SR-TOD reproduction harness (srtod-bench).')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # a group not written yet
                continue
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except SRTODError as err:
        print(f'srtod {args.command}: error: {err}', file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == '__main__':
    sys.exit(main())
