"""TF Serving's model layout: which version under a model's base path is the model in service.

The Pusher writes ``<serving_dir>/<model_name>/<integer version>/`` holding a SavedModel. TF
Serving's ``FileSystemStoragePathSource`` lists the base path's children, keeps those whose name
parses as an integer (``ParseVersionNumber``) and, under the default ``latest`` version policy,
aspires the highest; its SavedModel loader then loads that folder, and a folder without
``saved_model.pb`` (a push still being copied, or one that failed) does not load: the availability
preserving policy keeps the previous version in service. So a servable version is an
integer-named folder holding ``saved_model.pb``, and the model in service is the highest of them.

NightlyPredictions (inside a component) and ``cyclecast predict``/``bench`` both ask this module,
so they agree on which model answers. Paths go through ``tfx.dsl.io.fileio``, imported only when
called, so a serving directory in an object store works too and importing this stays cheap.
"""

from __future__ import annotations

import os

SAVED_MODEL_FILE = "saved_model.pb"


def holds_saved_model(path: str) -> bool:
    """Whether ``path`` is a SavedModel directory (it holds ``saved_model.pb``)."""
    from tfx.dsl.io import fileio

    return fileio.exists(os.path.join(path, SAVED_MODEL_FILE))


def servable_versions(model_base: str) -> list[str]:
    """The servable versions under a model's base path, oldest first (none when it is missing).

    A version is an integer-named folder holding ``saved_model.pb`` (see the module docstring).
    """
    from tfx.dsl.io import fileio

    if not fileio.isdir(model_base):
        return []
    names = (name.rstrip("/") for name in fileio.listdir(model_base))
    versions = [n for n in names if n.isdigit() and holds_saved_model(os.path.join(model_base, n))]
    return sorted(versions, key=int)


def latest_served_version(model_base: str) -> str | None:
    """The version TF Serving serves from ``<serving_dir>/<model_name>`` (None when none)."""
    versions = servable_versions(model_base)
    return versions[-1] if versions else None


def resolve_model_dir(path: str) -> str:
    """A SavedModel directory, or the version in service under a TF Serving base path."""
    if holds_saved_model(path):
        return path
    version = latest_served_version(path)
    if version is None:
        raise FileNotFoundError(f"no SavedModel at {path} (nor an integer version under it)")
    return os.path.join(path, version)
