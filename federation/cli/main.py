"""`fedctl` command line entry point: one subcommand module per command group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from federation.errors import FedctlError

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


# Command groups: module under federation.cli with a register(subparsers) function.
COMMAND_MODULES = ("dev", "plan", "artifacts", "models", "clusters", "hub", "get", "explain")
# Global options that take a value (the token after them is not a command name).
_VALUED_OPTIONS = ("--log-level",)


def command_of(argv: Sequence[str]) -> str | None:
    """The command group named on the command line (its first positional token), or None
    (no command, ``--help``, or a token after ``--``)."""
    skip = False
    for tok in argv:
        if skip:
            skip = False
            continue
        if tok == "--":
            return None
        if tok in _VALUED_OPTIONS:
            skip = True
            continue
        if tok.startswith("-"):
            continue
        return tok
    return None


def _registrars(only: str | None = None) -> list[Register]:
    """``register`` of every command module, or only of ``only`` when it names one: each
    module pulls in its own dependencies (scheduling, asyncio, cloud SDKs), which would
    otherwise cost every command its start-up time."""
    import importlib

    names = (only,) if only in COMMAND_MODULES else COMMAND_MODULES
    out: list[Register] = []
    for name in names:
        module = importlib.import_module(f"federation.cli.{name}")
        out.append(module.register)
    return out


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command group, or only with ``only``'s (see ``_registrars``)."""
    parser = argparse.ArgumentParser(
        prog="fedctl",
        description="Federate AI workloads across Kubernetes clusters.",
    )
    parser.add_argument("--log-level", default="warning",
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in _registrars(only):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_of(args_list))
    args = parser.parse_args(args_list)
    from federation.logs import setup_logging

    setup_logging(args.log_level, json_lines=args.log_json)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except FedctlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
