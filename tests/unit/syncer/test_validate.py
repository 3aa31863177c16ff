"""Model URIs are checked (scheme and shape) with their field path before any apply."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.interpreters.interpreter import Interpreters
from federation.interpreters.spec import ComponentRule, KindSpec
from federation.syncer.validate import (
    KNOWN_SCHEMES,
    InvalidStorageUri,
    UriError,
    check_storage_uris,
    storage_uri_errors,
    uri_problem,
)

INTERP = Interpreters()
PATH = "spec.predictor.model.storageUri"

GOOD = [
    "s3://models/llama/v1",
    "s3://models",  # the whole bucket (KServe downloads it all)
    "s3://my.bucket-1_x/a/b.safetensors",
    "gs://gcs-a/models/chat/v1",
    "pvc://model-store/llama",
    "pvc://model-store",
    "hf://meta-llama/Llama-3.1-8B-Instruct",
    "hf://org/model:a1b2c3d",
    "https://models.example.com/llama.tgz",
    "https://acct.blob.core.windows.net/container/model",
    "http://127.0.0.1:9000/models/x",
    "https://[::1]:8443/m",
    "oci://registry.example.com/models/llama:v1",
    "oci://localhost:5000/llama@sha256:" + "a" * 64,
    "oci://org/model",
    "hdfs://user/models/llama",
    "webhdfs://user/models/llama",
    "file:///data/models/llama",
    "file://localhost/data/models",
]

BAD = [
    ("", "empty model URI"),
    ("   ", "empty model URI"),
    ("s3://models/my model", "contains a space at position 14"),
    ("s3://models/x\ty", "contains the character '\\t'"),
    ("s3://", "empty bucket"),
    ("s3:///key", "empty bucket"),
    ("s3:/x", "malformed: 's3' must be followed by '://'"),
    ("s3:x", "malformed"),
    ("S3://models/x", "scheme 'S3' must be lowercase"),
    ("s3://Models/x", "invalid bucket name 'Models'"),
    ("s3://ab/x", "invalid bucket name 'ab'"),
    ("gs://-bucket/x", "invalid bucket name"),
    ("ftp://host/x", "unknown scheme 'ftp'"),
    ("/mnt/models", "a bare path, not a URI"),
    ("models/llama", "not a URI (no scheme)"),
    ("pvc://", "empty claim name"),
    ("pvc://Model_Store/x", "invalid claim name"),
    ("hf://llama", "expected an org and a model name"),
    ("hf://a/b/c", "expected an org and a model name"),
    ("hf://org/-model", "invalid repository name part '-model'"),
    ("hf://org/model:", "invalid revision ''"),
    ("https://host", "no path after the host"),
    ("https://host/", "no path after the host"),
    ("https:///path", "empty host"),
    ("https://host:port/x", "invalid host"),
    ("https://user:pw@host/x", "credentials in the URL"),
    ("https://bad_host/x", "invalid host 'bad_host'"),
    ("oci://", "empty image reference"),
    ("oci://Registry.example.com/Models/X", "invalid image reference"),
    ("hdfs://", "empty path"),
    ("file://", "empty path"),
    ("file://server/share/x", "a file URI names no host"),
]


@pytest.mark.parametrize("uri", GOOD)
def test_well_formed_uris_pass(uri: str) -> None:
    assert uri_problem(uri) is None


@pytest.mark.parametrize(("uri", "message"), BAD)
def test_malformed_uris_say_what_and_what_to_do(uri: str, message: str) -> None:
    problem = uri_problem(uri)
    assert problem is not None, uri
    what, hint = problem
    assert message in what
    assert hint  # always something to do


def test_hints_name_the_fix() -> None:
    assert uri_problem("s3:/x") == ("malformed: 's3' must be followed by '://'",
                                    "write s3://x")
    problem = uri_problem("S3://models/x")
    assert problem is not None and "write s3://models/x" in problem[1]
    problem = uri_problem("ftp://host/x")
    assert problem is not None and "s3://" in problem[1] and "hf://" in problem[1]


def test_extra_schemes_from_custom_storage_containers() -> None:
    assert uri_problem("kit://org/model:v1") is not None
    assert uri_problem("kit://org/model:v1", extra_schemes={"kit"}) is None
    assert uri_problem("kit://", extra_schemes={"kit"}) == ("nothing after kit://",
                                                            "write kit://<location>")


def isvc(**predictor: Any) -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "chat", "namespace": "ml"},
            "spec": {"predictor": {"minReplicas": 1, **predictor}}}


def test_errors_carry_the_field_path_value_and_hint() -> None:
    obj = isvc(model={"modelFormat": {"name": "huggingface"}, "storageUri": "s3:/models"})
    (err,) = storage_uri_errors(obj, INTERP)
    assert err == UriError(PATH, "s3:/models", "malformed: 's3' must be followed by '://'",
                           "write s3://models")
    assert str(err) == (f"{PATH}: malformed: 's3' must be followed by '://': 's3:/models' "
                        "(write s3://models)")


def test_every_bad_uri_is_reported_and_good_ones_are_not() -> None:
    obj = isvc(model={"storageUri": "gs://gcs-a/m"}, sklearn={"storageUri": "s3://"},
               pytorch={"storageUri": 5})
    errors = storage_uri_errors(obj, INTERP)
    assert [(e.path, e.value, e.message) for e in errors] == [
        ("spec.predictor.sklearn.storageUri", "s3://", "empty bucket"),
        ("spec.predictor.pytorch.storageUri", "5", "expected a string, got int")]
    with pytest.raises(InvalidStorageUri) as raised:
        check_storage_uris(obj, INTERP)
    assert raised.value.errors == tuple(errors)
    assert str(raised.value).startswith(
        "invalid model URI: spec.predictor.sklearn.storageUri: empty bucket: 's3://'")


def test_workloads_without_model_uris_pass() -> None:
    check_storage_uris(isvc(model={"storageUri": "hf://org/model"}), INTERP)
    check_storage_uris(isvc(containers=[{"name": "c", "image": "x"}]), INTERP)
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"template": {"spec": {"containers": []}}}}
    assert storage_uri_errors(deployment, INTERP) == []
    unknown = {"apiVersion": "example.dev/v1", "kind": "Thing", "metadata": {"name": "t"}}
    assert storage_uri_errors(unknown, INTERP) == []


def test_declarative_kinds_name_their_own_uri_paths() -> None:
    interp = Interpreters([KindSpec(group="example.dev", kind="Server", components=(
        ComponentRule(name="main", pod_spec="spec.pod"),),
        storage_uris=("spec.models[*].uri",))])
    obj = {"apiVersion": "example.dev/v1", "kind": "Server", "metadata": {"name": "s"},
           "spec": {"pod": {"containers": []},
                    "models": [{"uri": "s3://models/a"}, {"uri": "s3 ://models/b"}]}}
    (err,) = storage_uri_errors(obj, interp)
    assert err.path == "spec.models[1].uri"
    assert err.message == "contains a space at position 2"


# ---- properties ---------------------------------------------------------------------------

_LOWER = string.ascii_lowercase + string.digits
bucket_names = st.builds(lambda a, mid, b: a + mid + b, st.sampled_from(_LOWER),
                         st.text(_LOWER + ".-_", min_size=1, max_size=61),
                         st.sampled_from(_LOWER))
keys = st.text(string.ascii_letters + string.digits + "/._-", max_size=40)


@given(st.sampled_from(["s3", "gs"]), bucket_names, keys)
def test_property_any_valid_bucket_and_key_is_accepted(scheme: str, bucket: str,
                                                       key: str) -> None:
    assert uri_problem(f"{scheme}://{bucket}/{key}") is None


@given(st.text(max_size=60))
def test_property_never_crashes_and_always_explains(uri: str) -> None:
    problem = uri_problem(uri)
    if problem is not None:
        what, hint = problem
        assert what and hint


@given(st.sampled_from(KNOWN_SCHEMES), st.text(_LOWER + "/", max_size=30),
       st.sampled_from([" ", "\n", "\t", "\x00"]), st.text(_LOWER, max_size=5))
def test_property_whitespace_or_control_characters_are_never_accepted(
        scheme: str, before: str, bad: str, after: str) -> None:
    assert uri_problem(f"{scheme}://{before}{bad}{after}") is not None


@given(st.text(string.ascii_lowercase, min_size=1, max_size=10).filter(
    lambda s: s not in KNOWN_SCHEMES), st.text(_LOWER + "/", min_size=1, max_size=20))
def test_property_unknown_schemes_are_refused_unless_declared(scheme: str,
                                                              rest: str) -> None:
    problem = uri_problem(f"{scheme}://{rest}")
    assert problem is not None and problem[0] == f"unknown scheme {scheme!r}"
    assert uri_problem(f"{scheme}://{rest}", extra_schemes={scheme}) is None


@pytest.mark.parametrize("uri", ["models:/fraud", "models:/fraud@production",
                                 "models:/fraud/3"])
def test_model_registry_references_pass(uri: str) -> None:
    # switched per member by a ModelSubscription to the member's local mirror
    assert uri_problem(uri) is None


@pytest.mark.parametrize("uri", ["models:/", "models:/fraud@", "models:/a/b/c",
                                 "models:/fraud@prod/3"])
def test_malformed_model_registry_references(uri: str) -> None:
    problem = uri_problem(uri)
    assert problem is not None and "model registry reference" in problem[0]
