"""NightlyPredictions: every user with a valid night tonight gets an answer by morning.

After a night is ingested, this scores its prediction requests (NightlyFeatureGen's ``requests``:
the serving features of every valid night that can be scored) against the model currently pushed
to the serving directory, with tfx_bsl's ``RunInference`` (the Beam transform TFX's BulkInferrer
runs) on the pipeline's Beam runner, so it scales as the rest does. It writes one prediction per
user-night (pseudonym, night, probability, fertile flag, model version) as gzip JSON lines, and
the user-nights not scored with the reason (no valid night, no cycle logged, too little history,
no upload), into its artifact and, for an app backend, under ``<publish_dir>/<night>/``; and
for each cycle that closed with the night, its ovulation day or why there is none
(``components.closed_cycles``, reading that cycle's nights from the span store).

The model is the version in service tonight, by TF Serving's own rule (the newest servable version
under the serving directory). A local run pins that version when it builds the pipeline
(``model_version``), so a new push makes a re-run of the same night score again instead of coming
from the cache; empty (Kubeflow), the step reads the serving directory when it runs.
"""

# No "from __future__ import annotations": TFX reads these component signatures at import time.

import json
import os

import apache_beam as beam
from tfx.dsl.component.experimental.annotations import (
    BeamComponentParameter,
    InputArtifact,
    OutputArtifact,
    Parameter,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.artifact_properties import LAST_NIGHT_PROPERTY
from components.artifacts import NightlyPredictions as NightlyPredictionsArtifact
from components.artifacts import NightlyQuarantine
from components.published_predictions import (
    NOT_SCORED_FILE,
    OVULATION_FILE,
    PREDICTIONS_FILE,
    SUMMARY_FILE,
)


def latest_version(model_base: str) -> str | None:
    """The version in service under ``<serving_dir>/<model_name>`` (None if none).

    TF Serving's rule, from ``components.serving_layout``: the highest integer-named folder that
    holds ``saved_model.pb``, the same model ``cyclecast predict`` finds.
    """
    from components.serving_layout import latest_served_version

    return latest_served_version(model_base)


def _key_of(serialized: bytes) -> tuple:
    from transforms import features as fc
    from transforms.example_proto import example_class

    feature = example_class().FromString(serialized).features.feature
    return (
        feature[fc.USER_KEY].bytes_list.value[0].decode(),
        feature[fc.NIGHT_DATE].bytes_list.value[0].decode(),
    )


def _to_row(keyed, version: str) -> str:
    from transforms.serving_request import DECISION, PROBABILITY

    (user_key, night), log = keyed
    outputs = log.predict_log.response.outputs
    return json.dumps(
        {
            "user_key": user_key,
            "night": night,
            "probability": round(float(outputs[PROBABILITY].float_val[0]), 6),
            "fertile": bool(outputs[DECISION].int64_val[0]),
            "model_version": version,
        },
        sort_keys=True,
    )


class ScoreRequests(beam.PTransform):
    """PCollection[serialized request] -> PCollection[JSON line], one prediction each."""

    def __init__(self, model_dir: str, version: str):
        super().__init__()
        self._model_dir = model_dir
        self._version = version

    def expand(self, requests):
        """Key each request by (pseudonym, night), run the model, render one line each."""
        from tfx_bsl.public.beam import run_inference
        from tfx_bsl.public.proto import model_spec_pb2

        from transforms.serving_request import SERVING_SIGNATURE

        spec = model_spec_pb2.InferenceSpecType(
            saved_model_spec=model_spec_pb2.SavedModelSpec(
                model_path=self._model_dir, signature_name=[SERVING_SIGNATURE]
            )
        )
        version = self._version
        return (
            requests
            | "Key" >> beam.Map(lambda b: (_key_of(b), b))
            | "RunInference" >> run_inference.RunInference(spec)
            | "Row" >> beam.Map(_to_row, version)
        )


def score_night(
    pipeline: beam.Pipeline, request_files: str, model_dir: str, version: str, out_file: str
) -> None:
    """Add the scoring of ``request_files`` to ``pipeline``, writing sorted JSON lines."""
    from components.nightly_features.sorted_shards import write_gzip_file

    def write(lines):
        write_gzip_file(out_file, [f"{line}\n".encode() for line in sorted(lines)])
        return len(lines)

    _ = (
        pipeline
        | "ReadRequests"
        >> beam.io.ReadFromTFRecord(request_files, coder=beam.coders.BytesCoder())
        | "Score" >> ScoreRequests(model_dir, version)
        | "All" >> beam.combiners.ToList()
        | "Write" >> beam.Map(write)
    )


def publish_closed_cycles(
    request_files: str | None, span_store: str, night: str, out_file: str
) -> int:
    """Write the ovulation record of each cycle tonight's requests close; return how many.

    The file is written even empty (no request tonight, ``request_files`` None, or no span store
    to read the closed cycle's nights from), so a re-run never leaves an earlier night's records.
    """
    import datetime as dt

    from components.closed_cycles import ovulation_records
    from components.nightly_features.sorted_shards import write_gzip_file
    from components.spans.store import SpanStore
    from transforms.tf_example import read_examples

    records = []
    if span_store and request_files:
        records = ovulation_records(
            SpanStore(span_store), dt.date.fromisoformat(night), read_examples(request_files)
        )
    write_gzip_file(out_file, [f"{json.dumps(r, sort_keys=True)}\n".encode() for r in records])
    return len(records)


@component(use_beam=True)
def NightlyPredictions(  # noqa: N802
    requests: InputArtifact[standard_artifacts.Examples],
    quarantine: InputArtifact[NightlyQuarantine],
    predictions: OutputArtifact[NightlyPredictionsArtifact],
    model_base: Parameter[str],
    publish_dir: Parameter[str],
    model_version: Parameter[str] = "",
    span_store: Parameter[str] = "",
    code_version: Parameter[str] = "",
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Score tonight's requests against the model in service; publish predictions and skips.

    Also publishes the ovulation day of every cycle that closed tonight
    (``components.closed_cycles``, from the span store's stored statistics), whatever the model.
    """
    from tfx.types import artifact_utils
    from tfx.utils import io_utils

    from components import quarantine_layout
    from components.file_io import write_atomically
    from components.nightly_features.sorted_shards import write_gzip_file
    from components.quarantine_layout import NOT_SCORED, night_file
    from components.spans.store import REQUESTS_SPLIT, night_shards

    night = requests.get_string_custom_property(LAST_NIGHT_PROPERTY)
    summary_path = os.path.join(quarantine.uri, quarantine_layout.SUMMARY_FILE)
    by_night = json.loads(io_utils.read_string_file(summary_path)).get("by_night", {})
    counts = by_night.get(night, {})
    not_scored = dict(counts.get("not_scored_by_reason", {}))
    requested = int(counts.get("prediction_requests", 0))
    version = model_version or latest_version(model_base)
    out_file = os.path.join(predictions.uri, PREDICTIONS_FILE)
    pattern = night_shards(artifact_utils.get_split_uri([requests], REQUESTS_SPLIT), night)
    ovulation_file = os.path.join(predictions.uri, OVULATION_FILE)
    tonight = pattern if requested else None
    closed = publish_closed_cycles(tonight, span_store, night, ovulation_file)
    if version is None or requested == 0:
        if requested:
            not_scored["no_model_pushed_yet"] = requested
        write_gzip_file(out_file, [])
        scored = 0
    else:
        with beam_pipeline as pipeline:
            score_night(pipeline, pattern, os.path.join(model_base, version), version, out_file)
        scored = requested
    summary = {
        "night": night,
        "model_version": version,
        "scored": scored,
        "not_scored_by_reason": dict(sorted(not_scored.items())),
        "cycles_closed": closed,
    }
    text = json.dumps(summary, indent=2, sort_keys=True)
    io_utils.write_string_file(os.path.join(predictions.uri, SUMMARY_FILE), text)
    # where an app backend reads them: predictions first, the summary last (it says "ready")
    published = os.path.join(publish_dir, night)
    from tfx.dsl.io import fileio

    fileio.makedirs(published)
    fileio.copy(out_file, os.path.join(published, PREDICTIONS_FILE), overwrite=True)
    fileio.copy(ovulation_file, os.path.join(published, OVULATION_FILE), overwrite=True)
    skipped = os.path.join(quarantine.uri, night_file(NOT_SCORED, night))
    if fileio.exists(skipped):
        fileio.copy(skipped, os.path.join(published, NOT_SCORED_FILE), overwrite=True)
    write_atomically(os.path.join(published, SUMMARY_FILE), text.encode())
    predictions.set_string_custom_property("night", night)
    predictions.set_string_custom_property("model_version", version or "")
    predictions.set_int_custom_property("scored", scored)
    predictions.set_int_custom_property("not_scored", sum(not_scored.values()))
    predictions.set_int_custom_property("cycles_closed", closed)
