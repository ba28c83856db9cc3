"""Pushed model versions in the MLflow Model Registry, with their lineage, and where they went.

Each blessed, pushed model becomes one version of a registered model (``cyclecast`` unless told
otherwise), linked to the run's MLflow run (``pipeline.runs.mlflow_export``) and tagged with its
lineage: the cyclecast run, the git commit, the raw-data fingerprint, TFMA's metrics and the
calendar rule's on the same split (the names people read), and the TF Serving version. The version
is found again by the TF Serving directory it came from, so registering twice (or through the run
that reused it from the cache) changes nothing. An alias (``serving``) marks the version TF
Serving serves: the newest pushed one. What was registered is written onto the pushed model in
ML Metadata, so ``cyclecast models show`` says where a version is registered without asking MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.metadata import store as md
from pipeline.runs import catalog
from pipeline.runs.mlflow_export import RUN_TAG, labelled_metrics, redacted
from pipeline.runs.summary import RunSummary

DEFAULT_ALIAS = "serving"
SERVING_PATH_TAG = "cyclecast.serving_path"  # what identifies a version: TF Serving's directory
MODEL_ARTIFACT = "model"  # where a local SavedModel is uploaded in the MLflow run


@dataclass(frozen=True)
class Registration:
    """One pushed model's version in the registry."""

    tracking_uri: str  # without a password
    registered_model: str
    version: str  # MLflow's version number (not TF Serving's)
    run_id: str  # the MLflow run it is linked to
    alias: str  # the alias it holds, "" when a newer pushed version holds it
    created: bool  # False when it was registered before

    def properties(self) -> dict[str, str]:
        """The custom properties recorded on the pushed model in ML Metadata."""
        return {
            f"{catalog.REGISTRY_PREFIX}{k}": v
            for k, v in (
                ("tracking_uri", self.tracking_uri),
                ("registered_model", self.registered_model),
                ("version", self.version),
                ("run_id", self.run_id),
                ("alias", self.alias),
            )
        }


def unregistered_reason(r: RunSummary) -> str | None:
    """Why a run has no model to register (None when it has one: blessed and pushed)."""
    if r.blessed is None:
        return "its model was not evaluated (no blessing recorded)"
    if not r.blessed:
        return "the Evaluator did not bless its model"
    if not r.pushed_path:
        return "its blessed model was not pushed"
    return None


def version_tags(r: RunSummary, model: catalog.ModelVersion) -> dict[str, str]:
    """A pushed model's lineage and metrics as model version tags (pure: no MLflow import)."""
    tags = {
        RUN_TAG: r.run_id,
        SERVING_PATH_TAG: str(r.pushed_path),
        "cyclecast.serving_version": str(r.pushed_version),
    }
    if r.code.get("git_commit"):
        tags["cyclecast.git_commit"] = str(r.code["git_commit"])
    # From the model's lineage (its raw examples): a run that reused them from the cache has no
    # fingerprint of its own on the feature job's execution.
    fingerprint = model.data.get("input_fingerprint") or r.data.get("input_fingerprint")
    if fingerprint:
        tags["cyclecast.data_fingerprint"] = str(fingerprint)
    figures = {**labelled_metrics("", r.candidate), **labelled_metrics("calendar.", r.calendar)}
    tags.update({k: repr(v) for k, v in figures.items()})  # repr: every digit, float() reads it
    return tags


def _model_source(client, pushed_path: str, mlflow_run_id: str) -> str:
    """Where the registry says the model's files are.

    A pushed directory in an object store (``gs://``, ``s3://``) is the source itself. A local
    directory means nothing to a remote server, and ``mlflow server`` refuses local sources
    outside the run's artifacts, so the SavedModel is uploaded to the MLflow run and that copy
    is the source (the version's ``cyclecast.serving_path`` tag still names the pushed one).
    """
    parts = urlsplit(pushed_path)
    if parts.scheme not in ("", "file"):
        return pushed_path
    client.log_artifacts(mlflow_run_id, parts.path, MODEL_ARTIFACT)
    return f"runs:/{mlflow_run_id}/{MODEL_ARTIFACT}"


def register_run_model(
    client,
    r: RunSummary,
    mlflow_run_id: str,
    metadata_path: str,
    pipeline_name: str,
    registered_model: str,
    alias: str = DEFAULT_ALIAS,
) -> Registration:
    """Register the model run ``r`` pushed (see ``unregistered_reason`` first) and record where.

    ``client`` comes from ``mlflow_export.mlflow_client``; ``mlflow_run_id`` is the run's MLflow
    run (``export_run``). The alias moves to this version only when it is the newest pushed one.
    """
    from mlflow.exceptions import MlflowException

    pushed = catalog.list_models(metadata_path, pipeline_name)
    model = next(m for m in pushed if m.path == r.pushed_path)
    try:
        client.get_registered_model(registered_model)
    except MlflowException as e:
        if e.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(
            registered_model, description="cyclecast's fertile-window model as TF Serving serves it"
        )
    found = client.search_model_versions(
        f"name = '{registered_model}' and tags.`{SERVING_PATH_TAG}` = '{r.pushed_path}'"
    )
    if found:
        version = found[0]
    else:
        version = client.create_model_version(
            registered_model,
            _model_source(client, r.pushed_path, mlflow_run_id),
            run_id=mlflow_run_id,
            tags=version_tags(r, model),
            description=f"cyclecast run {r.run_id}, TF Serving version {r.pushed_version}",
        )
    if model.version == pushed[-1].version:  # TF Serving serves the highest version number
        client.set_registered_model_alias(registered_model, alias, version.version)
    # An older version keeps the alias while the newest is not registered yet: ask, don't guess.
    aliases = client.get_registered_model(registered_model).aliases
    holds = str(aliases.get(alias)) == str(version.version)
    registration = Registration(
        tracking_uri=redacted(client.tracking_uri),
        registered_model=registered_model,
        version=str(version.version),
        run_id=version.run_id or mlflow_run_id,
        alias=alias if holds else "",
        created=not found,
    )
    record_registration(metadata_path, pushed, model, registration)
    return registration


def record_registration(
    metadata_path: str,
    pushed: list[catalog.ModelVersion],
    model: catalog.ModelVersion,
    registration: Registration,
) -> None:
    """Write the registration onto the pushed model; when the alias moved here, off the others."""
    if registration.alias:
        for other in pushed:
            held = other.registry
            if (
                other is not model
                and held.get("alias") == registration.alias
                and held.get("tracking_uri") == registration.tracking_uri
                and held.get("registered_model") == registration.registered_model
            ):
                md.record_artifact_properties(
                    metadata_path, other.artifact_id, {f"{catalog.REGISTRY_PREFIX}alias": ""}
                )
    md.record_artifact_properties(metadata_path, model.artifact_id, registration.properties())
