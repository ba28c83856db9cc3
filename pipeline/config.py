"""Typed configuration with local defaults. Local and cluster runs differ only in these values.

Nothing here reads the environment: ``components.nightly_features.salt`` reads the user-id salt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
