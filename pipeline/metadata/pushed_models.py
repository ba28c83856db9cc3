"""The model versions the Pusher pushed, read from their PushedModel artifacts in ML Metadata.

Finding a pushed model's directory needs nothing but these artifacts: no run summary, no metrics,
no lineage (``pipeline.runs.catalog`` adds those for ``cyclecast models``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

from pipeline.metadata import store as md

PUSHED_MODEL_TYPE = "PushedModel"  # TFX's artifact type of the Pusher's output

Versioned = TypeVar("Versioned")


@dataclass(frozen=True)
class PushedVersion:
    """A model version the Pusher pushed: its TF Serving version, its directory, its artifact."""

    version: str
    path: str
    artifact: md.RecordedArtifact


def pushed_versions(store) -> list[PushedVersion]:
    """Every model version pushed into the store, oldest version first (whatever run pushed it)."""
    versions = []
    for pushed in md.artifacts_of_type(store, PUSHED_MODEL_TYPE):
        if not pushed.prop("pushed"):
            continue
        path = pushed.prop("pushed_destination")
        versions.append(PushedVersion(os.path.basename(path.rstrip("/")), path, pushed))
    return sorted(versions, key=lambda v: v.version)


def select_version(versions: list[Versioned], version: str) -> Versioned:
    """The item of ``versions`` (oldest first, each with a ``version``) numbered ``version``.

    ``latest`` is the newest; a ``LookupError`` names the pushed versions when none matches.
    """
    if not versions:
        raise LookupError("no model has been pushed yet")
    if version == "latest":
        return versions[-1]
    for v in versions:
        if v.version == version:
            return v
    raise LookupError(
        f"no pushed version {version}; pushed: {', '.join(v.version for v in versions)}"
    )


def find_pushed_model(metadata_path: str, version: str) -> PushedVersion:
    """One pushed version by its number (or ``latest``), from the PushedModel artifacts only."""
    return select_version(pushed_versions(md.connect(metadata_path)), version)
