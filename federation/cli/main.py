"""`fedctl` command line entry point: one subcommand module per command group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from federation.errors import FedctlError

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Register]:
    # Imported here so `fedctl --help` stays fast and each group stays independent.
    from federation.cli import dev

    out: list[Register] = [dev.register]
    try:
        from federation.cli import plan
    except ImportError:  # the plan command lands with the placement engine
        pass
    else:
        out.append(plan.register)
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
