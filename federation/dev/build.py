"""Build the local fleet's binaries from the Go module proxy, cached per user and version.

* Kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl): a wrapper
  module requires ``k8s.io/kubernetes vX`` and replaces every staging module (the ones the
  Kubernetes go.mod points at ``./staging/...``) with its published ``v0.N.M`` tag.
* etcd: a wrapper module with a plain require of ``go.etcd.io/etcd/server/v3``.
* kwok/kwokctl and MinIO: ``go install module@version`` (no replace directives).
* The AI operators' CRDs (``crds-*``, see ``federation.dev.upstream``): ``go mod download
  -json MODULE@VERSION`` into a throw-away module cache; the listed CRD files are kept,
  as JSON, in ``<cache>/crds/<component>-<version>/``.

Binaries land in ``<cache>/bin/<component>-<version>/``; a ``.complete`` marker makes the
cache entry valid, so an interrupted build is redone, and a version change builds anew.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from federation.dev.upstream import SOURCES, CrdSource, cached_name
from federation.errors import ToolchainError

log = logging.getLogger(__name__)

KUBERNETES_VERSION = "1.35.4"
ETCD_VERSION = "3.6.16"
KWOK_VERSION = "0.8.0"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
MIN_GO = (1, 26)  # kwok v0.8.0's go.mod says go 1.26.0

# Stage files shipped in kwok's module source (v0.8.0 has no built-in stages).
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    version: str
    binaries: tuple[str, ...]  # files the cache entry must hold
    subdir: str = "bin"


COMPONENTS: dict[str, Component] = {
    "kubernetes": Component(
        "kubernetes",
        KUBERNETES_VERSION,
        ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
    ),
    "etcd": Component("etcd", ETCD_VERSION, ("etcd",)),
    "kwok": Component("kwok", KWOK_VERSION, ("kwok", "kwokctl")),
    "minio": Component("minio", MINIO_VERSION, ("minio",)),
    **{src.name: Component(src.name, src.version, src.cached_names, "crds")
       for src in SOURCES.values()},
}


def cache_root() -> Path:
    env = os.environ.get("FEDCTL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "fedctl"


@dataclass(frozen=True, slots=True)
class Binaries:
    """Paths of the built binaries and data (kwok stage files, the CRD directories)."""

    paths: dict[str, Path]
    kwok_stages: Path
    crds: dict[str, Path] = field(default_factory=dict)  # CRD source name -> directory

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]


def component_dir(comp: Component, root: Path | None = None) -> Path:
    return (root or cache_root()) / comp.subdir / f"{comp.name}-{comp.version}"


def is_built(comp: Component, root: Path | None = None) -> bool:
    d = component_dir(comp, root)
    return (d / ".complete").exists() and all((d / b).exists() for b in comp.binaries)


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def go_binary(path_env: str | None = None,
              fallbacks: Sequence[str] = ("/usr/local/go/bin/go",)) -> str:
    """The ``go`` command (PATH, then the usual install location), checked for its version."""
    go = shutil.which("go", path=path_env) or next(
        (f for f in fallbacks if Path(f).exists()), None)
    if go is None:
        raise ToolchainError(
            "the Go toolchain was not found on PATH; it is needed once to build the local "
            "fleet's Kubernetes, etcd, kwok and MinIO binaries",
            hint=f"install Go >= {MIN_GO[0]}.{MIN_GO[1]} from go.dev/dl and put its bin/ on PATH",
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    m = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if not m or (int(m.group(1)), int(m.group(2))) < MIN_GO:
        raise ToolchainError(
            f"Go {out.stdout.strip() or '(unknown version)'} at {go} is too old",
            hint=f"install Go >= {MIN_GO[0]}.{MIN_GO[1]} from go.dev/dl",
        )
    return go


def _go_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"})
    if extra:
        env.update(extra)
    return env


def _run(argv: Sequence[str], cwd: Path, logfile: Path, env: dict[str, str]) -> str:
    log.info("running %s", " ".join(argv))
    with open(logfile, "a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.run(
            list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=out, text=True,
            check=False,
        )
        out.write(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-30:])
        raise ToolchainError(
            f"`{' '.join(argv[:3])} ...` failed with exit code {proc.returncode} in {cwd}:\n"
            f"{tail}",
            hint=f"full log: {logfile}",
        )
    return proc.stdout


def _ldflags_kubernetes(version: str) -> str:
    major, minor = version.split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion=v{version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def staging_replaces(kubernetes_gomod: str, version: str) -> list[str]:
    """Replace lines mapping each ``./staging`` module to its published v0.N.M tag."""
    staging_version = "v0." + version.split(".", 1)[1]
    mods = sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", kubernetes_gomod,
                                 re.MULTILINE)))
    return [f"\t{m} => {m} {staging_version}" for m in mods]


def _build_kubernetes(comp: Component, work: Path, out: Path, logfile: Path, go: str) -> None:
    env = _go_env()
    info = json.loads(_run([go, "mod", "download", "-json", f"k8s.io/kubernetes@v{comp.version}"],
                           work, logfile, env))
    gomod = Path(info["GoMod"]).read_text()
    replaces = staging_replaces(gomod, comp.version)
    if not replaces:
        raise ToolchainError(f"no staging modules found in k8s.io/kubernetes v{comp.version}")
    (work / "go.mod").write_text(
        "module fedctl.dev/build/kubernetes\n\ngo 1.25.0\n\n"
        f"require k8s.io/kubernetes v{comp.version}\n\nreplace (\n" + "\n".join(replaces) + "\n)\n"
    )
    cmds = [f"k8s.io/kubernetes/cmd/{b}" for b in comp.binaries]
    _run([go, "get", *(f"{c}@v{comp.version}" for c in cmds)], work, logfile, env)
    _run([go, "build", "-trimpath", "-tags", "notest,grpcnotrace", "-ldflags",
          _ldflags_kubernetes(comp.version), "-o", str(out) + "/", *cmds], work, logfile, env)


def _build_etcd(comp: Component, work: Path, out: Path, logfile: Path, go: str) -> None:
    env = _go_env()
    (work / "go.mod").write_text(
        f"module fedctl.dev/build/etcd\n\ngo 1.25.0\n\nrequire go.etcd.io/etcd/server/v3 "
        f"v{comp.version}\n"
    )
    _run([go, "get", f"go.etcd.io/etcd/server/v3@v{comp.version}"], work, logfile, env)
    _run([go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"),
          "go.etcd.io/etcd/server/v3"], work, logfile, env)


def _build_kwok(comp: Component, work: Path, out: Path, logfile: Path, go: str) -> None:
    env = _go_env({"GOBIN": str(out)})
    _run([go, "install", "-trimpath", "-ldflags", "-s -w",
          *(f"sigs.k8s.io/kwok/cmd/{b}@v{comp.version}" for b in comp.binaries)],
         work, logfile, env)
    info = json.loads(_run([go, "mod", "download", "-json", f"sigs.k8s.io/kwok@v{comp.version}"],
                           work, logfile, _go_env()))
    src = Path(info["Dir"]) / "kustomize" / "stage"
    stages = out / "stages"
    stages.mkdir(parents=True, exist_ok=True)
    for rel in KWOK_STAGES:
        if not (src / rel).exists():
            raise ToolchainError(f"kwok stage {rel} not found under {src}")
        shutil.copyfile(src / rel, stages / Path(rel).name)


def _build_minio(comp: Component, work: Path, out: Path, logfile: Path, go: str) -> None:
    env = _go_env({"GOBIN": str(out)})
    _run([go, "install", "-trimpath", "-ldflags", "-s -w",
          f"github.com/minio/minio@{comp.version}"], work, logfile, env)


def _fetch_crds(comp: Component, work: Path, out: Path, logfile: Path, go: str) -> None:
    src: CrdSource = SOURCES[comp.name]
    env = _go_env({"GOMODCACHE": str(work / "modcache"), "GOFLAGS": "-modcacherw"})
    try:
        info = json.loads(_run([go, "mod", "download", "-json", f"{src.module}@{src.version}"],
                               work, logfile, env))
        copy_crds(src, Path(info["Dir"]), out)
    finally:
        shutil.rmtree(work / "modcache", ignore_errors=True)


def copy_crds(src: CrdSource, module_dir: Path, out: Path) -> None:
    """Each listed CRD file of the module, converted to JSON, into ``out``."""
    for rel in src.files:
        path = module_dir / rel
        if not path.exists():
            raise ToolchainError(f"{src.module}@{src.version} has no {rel}",
                                 hint="the pinned version moved its CRDs: fix "
                                      "federation/dev/upstream.py")
        doc = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            raise ToolchainError(f"{src.module}@{src.version}: {rel} is not a "
                                 "CustomResourceDefinition")
        (out / cached_name(rel)).write_text(json.dumps(doc, separators=(",", ":")))


_BUILDERS = {
    "kubernetes": _build_kubernetes,
    "etcd": _build_etcd,
    "kwok": _build_kwok,
    "minio": _build_minio,
    **{name: _fetch_crds for name in SOURCES},
}


def build(names: Sequence[str] = tuple(COMPONENTS), *, root: Path | None = None,
          force: bool = False) -> dict[str, float]:
    """Build missing components; return seconds spent per component built."""
    base = root or cache_root()
    spent: dict[str, float] = {}
    with _lock(base):
        for name in names:
            comp = COMPONENTS[name]
            if is_built(comp, base) and not force:
                continue
            go = go_binary()
            out = component_dir(comp, base)
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            work = base / "work" / f"{comp.name}-{comp.version}"
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            logfile = base / "logs" / f"build-{comp.name}-{comp.version}.log"
            logfile.parent.mkdir(parents=True, exist_ok=True)
            logfile.write_text("")
            started = time.monotonic()
            log.warning("%s %s %s from the Go module proxy (log: %s)",
                        "fetching" if comp.subdir == "crds" else "building", comp.name,
                        comp.version, logfile)
            _BUILDERS[name](comp, work, out, logfile, go)
            missing = [b for b in comp.binaries if not (out / b).exists()]
            if missing:
                raise ToolchainError(f"build of {comp.name} produced no {', '.join(missing)}",
                                     hint=f"see {logfile}")
            spent[name] = round(time.monotonic() - started, 1)
            (out / ".complete").write_text(json.dumps({"version": comp.version,
                                                       "seconds": spent[name]}))
    return spent


def ensure_binaries(names: Sequence[str] = tuple(COMPONENTS), *,
                    root: Path | None = None) -> Binaries:
    """Return the binaries, building the missing ones first (automatic on first use)."""
    base = root or cache_root()
    if not all(is_built(COMPONENTS[n], base) for n in names):
        build(names, root=base)
    paths: dict[str, Path] = {}
    crds: dict[str, Path] = {}
    for n in names:
        comp = COMPONENTS[n]
        if comp.subdir == "crds":
            crds[n] = component_dir(comp, base)
            continue
        for b in comp.binaries:
            paths[b] = component_dir(comp, base) / b
    return Binaries(paths, component_dir(COMPONENTS["kwok"], base) / "stages", crds)
