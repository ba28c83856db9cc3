"""The Pusher's record of what it pushed, kept beside the serving directory.

On every push the Pusher (``components.recording_pusher``) writes one small JSON file,
``<serving_dir>/<model_name>/push_records/<version>.json``, naming the TF Serving version it wrote
and the Trainer output it came from (its URI, and its ML Metadata id where the orchestrator gave
one). The Evaluator's blessed baseline is read from here (``components.baseline_evaluator``).

Why a file beside the serving directory, not ML Metadata or the MLflow registry: the serving
directory is the one store every orchestrator already shares (the local runner, Kubeflow's pods,
TF Serving), so the record works wherever the pipeline runs. TFX's latest-blessed-model Resolver
asks ML Metadata instead, which compiles for Kubeflow to a metadata query that only Vertex AI
answers (the open-source backend's compiler refuses resolver executors), and MLflow is optional.

TF Serving ignores the folder: its ``FileSystemStoragePathSource`` keeps only the children of the
base path whose names parse as integers (see ``components.serving_layout``). One file a version,
written under a temporary name and renamed, so concurrent runs never rewrite each other's records.
Paths go through TFX's ``fileio`` (imported when called), so an object-store serving directory
works the same.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

RECORDS_DIR = "push_records"


class PushRecordError(ValueError):
    """A push record that can't be read (not JSON, a field missing); the message names it."""


@dataclass(frozen=True)
class PushRecord:
    """One push: the TF Serving version written and the Trainer model it was copied from."""

    version: str
    model_uri: str  # the Trainer's Model artifact (not the Pusher's copy)
    model_id: int = 0  # its ML Metadata id, 0 where the orchestrator gave none


def records_dir(model_base: str) -> str:
    """Where a model's push records live: ``<model_base>/push_records``."""
    return os.path.join(model_base, RECORDS_DIR)


def write_push_record(model_base: str, record: PushRecord) -> str:
    """Write ``record`` as ``<model_base>/push_records/<version>.json``; return its path."""
    from tfx.dsl.io import fileio

    if not record.version.isdigit():
        raise PushRecordError(f"a push version is an integer folder name, not {record.version!r}")
    folder = records_dir(model_base)
    fileio.makedirs(folder)
    path = os.path.join(folder, f"{record.version}.json")
    temporary = f"{path}.incomplete"  # readers list only *.json: never a half-written record
    with fileio.open(temporary, "w") as f:
        f.write(json.dumps(asdict(record), sort_keys=True) + "\n")
    fileio.rename(temporary, path, overwrite=True)
    return path


def read_push_record(path: str) -> PushRecord:
    """Read one record file; a broken one raises ``PushRecordError`` naming it."""
    from tfx.dsl.io import fileio

    with fileio.open(path, "r") as f:
        text = f.read()
    try:
        raw = json.loads(text)
        return PushRecord(
            version=str(raw["version"]), model_uri=raw["model_uri"], model_id=int(raw["model_id"])
        )
    except (ValueError, KeyError, TypeError) as e:
        raise PushRecordError(f"push record {path} is unreadable: {e!r}") from e


def latest_push(model_base: str) -> PushRecord | None:
    """The newest push whose version is still servable (None before the first push).

    A version removed from the serving directory (a rollback) is no longer a baseline: the
    newest record whose TF Serving version still holds a SavedModel is.
    """
    from tfx.dsl.io import fileio

    from components.serving_layout import servable_versions

    folder = records_dir(model_base)
    if not fileio.isdir(folder):
        return None
    servable = set(servable_versions(model_base))
    names = [n.rstrip("/") for n in fileio.listdir(folder)]
    versions = sorted(
        (n.removesuffix(".json") for n in names if n.endswith(".json")), key=_version_key
    )
    for version in reversed(versions):
        if version in servable:
            return read_push_record(os.path.join(folder, f"{version}.json"))
    return None


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (-1, version)
