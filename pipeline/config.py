"""Typed configuration with local defaults. Local and cluster runs differ only in these values.

Nothing here reads the environment: ``components.nightly_features.salt`` reads the user-id salt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from components import defaults
from transforms.features import HISTORY_NIGHTS
from transforms.serving_request import DEFAULT_SCHEMA as SCHEMA_FILE  # the contract's schema

DEFAULT_WORKDIR = Path(".cyclecast")
REPO_ROOT = Path(__file__).resolve().parents[1]
_KFP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


@dataclass(frozen=True)
class DefaultData:
    """The default synthetic dataset the main job generates on a fresh clone (fixed seed)."""

    # 80 users x 4 cycles: ~9,000 nights, ~950 eval nights from ~12 users; the whole run takes
    # about 5 minutes on 2 cores.
    users: int = 80
    cycles: int = 4
    seed: int = 20261126


BEAM_PROFILES = REPO_ROOT / "pipeline" / "configs" / "beam"


@dataclass(frozen=True)
class BeamConfig:
    """Beam options: the runner is configuration, the code is the same on every runner."""

    runner: str = "DirectRunner"
    extra_args: tuple[str, ...] = ("--direct_running_mode=in_memory", "--direct_num_workers=1")

    def args(self) -> list[str]:
        """Return the arguments for ``PipelineOptions``."""
        return [f"--runner={self.runner}", *self.extra_args]

    @classmethod
    def from_profile(cls, name_or_path: str) -> BeamConfig:
        """Load ``pipeline/configs/beam/<name>.toml`` (direct, dataflow, flink, spark) or a file."""
        import tomllib

        path = Path(name_or_path)
        if not path.suffix:
            path = BEAM_PROFILES / f"{name_or_path}.toml"
        if not path.is_file():
            known = sorted(p.stem for p in BEAM_PROFILES.glob("*.toml"))
            raise FileNotFoundError(f"no Beam profile {name_or_path!r}; known: {known}")
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        unknown = sorted(set(raw) - {"runner", "extra_args"})
        if unknown or "runner" not in raw:
            raise ValueError(
                f"{path}: needs 'runner' (and optional 'extra_args'), got {sorted(raw)}"
            )
        return cls(runner=raw["runner"], extra_args=tuple(raw.get("extra_args", ())))


@dataclass(frozen=True)
class TrainingConfig:
    """Trainer settings; the hyperparameters override ``components.trainer.model``'s defaults."""

    train_steps: int = 1500
    eval_steps: int = 50
    seed: int = 42
    hparams: tuple[tuple[str, float], ...] = ()
    # TFX's Tuner before the Trainer (components.trainer.tuner.tuner_fn; MODEL.md), off by default
    tune: bool = False
    tune_trials: int = 12


@dataclass(frozen=True)
class EvaluationConfig:
    """What blesses a model: value thresholds, and the change allowed against the baseline."""

    decision_threshold: float = 0.5
    min_auc: float = 0.75
    min_sensitivity: float = 0.5
    min_specificity: float = 0.75
    max_auc_drop: float = 0.01  # vs the latest blessed model; ignored on the first run


@dataclass(frozen=True)
class DriftConfig:
    """The nightly drift check: the new night's statistics against the previous night's.

    Thresholds are the ``drift_comparator`` entries in ``schema/schema.pbtxt``. Drift beyond them
    stops the run before Transform unless ``allow`` (a person's override, recorded in the report).
    """

    allow: bool = False
    min_nights: int = defaults.DRIFT_MIN_NIGHTS  # fewer valid nights on either night: too few


@dataclass(frozen=True)
class PipelineConfig:
    """Everything ``create_pipeline`` needs; every path is a plain string (local or remote)."""

    data_root: str
    pipeline_root: str
    serving_dir: str
    metadata_path: str | None = None  # SQLite file for local runs; None on Kubeflow
    pipeline_name: str = "cyclecast"
    model_name: str = "cyclecast"
    salt_file: str | None = None  # None: the executor reads $CYCLECAST_ID_SALT(_FILE)
    schema_file: str = str(SCHEMA_FILE)
    beam: BeamConfig = field(default_factory=BeamConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    # The night (span) to process, YYYY-MM-DD; None takes the latest night that has landed.
    night: str | None = None
    # Train on the rolling window of this many ingested nights ending with that night.
    window_nights: int = defaults.WINDOW_NIGHTS
    # How many nights back each run looks for late or re-sent uploads to re-ingest.
    late_nights: int = defaults.LATE_NIGHTS
    # Retrain every N-th night (by span number); ingestion runs every night.
    train_every: int = 1
    # Where each night's predictions are published for the app (<dir>/<night>/); "" puts them
    # under the pipeline root.
    predictions_dir: str = ""
    # The online store the ingest writes and answers read (``redis://host:port/db``); "": the
    # embedded SQLite file beside a local span store (``components.online_store``).
    online_store: str = ""
    enable_cache: bool = True
    # Kubeflow: expose the training arguments and the evaluation config (with its thresholds) as
    # run-time parameters of the compiled pipeline; the values above become their defaults.
    runtime_parameters: bool = False

    def __post_init__(self):
        if not _KFP_NAME.match(self.pipeline_name):
            raise ValueError(f"pipeline_name {self.pipeline_name!r} must match {_KFP_NAME.pattern}")
        if self.training.train_steps < 1 or self.training.eval_steps < 1:
            raise ValueError("train_steps and eval_steps must be at least 1")
        if self.window_nights < 1:
            raise ValueError(f"window_nights must be at least 1, got {self.window_nights}")
        if self.train_every < 1:
            raise ValueError(f"train_every must be at least 1, got {self.train_every}")
        if not 0 <= self.late_nights <= HISTORY_NIGHTS:
            raise ValueError(f"late_nights must be 0-{HISTORY_NIGHTS}, got {self.late_nights}")
        if self.night is not None:
            from components.spans.dates import parse_night

            parse_night(self.night)

    @property
    def span_store(self) -> str:
        """Where ingested nights are indexed: ``<pipeline_root>/spans`` (local or remote)."""
        return f"{self.pipeline_root.rstrip('/')}/spans"

    @property
    def predictions_root(self) -> str:
        """Where each night's predictions are published: ``<predictions_root>/<night>/``."""
        return self.predictions_dir or f"{self.pipeline_root.rstrip('/')}/predictions"

    @property
    def online_store_url(self) -> str:
        """The online store's URL: the configured one, else the embedded one of the span store."""
        from components.online_store import default_url

        return self.online_store or default_url(self.span_store)

    def with_changes(self, **changes) -> PipelineConfig:
        """Return a copy with some fields replaced."""
        return replace(self, **changes)


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

    def pipeline_config(self, data_root: Path | None = None) -> PipelineConfig:
        """The local pipeline: SQLite metadata, pipeline root and serving models under workdir."""
        w = self.workdir.resolve()
        return PipelineConfig(
            data_root=str((data_root or self.data_root).resolve()),
            pipeline_root=str(w / "pipeline_root"),
            serving_dir=str(w / "serving_model"),
            predictions_dir=str(w / "predictions"),
            metadata_path=str(w / "metadata.db"),
            salt_file=str(self.salt_file.resolve()),
            beam=self.beam,
        )
