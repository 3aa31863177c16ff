"""Fuzzing: thousands of random or malformed policy documents give a clean InputError or
a valid model, never any other exception."""

from __future__ import annotations

import contextlib
import copy
import random
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.errors import InputError, InputErrors
from policies.models import (
    MemberCluster,
    ModelSource,
    ModelSubscription,
    OverridePolicy,
    PropagationPolicy,
)
from policies.parse import load_policies, parse_documents
from policies.source import Document

EXAMPLES = Path(__file__).resolve().parents[3] / "policies" / "examples"
SEEDS: list[Any] = [
    doc for p in sorted(EXAMPLES.glob("*.yaml"))
    for doc in yaml.safe_load_all(p.read_text()) if doc
]
JUNK: list[Any] = [None, True, False, 0, -1, -10**12, 3.5, float("nan"), float("inf"), "",
                   "x", "H100", "40Gi", "-1Gi", "s3://b/k", [], [1, "a"], {}, {"a": 1},
                   {"key": None}, "Divided", "*", 10**30, "1e999"]
VALID = (PropagationPolicy, OverridePolicy, MemberCluster, ModelSource, ModelSubscription)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def mutate(doc: Any, rnd: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rnd.randint(1, 4)):
        paths = _paths(doc)
        path = rnd.choice(paths)
        if not path:
            if rnd.random() < 0.2:
                return rnd.choice(JUNK)
            continue
        parent = _get(doc, path[:-1])
        key = path[-1]
        op = rnd.randrange(6)
        if op == 0:  # replace with junk
            parent[key] = copy.deepcopy(rnd.choice(JUNK))
        elif op == 1 and isinstance(parent, dict):  # delete
            del parent[key]
        elif op == 2 and isinstance(parent, dict):  # typo in a key
            k = str(key)
            if k:
                i = rnd.randrange(len(k))
                parent[k[:i] + k[i + 1:] or "x"] = parent.pop(key)
        elif op == 3 and isinstance(parent, dict):  # unknown sibling
            parent[f"extra{rnd.randrange(9)}"] = rnd.choice(JUNK)
        elif op == 4:  # swap in a subtree from elsewhere
            other = _get(doc, rnd.choice(paths))
            parent[key] = copy.deepcopy(other)
        elif op == 5 and isinstance(parent[key], int | float) and not isinstance(
                parent[key], bool):
            parent[key] = -parent[key] - 1
    return doc


def check(data: Any) -> None:
    doc = Document(data, "fuzz.yaml", 0, 1, {})
    try:
        objs = parse_documents([doc])
    except InputErrors as exc:
        assert exc.errors and all(isinstance(e, InputError) and e.file == "fuzz.yaml"
                                  for e in exc.errors)
        return
    except InputError:
        return
    assert len(objs) == 1 and isinstance(objs[0], VALID)


def test_thousands_of_mutated_documents() -> None:
    rnd = random.Random(20261123)
    ok = failed = 0
    for _ in range(3000):
        data = mutate(rnd.choice(SEEDS), rnd)
        check(data)
        try:
            parse_documents([Document(data, "f", 0, 1, {})])
            ok += 1
        except (InputError, InputErrors):
            failed += 1
    # the mutations hit both outcomes, so both paths were exercised
    assert ok > 100 and failed > 1000


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["spec", "placement", "gpu", "products", "cost",
                                       "metadata", "name", "kind", "resourceSelectors",
                                       "apiVersion", "replicaScheduling", "data", "x"]),
                      children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_values)
def test_random_structures(data: Any) -> None:
    check(data)
    check({"apiVersion": "fedctl.dev/v1alpha1", "kind": "PropagationPolicy",
           "metadata": {"name": "p"}, "spec": data})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    with contextlib.suppress(InputError, InputErrors):
        load_policies(text, "t.yaml")
