"""`fedctl artifacts`: list, verify and sync model versions between object stores.

Stores are named in the fleet file (``--fleet``). Stores without an ``endpoint`` there are
the local fleet's (``fedctl dev up``): their endpoints and credentials come from its state
directory. Real stores use the standard credential chains (boto3, Google ADC).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from distributors.errors import SyncError
from distributors.progress import Events, HumanEvents, JsonEvents, parse_rate
from distributors.store import Store, StoreConfig, TransferSettings, open_store
from distributors.sync import StoreResult, Syncer, SyncOptions
from distributors.verify import verify_version
from federation.cli.table import render
from federation.errors import InputError

DEFAULT_FLEET = "clusters.example.yaml"
GCS_GRANULE = 256 * 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    art = sub.add_parser("artifacts", help="list, verify and sync model versions across stores")
    art.add_argument("--fleet", default=DEFAULT_FLEET, help="fleet file naming the stores")
    art.add_argument("--state-dir", type=Path, default=None,
                     help="local fleet state (for stores without an endpoint)")
    asub = art.add_subparsers(dest="artifacts_command", metavar="COMMAND")
    asub.required = True

    ls = asub.add_parser("ls", help="list published model versions on a store")
    ls.add_argument("target", metavar="STORE[:MODEL]")
    ls.add_argument("-o", "--output", choices=["table", "json"], default="table")
    ls.set_defaults(handler=_ls)

    ver = asub.add_parser("verify", help="check a published version against its manifest")
    ver.add_argument("target", metavar="STORE:MODEL/VERSION")
    ver.add_argument("--deep", action="store_true", help="re-read and SHA-256 every file")
    ver.add_argument("-o", "--output", choices=["table", "json"], default="table")
    ver.set_defaults(handler=_verify)

    sy = asub.add_parser("sync", help="copy a model version to stores (relayed per region)")
    sy.add_argument("source", metavar="STORE:MODEL/VERSION")
    sy.add_argument("--to", nargs="+", required=True, metavar="STORE", dest="targets")
    sy.add_argument("--dry-run", action="store_true", help="plan only; change nothing")
    sy.add_argument("--transfers", type=int, default=8, help="files in flight (default 8)")
    sy.add_argument("--bwlimit", default=None, help="bandwidth limit, e.g. 50M (bytes/s)")
    sy.add_argument("--no-relay", action="store_true",
                    help="copy from the source to every store (no regional relay)")
    sy.add_argument("--no-seal", action="store_true",
                    help="do not write a manifest to a source that lacks one")
    sy.add_argument("--keep", type=int, default=None,
                    help="afterwards keep only the newest N versions of the model per store")
    sy.add_argument("--in-use", nargs="*", default=[], metavar="VERSION",
                    help="versions retention must never delete")
    sy.add_argument("--chunk-size", default="16M", help="multipart/resumable chunk size")
    sy.add_argument("--concurrency", type=int, default=8,
                    help="parallel parts of one large S3 upload (default 8)")
    sy.add_argument("--gcs-request-size", default="32M",
                    help="bytes per streamed request of a large GCS upload; a kill loses "
                         "at most one (default 32M)")
    sy.add_argument("--memory-budget", default="256M",
                    help="peak memory of the sync (default 256M): lowers --chunk-size, "
                         "--concurrency and --transfers until their buffers fit")
    sy.add_argument("--resumable-threshold", default="64M",
                    help="files at least this large resume part by part after a kill "
                         "(default 64M; 0 disables)")
    sy.add_argument("--resume-dir", type=Path, default=None,
                    help="journal of open upload sessions (default "
                         "$XDG_STATE_HOME/fedctl/transfers)")
    sy.add_argument("-o", "--output", choices=["table", "json"], default="table")
    sy.set_defaults(handler=_sync)


# ---- store resolution ------------------------------------------------------------------
def config_from_endpoint(ep: Any) -> StoreConfig:
    """A ``StoreConfig`` for a local fleet store (``federation.dev.objectstores.StoreEndpoint``)."""
    return StoreConfig(name=ep.name, provider=ep.provider, region=ep.region, bucket=ep.bucket,
                       endpoint=ep.endpoint, root=ep.root, access_key=ep.access_key,
                       secret_key=ep.secret_key, path_style=ep.path_style,
                       checksum_mode=ep.checksum_mode, edge=ep.edge)


def resolve_stores(fleet_file: str, state_dir: Path | None) -> dict[str, StoreConfig]:
    from federation.fleet import load_fleet_file

    fleet = load_fleet_file(fleet_file)
    out: dict[str, StoreConfig] = {}
    local: dict[str, Any] | None = None
    for spec in fleet.object_stores:
        if spec.endpoint is None and not (spec.provider == "file" and spec.root):
            if local is None:
                from federation.dev.localfleet import LocalFleet

                state = LocalFleet(state_dir).load()
                local = {s.endpoint.name: s.endpoint for s in state.stores}
            if spec.name not in local:
                raise InputError(f"store {spec.name!r} has no endpoint and is not part of "
                                 "the running local fleet",
                                 hint="give it an endpoint or restart `fedctl dev up`")
            out[spec.name] = config_from_endpoint(local[spec.name])
            continue
        out[spec.name] = StoreConfig(
            name=spec.name, provider=spec.provider, region=spec.region, bucket=spec.bucket,
            endpoint=spec.endpoint, root=spec.root, path_style=spec.path_style,
            checksum_mode=spec.checksum_mode, edge=spec.edge)
    return out


def _store(configs: dict[str, StoreConfig], name: str,
           settings: TransferSettings | None = None) -> Store:
    if name not in configs:
        known = ", ".join(sorted(configs)) or "none"
        raise InputError(f"unknown object store {name!r}", hint=f"stores in the fleet: {known}")
    return open_store(configs[name], settings)


def parse_target(text: str, *, need_version: bool = True,
                 need_model: bool = True) -> tuple[str, str | None, str | None]:
    store, sep, rest = text.partition(":")
    if not store or (need_model and not rest):
        form = "STORE:MODEL/VERSION" if need_version else "STORE[:MODEL]"
        raise InputError(f"invalid target {text!r}", hint=f"use {form}")
    if not sep or not rest:
        return store, None, None
    model, _, version = rest.partition("/")
    if need_version and (not model or not version or "/" in version):
        raise InputError(f"invalid target {text!r}", hint="use STORE:MODEL/VERSION")
    return store, model or None, version or None


# ---- commands --------------------------------------------------------------------------
def _ls(args: argparse.Namespace) -> int:
    configs = resolve_stores(args.fleet, args.state_dir)
    name, model, _ = parse_target(args.target, need_version=False, need_model=False)
    store = _store(configs, name)
    sy = Syncer()
    models = [model] if model else _models(store, sy)
    rows: list[dict[str, Any]] = []
    for mname in models:
        for m in sorted(sy.versions(store, mname), key=lambda m: (m.created, m.version)):
            rows.append({"store": name, "model": m.model, "version": m.version,
                         "files": len(m.files), "size": m.total_size,
                         "identity": m.identity, "created": m.created})
    if args.output == "json":
        print(json.dumps(rows, indent=1))
    else:
        print(render(["MODEL", "VERSION", "FILES", "SIZE", "IDENTITY", "CREATED"],
                     [[r["model"], r["version"], r["files"], _human(int(r["size"])),
                       str(r["identity"])[:12], r["created"]] for r in rows]))
    return 0


def _models(store: Store, sy: Syncer) -> list[str]:
    from distributors import manifest as mf

    prefix = mf.manifests_prefix() + "/"
    names = set()
    for meta in sy._retry(lambda: list(store.list(prefix))):
        rest = meta.key[len(prefix):]
        if "/" in rest:
            names.add(rest.split("/", 1)[0])
    return sorted(names)


def _verify(args: argparse.Namespace) -> int:
    configs = resolve_stores(args.fleet, args.state_dir)
    name, model, version = parse_target(args.target)
    assert model and version
    report = verify_version(_store(configs, name), model, version, deep=args.deep)
    problems = report.problems
    if args.output == "json":
        print(json.dumps({"store": name, "model": model, "version": version,
                          "identity": report.manifest.identity, "files": len(report.checks),
                          "ok": report.ok,
                          "problems": [{"path": c.path, "status": c.status,
                                        "detail": c.detail, "method": c.method}
                                       for c in problems]}, indent=1))
    else:
        if problems:
            print(render(["PATH", "STATUS", "DETAIL"],
                         [[c.path, c.status, c.detail] for c in problems]))
        methods = sorted({c.method for c in report.checks})
        verdict = "OK" if report.ok else f"{len(problems)} PROBLEM(S)"
        print(f"{name}:{model}/{version} {report.manifest.identity[:12]}: "
              f"{len(report.checks)} files checked ({', '.join(methods)}): {verdict}")
    return 0 if report.ok else 1


def _sync(args: argparse.Namespace) -> int:
    configs = resolve_stores(args.fleet, args.state_dir)
    name, model, version = parse_target(args.source)
    assert model and version
    try:
        rate = parse_rate(args.bwlimit) if args.bwlimit else None
        chunk = int(parse_rate(args.chunk_size))
        request = int(parse_rate(args.gcs_request_size))
        threshold = (0 if args.resumable_threshold.strip() == "0"
                     else int(parse_rate(args.resumable_threshold)))
        budget = int(parse_rate(args.memory_budget))
    except ValueError:
        raise InputError("invalid --bwlimit, --chunk-size, --gcs-request-size, "
                         "--resumable-threshold or --memory-budget",
                         hint="use a number with an optional K/M/G suffix") from None
    if args.transfers < 1:
        raise InputError("--transfers must be at least 1")
    if chunk < 1 or request < 1 or args.concurrency < 1:
        raise InputError("--chunk-size, --gcs-request-size and --concurrency must be "
                         "positive")
    if request % GCS_GRANULE:
        raise InputError(f"--gcs-request-size {args.gcs_request_size} is not a multiple of "
                         "256K", hint="GCS resumable requests come in 256 KiB units; "
                                      "use e.g. 16M or 32M")
    settings = budgeted(TransferSettings(
        multipart_threshold=chunk, chunk_size=chunk, concurrency=args.concurrency,
        gcs_request_size=request, resumable_threshold=threshold, transfers=args.transfers,
        parallel_syncs=_parallel_syncs(configs, args.targets, relay=not args.no_relay)),
        budget, args.memory_budget)
    events: Events = JsonEvents() if args.output == "json" else HumanEvents()
    sy = Syncer(SyncOptions(transfers=settings.transfers, dry_run=args.dry_run, bandwidth=rate,
                            seal_source=not args.no_seal, relay=not args.no_relay,
                            resume=threshold > 0, resume_dir=args.resume_dir), events)
    origin = _store(configs, name, settings)
    targets = [_store(configs, t, settings) for t in args.targets]
    _, results = sy.fanout(origin, model, version, targets)
    pruned: dict[str, list[str]] = {}
    if args.keep is not None:
        for t, r in zip(targets, results, strict=False):
            if r.ok:
                pruned[t.name] = sy.apply_retention(t, model, args.keep,
                                                    [*args.in_use, version])
    if args.output == "json":
        events.emit({"event": "done", "ok": all(r.ok for r in results),
                     "stores": [_result_json(r) for r in results]})
    else:
        print(render(["STORE", "RESULT", "COPIED", "SERVER-SIDE", "VERIFIED", "SKIPPED",
                      "DELETED", "BYTES"],
                     [[r.store, _verdict(r, args.dry_run), len(r.copied), len(r.server_side),
                       len(r.checked),
                       len(r.plan.of(_skip())) if r.plan else 0, len(r.deleted),
                       _human(r.bytes_copied)] for r in results]))
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        raise SyncError(f"sync failed for {', '.join(r.store for r in failed)}: "
                        f"{first.errors[0]}", hint="fix the cause and run the same command "
                                                   "again; finished files are not re-copied")
    return 0


def budgeted(settings: TransferSettings, budget: int, text: str) -> TransferSettings:
    """``settings`` fitted into a memory budget (``--memory-budget``)."""
    from distributors.base import fit_memory

    try:
        return fit_memory(settings, budget)
    except ValueError as exc:
        raise InputError(f"--memory-budget {text}: {exc}",
                         hint="raise --memory-budget or lower --chunk-size") from None


def _parallel_syncs(configs: dict[str, StoreConfig], targets: list[str], *,
                    relay: bool) -> int:
    """Copies that can run at once: one per region's relay (the fan-out's second stage
    copies from every region's relay in parallel), else one."""
    if not relay:
        return 1
    return max(1, len({configs[t].region for t in targets if t in configs}))


def _skip() -> Any:
    from distributors.planner import Kind

    return Kind.SKIP


def _verdict(r: StoreResult, dry: bool) -> str:
    if not r.ok:
        return "failed"
    if dry:
        return "planned"
    if r.published:
        return "published"
    return "unchanged"


def _result_json(r: StoreResult) -> dict[str, Any]:
    return {"store": r.store, "ok": r.ok, "published": r.published, "copied": len(r.copied),
            "server_side": len(r.server_side), "verified": len(r.checked),
            "deleted": len(r.deleted), "bytes": r.bytes_copied,
            "bytes_resumed": r.bytes_resumed, "errors": r.errors}


def _human(n: int) -> str:
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if x < 1024 or unit == "TiB":
            return f"{int(x)}{unit}" if unit == "B" else f"{x:.1f}{unit}"
        x /= 1024
    return str(n)


