"""Shared fixtures (one small pipeline history, the test services) and the e2e mark's guards.

Services start on first use: a selection without MySQL, Redis or browser tests starts none.
"""

from __future__ import annotations

import importlib.abc
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config import EvaluationConfig, LocalConfig, TrainingConfig
from synthetic.generate import generate_dataset


def pipeline_config(workdir: Path, data_root: Path, **changes):
    """A local pipeline config sized for tests (300 training steps, lenient blessing floors)."""
    workdir.mkdir(parents=True, exist_ok=True)
    salt = workdir / "id_salt"
    salt.write_text("pipeline-e2e-salt-0123456789")
    cfg = LocalConfig(workdir=workdir).pipeline_config(data_root)
    cfg = cfg.with_changes(
        training=TrainingConfig(train_steps=300, eval_steps=5),
        evaluation=EvaluationConfig(min_auc=0.6, min_sensitivity=0.2, min_specificity=0.5),
    )
    return cfg.with_changes(**changes)


@pytest.fixture(scope="session")
def pipeline_runs(tmp_path_factory):
    """Three runs on 16 users x 3 cycles: first, same again (cached), and a worse candidate.

    Each is the ``RunSummary`` of the run, read back as ``cyclecast run`` prints it.
    """
    from pipeline.orchestration.local_runner import run_local
    from pipeline.runs.summary import summarize_run

    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    generate_dataset(data, users=16, cycles=3, seed=5, progress=False)
    cfg = pipeline_config(root / "work", data)
    def run(c):
        return summarize_run(c.metadata_path, c.pipeline_name, run_local(c))

    first = run(cfg)
    second = run(cfg)
    # a candidate that learned nothing, judged only by the change threshold against the
    # blessed model of the first run
    worse_cfg = cfg.with_changes(
        training=TrainingConfig(train_steps=1, eval_steps=1, hparams=(("learning_rate", 1e-9),)),
        evaluation=EvaluationConfig(min_auc=0.0, min_sensitivity=0.0, min_specificity=0.0,
                                    max_auc_drop=0.01),
    )
    worse = run(worse_cfg)
    return cfg, first, second, worse


@pytest.fixture(scope="session")
def compiled_spec(tmp_path_factory) -> Path:
    """The default Kubeflow config compiled once per session (KFP v2 pipeline spec JSON)."""
    from pipeline.orchestration.kubeflow import compile_pipeline, load_kubeflow_config

    return compile_pipeline(load_kubeflow_config(),
                            tmp_path_factory.mktemp("kfp") / "cyclecast.json")


@pytest.fixture(scope="session")
def mysql_server():
    """The test MariaDB server, started on first use when none is named (see tests/mysql.py)."""
    from tests.mysql import running_server

    return running_server()


@pytest.fixture
def mysql_database(mysql_server):
    """A fresh, empty MySQL database for one test, dropped afterwards."""
    from tests.mysql import drop_database, new_database

    name = new_database(mysql_server)
    yield name
    drop_database(mysql_server, name)


@pytest.fixture(scope="session")
def redis_server():
    """A Redis server's URL, started on first use when none is named (see tests/redis_server.py)."""
    from tests.redis_server import redis_server as server

    yield from server()


@pytest.fixture
def redis_url(redis_server):
    """The test Redis server's database, emptied for one test."""
    from tests.redis_server import empty_database

    return empty_database(redis_server)


@pytest.fixture(scope="session")
def chromium_browser() -> str:
    """Debian's headless Chromium, installed on first use where that is possible; its path."""
    from tests.services.debian import ensure_chromium

    return ensure_chromium()


# Fixtures that run pipelines, Beam jobs or servers: a test using one is an end-to-end test.
E2E_FIXTURES = frozenset(
    {"pipeline_runs", "compiled_spec", "sqlite_mlflow", "mariadb_mlflow", "redis_server"}
)


def pytest_collection_modifyitems(config, items):
    """Refuse to start when a test uses a pipeline-running fixture without the ``e2e`` mark.

    The fast loop (``-m "not e2e"``) relies on the mark; a missing one would make it pay for
    a pipeline run (minutes) without anyone noticing.
    """
    unmarked = [
        item.nodeid
        for item in items
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("e2e") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use a pipeline-running fixture but are not marked e2e: "
            + ", ".join(unmarked)
        )


# ---- the runtime guard: whatever the way in, an unmarked test can't run a pipeline ----------

# What runs a pipeline, by module: the method patched when the module is imported.
PIPELINE_ENTRY_POINTS = {
    "apache_beam.pipeline": ("Pipeline", "run", "a Beam pipeline"),
    "tfx.orchestration.local.local_dag_runner": ("LocalDagRunner", "run", "a TFX pipeline"),
}
# ``cyclecast`` commands (and benchmark jobs) that run pipelines, when a test starts them.
PIPELINE_COMMANDS = frozenset({"run", "features", "backfill", "bench"})

_unmarked_test: str | None = None  # the node id of the running test when it lacks the e2e mark


def refuse_if_unmarked(what: str) -> None:
    """Fail the running test, when it is not marked e2e, for running ``what``."""
    if _unmarked_test is not None:
        pytest.fail(f"{_unmarked_test} runs {what}: mark it e2e (pytest.mark.e2e); the fast "
                    "loop (-m 'not e2e') must not pay for pipelines", pytrace=False)


def _guard(module) -> None:
    cls_name, method, what = PIPELINE_ENTRY_POINTS[module.__name__]
    cls = getattr(module, cls_name)
    original = getattr(cls, method)
    if getattr(original, "_e2e_guarded", False):
        return

    def guarded(self, *args, **kwargs):
        refuse_if_unmarked(what)
        return original(self, *args, **kwargs)

    guarded._e2e_guarded = True
    setattr(cls, method, guarded)


class _GuardOnImport(importlib.abc.MetaPathFinder):
    """Patches a pipeline entry point as its module is imported (no import paid up front)."""

    def find_spec(self, name, path, target=None):
        if name not in PIPELINE_ENTRY_POINTS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _GuardingLoader(spec.loader)
                return spec
        return None


class _GuardingLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _guard(module)


def _pipeline_command(args) -> bool:
    argv = [str(a) for a in args] if isinstance(args, list | tuple) else str(args).split()
    for i, arg in enumerate(argv):
        if Path(arg).name == "cyclecast" or arg in ("pipeline.cli", "benchmarks.jobs"):
            return bool(set(argv[i + 1 : i + 2]) & PIPELINE_COMMANDS) or arg == "benchmarks.jobs"
    return False


def _guard_subprocesses() -> None:
    original: Callable = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):
        if _pipeline_command(args):
            refuse_if_unmarked(f"`{' '.join(map(str, args))}` (a pipeline command)")
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = guarded


def pytest_configure(config):
    """Install the guards: entry points patched on import (or now, if already imported)."""
    for name in PIPELINE_ENTRY_POINTS:
        if name in sys.modules:
            _guard(sys.modules[name])
    sys.meta_path.insert(0, _GuardOnImport())
    _guard_subprocesses()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Arm the guard for an unmarked test's whole run: its fixtures' set-up included."""
    global _unmarked_test
    _unmarked_test = None if item.get_closest_marker("e2e") else item.nodeid
    try:
        yield
    finally:
        _unmarked_test = None
