"""Fingerprints of the code each component runs, so changed code is never served from cache.

Components reference code by dotted path, and TFX's cache key holds only the path: without this,
editing ``transforms/`` would reuse a Transform run made by the old code. Each fingerprint is passed
as an execution property, which is part of the cache key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.config import REPO_ROOT

FEATURE_CODE = ("transforms/raw_format.py", "components/nightly_features", "transforms/features.py")
TRANSFORM_CODE = ("transforms",)
TRAINER_CODE = ("transforms", "components/trainer")


def source_fingerprint(paths: tuple[str, ...], root: Path = REPO_ROOT) -> str:
    """Return a short SHA-256 over the Python sources under ``paths`` (files or folders)."""
    digest = hashlib.sha256()
    for rel in paths:
        target = root / rel
        files = [target] if target.is_file() else sorted(target.rglob("*.py"))
        if not files or not target.exists():
            raise FileNotFoundError(f"no Python sources at {target}")
        for f in files:
            digest.update(f.relative_to(root).as_posix().encode() + b"\0")
            digest.update(f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
