"""Typed configuration with local defaults. Local and cluster runs differ only in these values.

Nothing here reads the environment at import time; ``load_salt`` reads the secret when asked.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

SALT_ENV = "CYCLECAST_ID_SALT"
SALT_FILE_ENV = "CYCLECAST_ID_SALT_FILE"
DEFAULT_WORKDIR = Path(".cyclecast")


@dataclass(frozen=True)
class DefaultData:
    """The default synthetic dataset the main job generates on a fresh clone (fixed seed)."""

    users: int = 40
    cycles: int = 3
    seed: int = 20261126


@dataclass(frozen=True)
class BeamConfig:
    """Beam options: the runner is configuration, the code is the same on every runner."""

    runner: str = "DirectRunner"
    extra_args: tuple[str, ...] = ("--direct_running_mode=in_memory", "--direct_num_workers=1")

    def args(self) -> list[str]:
        """Return the arguments for ``PipelineOptions``."""
        return [f"--runner={self.runner}", *self.extra_args]


@dataclass(frozen=True)
class LocalConfig:
    """Where a local run keeps its data and outputs (relative to the working directory)."""

    workdir: Path = DEFAULT_WORKDIR
    data: DefaultData = field(default_factory=DefaultData)
    beam: BeamConfig = field(default_factory=BeamConfig)

    @property
    def data_root(self) -> Path:
        """The default raw-data root."""
        return self.workdir / "data" / "default"

    @property
    def salt_file(self) -> Path:
        """The local salt file, created on first use when no salt is configured."""
        return self.workdir / "id_salt"


class SaltError(RuntimeError):
    """The user-id salt is not configured correctly."""


def load_salt(salt_file: str | Path | None = None, create_local: Path | None = None) -> bytes:
    """Return the salt that pseudonymises user ids.

    Looked up in order: the ``--salt-file`` given, ``$CYCLECAST_ID_SALT``,
    ``$CYCLECAST_ID_SALT_FILE`` (e.g. a mounted Kubernetes secret), and finally ``create_local``:
    a file created once with a random salt, so repeated local runs give the same pseudonyms.
    The salt never lives in code or in the repository.
    """
    path = salt_file or os.environ.get(SALT_FILE_ENV)
    if path is None and os.environ.get(SALT_ENV):
        return os.environ[SALT_ENV].encode()
    if path is None and create_local is not None:
        path = create_local
        if not Path(path).exists():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(secrets.token_hex(32) + "\n")
            os.chmod(path, 0o600)
    if path is None:
        raise SaltError(
            f"no user-id salt: pass --salt-file, or set ${SALT_ENV} or ${SALT_FILE_ENV}"
        )
    try:
        salt = Path(path).read_text().strip().encode()
    except OSError as e:
        raise SaltError(f"cannot read the salt file {path}: {e}") from e
    if len(salt) < 16:
        raise SaltError(f"the salt in {path} is shorter than 16 characters")
    return salt
