"""Apportionment and filling: known results, caps, deterministic ties."""

from __future__ import annotations

import pytest

from federation.scheduling.division import apportion, apportion_capped, fill, shrink


@pytest.mark.parametrize(("n", "weights", "method", "expected"), [
    # Sainte-Lague / Webster vs Hamilton on a classic example where they differ
    (10, [("a", 60), ("b", 28), ("c", 12)], "Webster", {"a": 6, "b": 3, "c": 1}),
    (10, [("a", 60), ("b", 28), ("c", 12)], "LargestRemainder", {"a": 6, "b": 3, "c": 1}),
    (5, [("a", 47), ("b", 16), ("c", 15), ("d", 12), ("e", 6), ("f", 4)], "Webster",
     {"a": 2, "b": 1, "c": 1, "d": 1, "e": 0, "f": 0}),
    (5, [("a", 47), ("b", 16), ("c", 15), ("d", 12), ("e", 6), ("f", 4)], "LargestRemainder",
     {"a": 2, "b": 1, "c": 1, "d": 1, "e": 0, "f": 0}),
    (7, [("a", 1), ("b", 1)], "Webster", {"a": 4, "b": 3}),  # tie: first listed wins
    (7, [("b", 1), ("a", 1)], "LargestRemainder", {"b": 4, "a": 3}),
    (3, [("a", 0), ("b", 2)], "Webster", {"a": 0, "b": 3}),
    (0, [("a", 1)], "Webster", {"a": 0}),
])
def test_apportion(n, weights, method, expected) -> None:
    assert apportion(n, weights, method) == expected


def test_webster_and_largest_remainder_can_differ() -> None:
    w = [("a", 415), ("b", 335), ("c", 250)]
    assert sum(apportion(20, w, "Webster").values()) == 20
    lr = apportion(4, [("a", 7), ("b", 2), ("c", 1)], "LargestRemainder")
    wb = apportion(4, [("a", 7), ("b", 2), ("c", 1)], "Webster")
    assert lr == {"a": 3, "b": 1, "c": 0}
    assert wb == {"a": 3, "b": 1, "c": 0}


@pytest.mark.parametrize("method", ["Webster", "LargestRemainder"])
def test_capped_respects_caps_and_total(method: str) -> None:
    got = apportion_capped(10, [("a", 10), ("b", 1), ("c", 1)], {"a": 3, "b": 10, "c": 10},
                           method)
    assert got is not None
    assert got["a"] == 3 and sum(got.values()) == 10
    assert all(got[k] <= cap for k, cap in {"a": 3, "b": 10, "c": 10}.items())


def test_capped_none_when_not_enough_room() -> None:
    assert apportion_capped(10, [("a", 1), ("b", 1)], {"a": 3, "b": 3}) is None


def test_fill_in_order() -> None:
    assert fill(5, ["x", "y", "z"], {"x": 2, "y": 0, "z": 9}) == {"x": 2, "z": 3}
    assert fill(5, ["x"], {"x": 4}) is None


def test_shrink_removes_from_worst_first() -> None:
    assert shrink({"a": 3, "b": 3}, 4, ["b", "a"]) == {"a": 3, "b": 1}
    assert shrink({"a": 3, "b": 3}, 2, ["b", "a"]) == {"a": 2}
