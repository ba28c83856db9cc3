"""The one reader of ML Metadata: open the store, find a pipeline's runs, walk what they recorded.

The local runner, run summaries, ``runs``/``models``, the report, ``evaluate``, ``predict`` and
the benchmarks all read runs through this module. Artifact paths come from TFX's own helpers
(``artifact_utils.get_split_uri``) and every artifact file is read through ``tfx.dsl.io.fileio``,
so the readers work wherever the pipeline root lives: a local directory or the object store of a
Kubeflow pipeline root. TFX is imported only by the functions that touch artifacts (importing it
starts TensorFlow, seconds), so opening the store and finding runs stay cheap.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

RUN_CONTEXT_TYPE = "pipeline_run"  # TFX's context of one pipeline run; its name is the run id

# The raw examples a run trained and evaluated on (its training window): what a request carries.
WINDOW_EXAMPLES = "TrainingWindow.window"


def connect(metadata_path: str, must_exist: bool = True) -> metadata_store.MetadataStore:
    """Open the ML Metadata store: a SQLite file, or a ``mysql://`` or ``grpc://`` address.

    ``must_exist``: a SQLite file must already be there (see ``pipeline.metadata.connection``).
    """
    from pipeline.metadata.connection import open_store

    return open_store(metadata_path, must_exist=must_exist)


def prop_value(value: metadata_store_pb2.Value):
    """The Python value of an ML Metadata property value (None when unset)."""
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def custom_props(node) -> dict:
    """An artifact's, execution's or context's custom properties as Python values."""
    return {k: prop_value(v) for k, v in node.custom_properties.items()}


def run_contexts(store: metadata_store.MetadataStore, pipeline_name: str) -> list:
    """The pipeline's ``pipeline_run`` contexts, oldest first."""
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return []
    ours = {e.id for e in store.get_executions_by_context(pipeline.id)}
    runs = [
        c
        for c in store.get_contexts_by_type(RUN_CONTEXT_TYPE)
        if any(e.id in ours for e in store.get_executions_by_context(c.id))
    ]
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.name))


def run_ids(metadata_path: str, pipeline_name: str) -> set[str]:
    """The ids of the pipeline's recorded runs (none when the store does not exist yet)."""
    from pipeline.metadata.connection import parse_metadata_address

    if not metadata_path:
        return set()
    address = parse_metadata_address(metadata_path)
    if address.is_local_file and not os.path.exists(address.path):
        return set()
    return {c.name for c in run_contexts(connect(metadata_path, must_exist=False), pipeline_name)}


def find_run(store: metadata_store.MetadataStore, pipeline_name: str, run: str | None):
    """The run whose id is ``run`` or starts with it; the latest when ``run`` is None/'latest'."""
    runs = run_contexts(store, pipeline_name)
    if not runs:
        raise LookupError(f"no run of {pipeline_name} recorded yet")
    if run is None or run == "latest":
        return runs[-1]
    if not run.strip():  # as a prefix it would match every run
        raise LookupError("an empty run id names no run; give an id, a prefix or 'latest'")
    matches = [c for c in runs if c.name.startswith(run)]
    if len(matches) != 1:
        known = ", ".join(c.name for c in runs[-5:])
        what = "no run" if not matches else f"{len(matches)} runs"
        raise LookupError(f"{what} matching {run!r}; latest runs: {known}")
    return matches[0]


def record_artifact_properties(
    metadata_path: str, artifact_id: int, properties: dict[str, str]
) -> None:
    """Attach string custom properties to a recorded artifact (where a model was registered)."""
    store = connect(metadata_path)
    (artifact,) = store.get_artifacts_by_id([artifact_id])
    for key, value in properties.items():
        artifact.custom_properties[key].string_value = value
    store.put_artifacts([artifact])


def component_of(execution_type_name: str) -> str:
    """The component's short name from its execution type (``tfx.components.Trainer`` -> ...)."""
    return execution_type_name.rsplit(".", 1)[-1]


def run_executions(store: metadata_store.MetadataStore, run) -> list[tuple[str, object]]:
    """``(component, execution)`` of a run, in the order they were registered."""
    names = {t.id: component_of(t.name) for t in store.get_execution_types()}
    executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.id)
    return [(names.get(e.type_id, "?"), e) for e in executions]


