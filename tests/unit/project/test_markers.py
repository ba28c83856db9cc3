"""The fast loop's promise: a test that runs a pipeline carries the e2e mark, or nothing runs."""

from __future__ import annotations

import pytest

from tests import conftest


class _Item:
    def __init__(self, nodeid: str, fixtures: list[str], marked: bool):
        self.nodeid, self.fixturenames, self._marked = nodeid, fixtures, marked

    def get_closest_marker(self, name: str):
        return object() if self._marked and name == "e2e" else None


def test_an_unmarked_test_using_a_pipeline_fixture_stops_the_session():
    items = [
        _Item("t::fine", ["tmp_path"], marked=False),
        _Item("t::marked", ["pipeline_runs"], marked=True),
        _Item("t::unmarked", ["served", "pipeline_runs"], marked=False),
    ]
    with pytest.raises(pytest.UsageError, match=r"not marked e2e: t::unmarked$"):
        conftest.pytest_collection_modifyitems(None, items)
    conftest.pytest_collection_modifyitems(None, items[:2])  # all marked: nothing raised


def test_an_unmarked_test_that_runs_a_beam_pipeline_fails_saying_so():
    """This test is unmarked: the runtime guard stops its Beam pipeline before it runs."""
    import apache_beam as beam

    ran = []
    with pytest.raises(pytest.fail.Exception, match=r"runs a Beam pipeline: mark it e2e"):
        with beam.Pipeline() as p:
            _ = p | beam.Create([1]) | beam.Map(ran.append)
    assert ran == []


def test_an_unmarked_test_that_starts_a_pipeline_command_fails_saying_so():
    import subprocess
    import sys

    for argv in (["/venv/bin/cyclecast", "run", "--json"],
                 [sys.executable, "-m", "benchmarks.jobs", "features"]):
        with pytest.raises(pytest.fail.Exception, match=r"a pipeline command\): mark it e2e"):
            subprocess.run(argv, check=False)
    assert not conftest._pipeline_command([sys.executable, "-m", "pip", "check"])
    assert not conftest._pipeline_command(["/venv/bin/cyclecast", "--help"])


def test_the_guard_is_disarmed_for_a_marked_test(monkeypatch):
    monkeypatch.setattr(conftest, "_unmarked_test", None)  # as for a test marked e2e
    conftest.refuse_if_unmarked("a Beam pipeline")  # nothing raised
    monkeypatch.setattr(conftest, "_unmarked_test", "t::unmarked")
    with pytest.raises(pytest.fail.Exception, match=r"^t::unmarked runs a Beam pipeline"):
        conftest.refuse_if_unmarked("a Beam pipeline")
