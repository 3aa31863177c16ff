"""The dev fleet's state records where its fleet file is, usable from any directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.dev.localfleet import recorded_source


def test_a_relative_fleet_file_is_recorded_absolute(tmp_path: Path) -> None:
    assert recorded_source("fleets/a.yaml", tmp_path) == str(tmp_path / "fleets" / "a.yaml")


def test_an_absolute_path_and_a_pseudo_name_are_kept(tmp_path: Path) -> None:
    assert recorded_source(str(tmp_path / "a.yaml"), Path("/elsewhere")) == str(
        tmp_path / "a.yaml")
    assert recorded_source("<input>", tmp_path) == "<input>"


def test_the_home_directory_is_expanded(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert recorded_source("~/f.yaml", Path("/elsewhere")) == str(tmp_path / "f.yaml")
