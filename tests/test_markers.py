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