def execution_state(execution) -> str:
    """``COMPLETE``, ``CACHED``, ``FAILED``... of an execution."""
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def execution_seconds(execution) -> float:
    """Seconds from an execution's registration to its last update."""
    return (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0


@dataclass(frozen=True)
class RecordedArtifact:
    """An artifact as ML Metadata recorded it, with its type (what TFX needs to read it)."""

    artifact: metadata_store_pb2.Artifact
    artifact_type: metadata_store_pb2.ArtifactType

    @property
    def uri(self) -> str:
        """Where the artifact's files are."""
        return self.artifact.uri

    @property
    def type_name(self) -> str:
        """The artifact type's name (``Examples``, ``components.DriftReport``...)."""
        return self.artifact_type.name

    def prop(self, name: str):
        """A property or custom property's value (None when unset)."""
        for props in (self.artifact.custom_properties, self.artifact.properties):
            if name in props:
                return prop_value(props[name])
        return None

    def tfx_artifact(self):
        """The artifact as TFX's own ``Artifact`` object (imports TFX)."""
        # Importing the artifact classes registers them: without it TFX warns that it found no
        # class for 'Examples' and makes an ephemeral one.
        import tfx.types.standard_artifacts  # noqa: F401
        from tfx.types import artifact_utils

        import components.artifacts  # noqa: F401  (cyclecast's own types)

        return artifact_utils.deserialize_artifact(self.artifact_type, self.artifact)

    def split_names(self) -> list[str]:
        """The splits the artifact holds (none for an artifact without splits)."""
        from tfx.types import artifact_utils

        names = self.prop("split_names")
        return artifact_utils.decode_split_names(names) if names else []

    def split_uri(self, split: str) -> str:
        """The directory of one split, as TFX lays it out."""
        from tfx.types import artifact_utils

        return artifact_utils.get_split_uri([self.tfx_artifact()], split)

    def split_files(self, split: str) -> str:
        """A glob pattern of one split's files."""
        from tfx.utils import io_utils

        return io_utils.all_files_pattern(self.split_uri(split))


def _artifacts(store: metadata_store.MetadataStore, ids: list[int]) -> list[RecordedArtifact]:
    types = {t.id: t for t in store.get_artifact_types()}
    return [RecordedArtifact(a, types[a.type_id]) for a in store.get_artifacts_by_id(ids)]


def run_outputs(store: metadata_store.MetadataStore, run) -> dict[str, RecordedArtifact]:
    """A run's output artifacts (also those a cached execution reused), keyed ``Component.key``."""
    components = {e.id: name for name, e in run_executions(store, run)}
    keyed: dict[int, str] = {}
    for event in store.get_events_by_execution_ids(list(components)):
        keys = [s.key for s in event.path.steps if s.HasField("key")]
        if event.type == metadata_store_pb2.Event.OUTPUT and keys:
            keyed[event.artifact_id] = f"{components[event.execution_id]}.{keys[0]}"
    return {keyed[a.artifact.id]: a for a in _artifacts(store, list(keyed))}


def producer_inputs(
    store: metadata_store.MetadataStore, artifact_id: int
) -> tuple[object | None, dict[str, list[RecordedArtifact]]]:
    """The execution that produced an artifact and its inputs by type name (lineage, one step)."""
    events = store.get_events_by_artifact_ids([artifact_id])
    producer = [e.execution_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    if not producer:
        return None, {}
    execution = store.get_executions_by_id(producer[:1])[0]
    # A conditional node also takes its condition's artifact, under a key starting with "_"
    # (the training window, for the nodes of a training night): that is not lineage.
    inputs = [
        e.artifact_id
        for e in store.get_events_by_execution_ids([execution.id])
        if e.type == metadata_store_pb2.Event.INPUT
        and not (e.path.steps and e.path.steps[0].key.startswith("_"))
    ]
    by_type: dict[str, list[RecordedArtifact]] = {}
    for a in _artifacts(store, inputs):
        by_type.setdefault(a.type_name, []).append(a)
    return execution, by_type


def artifacts_of_type(
    store: metadata_store.MetadataStore, type_name: str
) -> list[RecordedArtifact]:
    """Every recorded artifact of a type, whatever run made it."""
    return _artifacts(store, [a.id for a in store.get_artifacts_by_type(type_name)])


def contexts_of_execution(store: metadata_store.MetadataStore, execution_id: int) -> list:
    """The contexts (pipeline, run, node) an execution belongs to."""
    return store.get_contexts_by_execution(execution_id)


def read_bytes(path: str) -> bytes:
    """An artifact file's bytes, through TFX's file system layer (local or object store)."""
    from tfx.dsl.io import fileio

    with fileio.open(path, "rb") as f:
        return f.read()


def read_json(path: str):
    """An artifact file's JSON content."""
    return json.loads(read_bytes(path))


def exists(path: str) -> bool:
    """Whether an artifact file or directory exists (local or object store)."""
    from tfx.dsl.io import fileio

    return fileio.exists(path)


def glob(pattern: str) -> list[str]:
    """Artifact files matching a pattern (local or object store)."""
    from tfx.dsl.io import fileio

    return fileio.glob(pattern)
