"""The scaling benchmark's data: replicated users, and the exponent fitted to the timings."""

from __future__ import annotations

import pytest

from benchmarks.feature_peers import raw_files
from tests.bench_data import bench_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return bench_dataset(tmp_path_factory)


def test_replicated_data_and_the_scaling_exponent(data, tmp_path):
    from benchmarks.process import replicate_dataset, scaling_exponent, users_of

    users = users_of(str(data))
    replicate_dataset(str(data), str(tmp_path / "x3"), 3 * len(users))
    copies = users_of(str(tmp_path / "x3"))
    assert len(copies) == 3 * len(users) and set(users) <= set(copies)
    assert len(raw_files(str(tmp_path / "x3"))) == 3 * len(raw_files(str(data)))
    cycles = (tmp_path / "x3" / "cycles.csv").read_text().splitlines()
    assert len(cycles) - 1 == 3 * (len((data / "cycles.csv").read_text().splitlines()) - 1)
    replicate_dataset(str(data), str(tmp_path / "tiny"), 1, max_files=1)
    assert len(raw_files(str(tmp_path / "tiny"))) == 1
    # t = 2 + n: the exponent beyond the start-up is 1
    k = scaling_exponent([1, 4, 16], [3.0, 6.0, 18.0], 2.0)
    assert k["step"] == pytest.approx(1.0) and k["fit"] == pytest.approx(1.0)
