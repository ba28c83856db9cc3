"""Fingerprints of the code and schema each component reads, so a change is never served from cache.

Components reference code by dotted path, and TFX's cache key holds only the path: without this,
editing ``transforms/`` would reuse a Transform run made by the old code. Each fingerprint is passed
as an execution property, which is part of the cache key (and of the compiled Kubeflow spec).

A code fingerprint covers the import closure of the module a component runs: every project module
it imports, directly or through others, found by parsing the sources (never importing them, so
this stays cheap and needs no TensorFlow). Imports inside functions count: the project imports
lazily on purpose, and a lazily imported module runs all the same. A hand-kept list of paths went
stale as modules moved; the closure follows the code.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path, PurePosixPath

from pipeline.config import REPO_ROOT

# Top-level packages under the repository root whose modules are the project's own; anything else
# (TensorFlow, TFX, the standard library) is pinned by the lock, not fingerprinted here.
PROJECT_PACKAGES = ("pipeline", "components", "transforms", "synthetic", "benchmarks")

# The module each component running project code runs: NightlyFeatureGen's component and
# executor, Transform's preprocessing_fn, Trainer's run_fn (pipeline.pipeline references these
# paths), and the python-function components' own modules.
FEATURE_CODE = "components.nightly_features.component"
TRANSFORM_CODE = "transforms.preprocessing"
TRAINER_CODE = "components.trainer.model"
TUNER_CODE = "components.trainer.tuner"
COMPONENT_CODE = {
    "NightlyFeatureGen": FEATURE_CODE,
    "Transform": TRANSFORM_CODE,
    "Trainer": TRAINER_CODE,
    "Tuner": TUNER_CODE,
    "AnomalyGate": "components.anomaly_gate",
    "DriftGate": "components.drift_gate",
    "TrainingWindow": "components.training_window",
    "NightlyPredictions": "components.nightly_predictions",
    "CalendarBaseline": "components.calendar_baseline",
    "Evaluator": "components.baseline_evaluator",
    "Pusher": "components.recording_pusher",
}


def parse_source(source: Path, attempts: int = 3) -> ast.Module:
    """Parse a source file; retry CPython 3.11's spurious AST recursion-depth ``SystemError``.

    CPython 3.11 before 3.11.8 can raise ``SystemError: AST constructor recursion depth
    mismatch`` for valid source (CPython gh-106905): seen only in long processes that hold
    TensorFlow and Beam objects, where a garbage collection can run Python finalizers in the
    middle of the tree's construction. The collector is paused for the parse, and the
    (deterministic) parse is retried; a real error still raises.
    """
    import gc

    data = source.read_bytes()
    for attempt in range(attempts):
        paused = gc.isenabled()
        gc.disable()
        try:
            return ast.parse(data, filename=str(source))
        except SystemError:
            if attempt == attempts - 1:
                raise
        finally:
            if paused:
                gc.enable()
    raise AssertionError("unreachable")


def _module_file(module: str, root: Path) -> Path | None:
    """The source file of a project module (a module file or a package's ``__init__``), if any."""
    if module.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(module: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs each package's init."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _imported_modules(source: Path, module: str, root: Path) -> set[str]:
    """Every module ``source`` (the file of ``module``) may import, at any depth of its body."""
    tree = parse_source(source)
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):  # walks function bodies too: lazy imports count
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: ``from .x import y`` inside ``package``
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            # ``from package import name``: ``name`` is a submodule when it has a file of its own
            found.update(
                f"{base}.{alias.name}"
                for alias in node.names
                if alias.name != "*" and _module_file(f"{base}.{alias.name}", root)
            )
    return {parent for name in found if name for parent in _with_parents(name)}


def import_closure(*modules: str, root: Path = REPO_ROOT) -> list[Path]:
    """The source files of ``modules`` and of every project module they import, sorted.

    Raises ``FileNotFoundError`` when an entry module has no source under ``root``.
    """
    pending: list[str] = []
    for module in modules:
        if _module_file(module, root) is None:
            raise FileNotFoundError(f"no project module {module!r} under {root}")
        pending.extend(_with_parents(module))
    seen: set[str] = set()
    files: set[Path] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        source = _module_file(module, root)
        if source is None:  # not the project's (or an optional module this tree lacks)
            continue
        files.add(source)
        pending.extend(_imported_modules(source, module, root) - seen)
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def _digest(parts: list[tuple[str, bytes]]) -> str:
    """A short SHA-256 over (name, content) pairs, each field delimited so none can run together."""
    digest = hashlib.sha256()
    for name, content in parts:
        digest.update(name.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()[:16]


def source_fingerprint(*modules: str, root: Path = REPO_ROOT) -> str:
    """Return a short SHA-256 over the path and bytes of every file in ``modules``' import closure.

    Paths are relative to ``root``, so a copy of the tree elsewhere (the component image) gives
    the same fingerprint.
    """
    files = import_closure(*modules, root=root)
    return _digest([(f.relative_to(root).as_posix(), f.read_bytes()) for f in files])


def code_fingerprints(root: Path = REPO_ROOT) -> dict[str, str]:
    """The code fingerprint of each component in ``COMPONENT_CODE``, keyed by component id."""
    return {name: source_fingerprint(module, root=root) for name, module in COMPONENT_CODE.items()}


def schema_fingerprint(schema_file: str, root: Path = REPO_ROOT) -> str:
    """Return a short SHA-256 of the schema's content (not its path: it is edited in place).

    ``schema_file`` is read where it is: a local file, or a remote URI (``gs://``) through TFX's
    file I/O. A path that does not exist here but ends with the repository's own schema path (the
    Kubeflow config names ``/opt/cyclecast/schema/schema.pbtxt``, inside the component image) is
    the image's copy of this tree's schema, as the code fingerprints also assume: that copy is read.
    Raises ``FileNotFoundError`` when the schema can be found neither way.
    """
    if "://" in schema_file:
        from tfx.dsl.io import fileio

        with fileio.open(schema_file, "rb") as f:
            return _digest([("schema", f.read())])
    path = Path(schema_file)
    if not path.is_file():
        local = _repo_copy(PurePosixPath(path.as_posix()), root)
        if local is None:
            raise FileNotFoundError(f"cannot read the schema {schema_file} to fingerprint it")
        path = local
    return _digest([("schema", path.read_bytes())])


def _repo_copy(path: PurePosixPath, root: Path) -> Path | None:
    """The file under ``root`` that ``path``, a path into another copy of the tree, stands for."""
    parts = path.parts[1:] if path.is_absolute() else path.parts
    # The shortest tail with a folder in it that names a file under root (schema/schema.pbtxt):
    # a bare file name is too weak a match to stand for a file of this tree.
    for start in range(len(parts) - 2, -1, -1):
        candidate = root.joinpath(*parts[start:])
        if candidate.is_file():
            return candidate
    return None
