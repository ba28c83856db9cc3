"""One pipeline run's Transform output, read back as in-memory splits for the benchmarks.

The model comparison, the multi-task experiment and the ceiling all score candidates on the same
nights: a split's raw examples (NightlyFeatureGen's output) through the run's transform graph,
with each night's raw features kept beside its model inputs (the calendar rule's call,
``cycle_regularity``, the cycle day, the user and the night) for slices and folds.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.spans.store import split_dir


@dataclass(frozen=True)
class RunArtifacts:
    """One run's Transform output and the raw examples it was made from."""

    transformed_examples: Path
    transform_graph: Path
    raw_examples: Path

    def transformed_split(self, split: str) -> list[str]:
        """Transform's files of a split, in name order."""
        folder = Path(split_dir(str(self.transformed_examples), split))
        return sorted(str(p) for p in folder.iterdir())

    def raw_split(self, split: str) -> list[str]:
        """The feature job's files of a split, in name order."""
        return sorted(str(p) for p in Path(split_dir(str(self.raw_examples), split)).iterdir())


def latest_artifact(pipeline_root: Path, component: str, output: str) -> Path:
    """The newest artifact directory (highest execution id) of a component's output."""
    dirs = [p for p in (pipeline_root / component / output).iterdir() if p.name.isdigit()]
    if not dirs:
        raise FileNotFoundError(f"no {component}.{output} under {pipeline_root}")
    return max(dirs, key=lambda p: int(p.name))


def find_run(pipeline_root: Path) -> RunArtifacts:
    """The latest Transform output under a pipeline root, and the raw examples it transformed."""
    return RunArtifacts(
        transformed_examples=latest_artifact(pipeline_root, "Transform", "transformed_examples"),
        transform_graph=latest_artifact(pipeline_root, "Transform", "transform_graph"),
        raw_examples=latest_artifact(pipeline_root, "NightlyFeatureGen", "examples"),
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workdir`` or ``--pipeline-root``: where the run whose Transform output is read lives."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--workdir", help="a `cyclecast run` work directory")
    where.add_argument("--pipeline-root", help="a pipeline root (default: WORKDIR/pipeline_root)")


def run_of(args: argparse.Namespace) -> RunArtifacts:
    """The run ``add_run_arguments``' arguments name."""
    return find_run(Path(args.pipeline_root or Path(args.workdir) / "pipeline_root"))


@dataclass
class Split:
    """One split: transformed model inputs, label, and the raw features slices need."""

    features: dict[str, np.ndarray]  # transformed, scalars as [n, 1], sequences as [n, L]
    label: np.ndarray  # [n] 0/1
    calendar: np.ndarray  # [n] the calendar rule's 0/1 call
    regularity: np.ndarray  # [n] str
    cycle_day: np.ndarray  # [n] int
    user: np.ndarray  # [n] pseudonymous user key
    night: np.ndarray  # [n] ISO date of the night

    def __len__(self) -> int:
        return len(self.label)

    def take(self, index: np.ndarray) -> Split:
        """The nights at ``index``."""
        return Split({k: v[index] for k, v in self.features.items()}, self.label[index],
                     self.calendar[index], self.regularity[index], self.cycle_day[index],
                     self.user[index], self.night[index])


def load_split(run: RunArtifacts, tf_transform_output, split: str) -> Split:
    """A split's raw examples, transformed by the run's transform graph, in file order."""
    import tensorflow as tf

    records = tf.data.TFRecordDataset(run.raw_split(split), compression_type="GZIP")
    return transform_examples(list(records.as_numpy_iterator()), tf_transform_output)


def transform_examples(serialized: list[bytes], tf_transform_output) -> Split:
    """Serialized raw examples (the feature job's), transformed by a run's transform graph."""
    import tensorflow as tf

    from components.calendar_rule import calendar_predictions
    from transforms import features as fc

    raw_spec = tf_transform_output.raw_feature_spec()
    raw = tf.io.parse_example(tf.constant(serialized), raw_spec)
    transformed = tf_transform_output.transform_raw_features(
        {k: raw[k] for k in raw_spec}, drop_unused_features=True)
    features = {}
    for name, value in transformed.items():
        if name == fc.LABEL_KEY:
            continue
        value = value.numpy().astype(np.float32)
        features[name] = value.reshape(len(value), -1)
    raw = {k: v.numpy() for k, v in raw.items()}
    return Split(
        features=features,
        label=raw[fc.LABEL_KEY][:, 0].astype(np.int64),
        calendar=calendar_predictions(raw[fc.CYCLE_DAY][:, 0], raw[fc.PREV_CYCLE_LENGTHS],
                                      raw[fc.PREV_CYCLE_COUNT][:, 0]),
        regularity=np.array([v[0].decode() for v in raw[fc.CYCLE_REGULARITY]]),
        cycle_day=raw[fc.CYCLE_DAY][:, 0],
        user=np.array([v[0] for v in raw[fc.USER_KEY]]),
        night=np.array([v[0].decode() for v in raw[fc.NIGHT_DATE]]),
    )


def scalar_matrix(features: dict[str, np.ndarray], with_sequences: bool = False) -> np.ndarray:
    """The features as one matrix, in name order: the scalars, and optionally every sequence."""
    from transforms.preprocessing import SEQUENCE_PREFIX

    names = sorted(n for n in features if with_sequences or not n.startswith(SEQUENCE_PREFIX))
    return np.concatenate([features[n] for n in names], axis=1)
