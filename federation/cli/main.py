"""`fedctl` command line entry point: one subcommand module per command group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from federation.errors import FedctlError

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


# Command groups: module under federation.cli with a register(subparsers) function.
COMMAND_MODULES = ("dev", "plan", "artifacts", "clusters", "hub", "get", "explain")


def _registrars() -> list[Register]:
    import importlib

    out: list[Register] = []
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"federation.cli.{name}")
        out.append(module.register)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedctl",
        description="Federate AI workloads across Kubernetes clusters.",
    )
    parser.add_argument("--log-level", default="warning",
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
