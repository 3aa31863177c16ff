"""Model URIs a workload names are checked before anything is applied (pure).

A model URI fedctl reads as an artifact (the paths the kind's interpreter lists as
``storageUris``: an InferenceService's ``spec.predictor.<framework>.storageUri``) is
checked for its scheme and shape, so a typo becomes an error on the template with the field
path instead of a member's storage initializer failing in a crash loop.

What is accepted follows KServe (its default ``ClusterStorageContainer`` and the schemes
its controller handles itself), plus ``file://`` for fedctl's file object stores:

==============  ==============================================================
``s3://``       ``s3://bucket[/key]``; bucket 3-63 of ``a-z 0-9 . - _``, starting and
                ending with a letter or digit (S3 and GCS naming); no key = the bucket
``gs://``       ``gs://bucket[/key]``, the same bucket rule
``pvc://``      ``pvc://claim[/path]``; claim a DNS-1123 subdomain (a PVC name)
``hf://``       ``hf://org/model[:revision]`` (a Hugging Face repo id, at most 96 chars)
``http(s)://``  ``https://host[:port]/path`` with a non-empty path (KServe's
                ``https?://(.+)/(.+)``; Azure blob and file URLs are of this form)
``oci://``      ``oci://[registry[:port]/]repository[:tag][@algo:digest]`` (modelcars)
``hdfs://``     ``hdfs://path`` and ``webhdfs://path`` (the name node comes from KServe's
                storage secret), a non-empty path
``file://``     ``file:///absolute/path`` (or ``file://localhost/...``)
==============  ==============================================================

Everywhere: a URI is a string, not empty, without spaces or control characters, with a
lowercase scheme followed by ``://`` (KServe matches prefixes exactly: ``S3://`` and
``s3:/x`` are not read as S3). Another scheme is an error unless the caller passes it in
``extra_schemes`` (one served by a custom ClusterStorageContainer); such a URI only needs a
non-empty rest.

``storage_uri_errors`` returns every problem (field path, value, what is wrong, what to
do); ``check_storage_uris`` raises them together as ``InvalidStorageUri``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from federation.errors import FedctlError
from federation.interpreters import paths
from federation.interpreters.interpreter import Interpreters
from federation.syncer.fieldpath import format_path

KNOWN_SCHEMES = ("s3", "gs", "pvc", "hf", "https", "http", "oci", "hdfs", "webhdfs", "file")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
_ALMOST = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/*")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(?:\.{_DNS_LABEL})*$")
_HF_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_HF_REVISION = re.compile(r"^[A-Za-z0-9._/-]+$")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$")
# the distribution reference grammar (github.com/distribution/reference), simplified
_OCI_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_OCI_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*" \
              r"[A-Za-z0-9])?)*(?::[0-9]+)?|\[[0-9A-Fa-f:]+\](?::[0-9]+)?)"
_OCI = re.compile(rf"^(?:{_OCI_DOMAIN}/)?{_OCI_COMPONENT}(?:/{_OCI_COMPONENT})*"
                  r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z]"
                  r"[A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")


@dataclass(frozen=True, slots=True)
class UriError:
    """One bad model URI: where (``spec.predictor.model.storageUri``), the value, what is
    wrong, and what to do."""

    path: str
    value: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}: {self.value!r} ({self.hint})"


class InvalidStorageUri(FedctlError):
    """A workload names a model URI that no storage initializer can read."""

    def __init__(self, errors: Iterable[UriError]) -> None:
        self.errors = tuple(errors)
        super().__init__("invalid model URI: " + "; ".join(str(e) for e in self.errors))


def uri_problem(uri: str, extra_schemes: Collection[str] = ()) -> tuple[str, str] | None:
    """(what is wrong, what to do) for one URI, or None when it is well formed."""
    if not uri.strip():
        return "empty model URI", "name where the model lives, e.g. s3://bucket/path/to/model"
    for i, ch in enumerate(uri):
        if ch.isspace() or not ch.isprintable():
            what = "a space" if ch == " " else f"the character {ch!r}"
            return (f"contains {what} at position {i}",
                    "remove it, or percent-encode it (%20 for a space) if it is part of "
                    "the object's name")
    if uri.startswith(MODEL_REF_PREFIX):
        return _model_ref(uri)
    m = _SCHEME.match(uri)
    if m is None:
        return _not_a_uri(uri)
    scheme, rest = m.group(1), m.group(2)
    if scheme != scheme.lower() and scheme.lower() in (*KNOWN_SCHEMES, *extra_schemes):
        return (f"scheme {scheme!r} must be lowercase",
                f"write {scheme.lower()}://{rest}: storage initializers match the prefix "
                "exactly")
    check = _CHECKS.get(scheme)
    if check is not None:
        return check(scheme, rest)
    if scheme in extra_schemes:
        return None if rest else (f"nothing after {scheme}://",
                                  f"write {scheme}://<location>")
    return (f"unknown scheme {scheme!r}",
            "use one of " + ", ".join(f"{s}://" for s in KNOWN_SCHEMES) + "; a scheme "
            "served by a custom KServe ClusterStorageContainer must be declared to fedctl")


# A model-registry reference as MLflow writes it: models:/NAME, models:/NAME@ALIAS or
# models:/NAME/VERSION. A ModelSubscription for NAME switches it, on each subscribed
# member, to that member's local mirror (federation/hub/model_sync.py).
MODEL_REF_PREFIX = "models:/"
_MODEL_REF = re.compile(r"models:/([^/@\s]+)(?:@([^/@\s]+)|/([^/@\s]+))?")


def _model_ref(uri: str) -> tuple[str, str] | None:
    if _MODEL_REF.fullmatch(uri) is None:
        return (f"malformed model registry reference {uri!r}",
                "write models:/NAME, models:/NAME@ALIAS or models:/NAME/VERSION")
    return None


def _not_a_uri(uri: str) -> tuple[str, str]:
    if uri.startswith("/"):
        return ("a bare path, not a URI",
                "use pvc://<claim>/<path> for a volume, or file://" + uri + " for a file "
                "store")
    almost = _ALMOST.match(uri)
    if almost is not None:
        scheme = almost.group(1).lower()
        rest = uri[almost.end():]
        return (f"malformed: {scheme!r} must be followed by '://'",
                f"write {scheme}://{rest or '<location>'}")
    return ("not a URI (no scheme)", "write scheme://location, e.g. s3://bucket/path or "
            "hf://org/model")


def _bucket(scheme: str, rest: str) -> tuple[str, str] | None:
    bucket, _, _key = rest.partition("/")
    example = f"write {scheme}://<bucket>/<key>, e.g. {scheme}://models/llama/v1"
    if not bucket:
        return "empty bucket", example
    if not _BUCKET.match(bucket):
        return (f"invalid bucket name {bucket!r}",
                "a bucket name is 3-63 lowercase letters, digits, '.', '-' or '_', "
                "starting and ending with a letter or digit; " + example)
    return None


def _pvc(scheme: str, rest: str) -> tuple[str, str] | None:
    claim, _, _path = rest.partition("/")
    if not claim:
        return "empty claim name", "write pvc://<claim>/<path>, e.g. pvc://models/llama"
    if len(claim) > 253 or not _DNS_SUBDOMAIN.match(claim):
        return (f"invalid claim name {claim!r}",
                "a PersistentVolumeClaim name is lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit; write pvc://<claim>/<path>")
    return None


def _hf(scheme: str, rest: str) -> tuple[str, str] | None:
    repo, colon, revision = rest.partition(":")
    parts = repo.split("/")
    example = "write hf://<org>/<model>[:<revision>], e.g. hf://meta-llama/Llama-3.1-8B"
    if len(parts) != 2 or not all(parts):
        return "expected an org and a model name", example
    bad = [p for p in parts if not _HF_PART.match(p)]
    if bad:
        return (f"invalid repository name part {bad[0]!r}",
                "use letters, digits, '-', '_' and '.', not at the start or end; " + example)
    if len(repo) > 96:
        return "repository id longer than 96 characters", example
    if colon and not _HF_REVISION.match(revision):
        return f"invalid revision {revision!r}", "name a branch, tag or commit; " + example
    return None


def _http(scheme: str, rest: str) -> tuple[str, str] | None:
    example = f"write {scheme}://<host>/<path>, e.g. {scheme}://models.example.com/llama.tgz"
    host, slash, path = rest.partition("/")
    if not host:
        return "empty host", example
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        port = parts.port
        name = parts.hostname or ""
    except ValueError as exc:
        return f"invalid host {host!r} ({exc})", example
    if parts.username is not None:
        return ("credentials in the URL",
                "put them in the storage secret of the service account instead; " + example)
    if not (_HOST.match(name) or (name and ":" in name)) or (
            port is None and host.endswith(":")):
        return f"invalid host {host!r}", example
    if not slash or not path:
        return "no path after the host", example
    return None


def _oci(scheme: str, rest: str) -> tuple[str, str] | None:
    example = ("write oci://<registry>/<repository>:<tag>, e.g. "
               "oci://registry.example.com/models/llama:v1")
    if not rest:
        return "empty image reference", example
    if not _OCI.match(rest):
        return (f"invalid image reference {rest!r}",
                "repository names are lowercase; a tag is letters, digits, '_', '.', '-'; "
                + example)
    return None


def _path_only(scheme: str, rest: str) -> tuple[str, str] | None:
    if not rest.strip("/"):
        return "empty path", f"write {scheme}://<path>, e.g. {scheme}://models/llama"
    return None


def _file(scheme: str, rest: str) -> tuple[str, str] | None:
    example = "write file:///<absolute path>, e.g. file:///data/models/llama"
    host, slash, path = rest.partition("/")
    if host not in ("", "localhost"):
        return f"a file URI names no host (got {host!r})", example
    if not slash or not path.strip("/"):
        return "empty path", example
    return None


_CHECKS = {"s3": _bucket, "gs": _bucket, "pvc": _pvc, "hf": _hf, "https": _http,
           "http": _http, "oci": _oci, "hdfs": _path_only, "webhdfs": _path_only,
           "file": _file}


def storage_uri_errors(obj: Mapping[str, Any], interpreters: Interpreters,
                       extra_schemes: Collection[str] = ()) -> list[UriError]:
    """Every bad model URI of ``obj`` (none for a kind without an interpreter)."""
    if not interpreters.supports(obj):
        return []
    out: list[UriError] = []
    for expr in interpreters.spec_for(obj).storage_uris:
        for path, value in paths.resolve(obj, expr):
            if value is None:
                continue
            where = format_path(path)
            if not isinstance(value, str):
                out.append(UriError(where, str(value), f"expected a string, got "
                                    f"{type(value).__name__}",
                                    "quote the URI, e.g. s3://bucket/path"))
                continue
            problem = uri_problem(value, extra_schemes)
            if problem is not None:
                out.append(UriError(where, value, *problem))
    return out


def check_storage_uris(obj: Mapping[str, Any], interpreters: Interpreters,
                       extra_schemes: Collection[str] = ()) -> None:
    """Raise ``InvalidStorageUri`` listing every bad model URI of ``obj``."""
    errors = storage_uri_errors(obj, interpreters, extra_schemes)
    if errors:
        raise InvalidStorageUri(errors)
