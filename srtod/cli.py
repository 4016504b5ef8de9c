"""The ``srtod`` command. Each group of sub-commands lives next to the code it drives; a module
listed in COMMAND_MODULES defines ``add_commands(subparsers)`` and sets ``func`` on each parser."""
from __future__ import annotations

import argparse
import importlib
import sys

from srtod import LIGHT_COMMANDS  # run with their module alone (no torch, no registry)
from srtod.errors import SRTODError

COMMAND_MODULES = (
    'srtod.data.commands',        # synth, convert, validate, stats
    'srtod.evaluation.commands',  # eval
    'srtod.registry_commands',    # runs, config, plan
    'srtod.engine.commands',      # train, test, fps
    'srtod.engine.pretrain',      # pretrain
    'srtod.analysis.commands',    # collect, report
    'srtod.analysis.figure_commands',  # figures, claims
    'srtod.doctor',               # doctor
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='srtod', description='SR-TOD reproduction harness (srtod-bench).')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    names = (LIGHT_COMMANDS[command],) if command in LIGHT_COMMANDS else COMMAND_MODULES
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # a group not written yet
                continue
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        result = args.func(args)
    except SRTODError as err:
        print(f'srtod {args.command}: error: {err}', file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == '__main__':
    sys.exit(main())
