"""Submit the compiled Kubeflow pipeline: one run now, or a recurring run on a cron schedule.

The spec is the file ``cyclecast compile`` writes (KubeflowV2DagRunner's PipelineJob-style JSON:
``displayName``, ``pipelineSpec``, ``runtimeConfig.gcsOutputDirectory``). kfp 2.13's
``kfp.Client`` reads pipeline packages only as ``.yaml``/``.yml``/``.zip``/``.tar.gz`` holding a
bare ``PipelineSpec``, so the inner ``pipelineSpec`` is written to a temporary ``pipeline.yaml``
and the pipeline root is passed from ``runtimeConfig.gcsOutputDirectory``. The client sends the
spec inline (``POST /apis/v2beta1/runs`` or ``/recurringruns``); nothing is uploaded.

Per-task caching is left as compiled (``enable_caching=None``): NightlyFeatureGen is compiled
with caching off because its inputs change every night behind an unchanged cache key.

This module never imports TensorFlow; ``kfp`` itself costs a few seconds to import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TOKEN_ENV = "KFP_TOKEN"
HEALTHZ_PATH = "/apis/v2beta1/healthz"
# Where a pod finds its own namespace (kfp.Client reads the same file in multi-user mode).
_POD_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class SubmitError(RuntimeError):
    """Submission failed: unreachable server, server error, bad spec file, token or cron."""


def load_token(token_file: str | None) -> str | None:
    """The bearer token: from ``token_file`` if given, else ``$KFP_TOKEN`` if set, else None.

    A given file that can't be read or holds only whitespace is an error, not a silent fallback.
    """
    if token_file is not None:
        try:
            token = Path(token_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise SubmitError(f"cannot read the token file {token_file}: {e}") from e
        if not token:
            raise SubmitError(f"the token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


@dataclass(frozen=True)
class SubmitResult:
    """What was created on the KFP server."""

    kind: str  # "run" or "recurring_run"
    id: str
    name: str
    experiment_id: str
    experiment_name: str
    host: str
    parameters: dict[str, str] = field(default_factory=dict)
    schedule: str | None = None  # the cron of a recurring run

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


# robfig/cron (KFP's scheduler) with seconds: second minute hour day-of-month month day-of-week
_CRON_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)
_CRON_PART = re.compile(r"^(\*|\?|[0-9]+|[A-Za-z]{3})(?:-([0-9]+|[A-Za-z]{3}))?(?:/([0-9]+))?$")
_CRON_HELP = (
    "KFP takes 6 fields 'second minute hour day-of-month month day-of-week', "
    "e.g. '0 0 3 * * *' for 03:00 every day"
)


def validate_cron(expression: str) -> str:
    """Check a KFP cron expression (6 fields, seconds first) and return it normalised."""
    fields_ = expression.split()
    if len(fields_) != len(_CRON_FIELDS):
        hint = ""
        if len(fields_) == 5:
            hint = f" (a 5-field cron has no seconds: did you mean '0 {' '.join(fields_)}'?)"
        raise SubmitError(f"bad cron {expression!r}: {len(fields_)} field(s); {_CRON_HELP}{hint}")
    for text, (name, low, high) in zip(fields_, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            m = _CRON_PART.match(part)
            if not m:
                raise SubmitError(f"bad cron {expression!r}: {name} field {text!r}; {_CRON_HELP}")
            start, end, step = m.groups()
            for number in (start, end):
                if number and number.isdigit() and not low <= int(number) <= high:
                    raise SubmitError(
                        f"bad cron {expression!r}: {name} {number} is outside {low}-{high}"
                    )
            if step is not None and int(step) < 1:
                raise SubmitError(f"bad cron {expression!r}: {name} step must be at least 1")
    return " ".join(fields_)


def default_run_name(now: dt.datetime | None = None) -> str:
    """``cyclecast-YYYYmmdd-HHMMSS`` in UTC."""
    now = now or dt.datetime.now(dt.UTC)
    return f"cyclecast-{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}"


@dataclass(frozen=True)
class CompiledSpec:
    """The parts of a compiled spec file that a submission needs."""

    pipeline_spec: dict[str, Any]
    pipeline_root: str | None
    parameter_names: frozenset[str]


def read_spec(spec_path: str | Path) -> CompiledSpec:
    """Read and check a compiled spec file (KubeflowV2DagRunner JSON, or a bare PipelineSpec)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        doc = json.loads(Path(spec_path).read_text())
    except OSError as e:
        raise SubmitError(f"cannot read the spec file {spec_path}: {e}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise SubmitError(f"bad spec file {spec_path}: not JSON ({e})") from e
    if not isinstance(doc, dict):
        raise SubmitError(f"bad spec file {spec_path}: expected a JSON object")
    if "pipelineSpec" in doc:
        spec = doc["pipelineSpec"]
        runtime = doc.get("runtimeConfig") or {}
        root = runtime.get("gcsOutputDirectory") or doc.get("defaultPipelineRoot")
    elif "pipelineInfo" in doc and "root" in doc:
        spec, root = doc, doc.get("defaultPipelineRoot")
    else:
        raise SubmitError(
            f"bad spec file {spec_path}: no 'pipelineSpec' (compile it with `cyclecast compile`)"
        )
    try:
        parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise SubmitError(f"bad spec file {spec_path}: not a KFP PipelineSpec ({e})") from e
    if not parsed.pipeline_info.name or not parsed.root.dag.tasks:
        raise SubmitError(f"bad spec file {spec_path}: no pipeline name or no tasks")
    names = frozenset(parsed.root.input_definitions.parameters)
    return CompiledSpec(pipeline_spec=spec, pipeline_root=root, parameter_names=names)


def submit_pipeline(
    spec_path: str | Path,
    host: str,
    *,
    experiment: str = "cyclecast",
    run_name: str | None = None,
    parameters: dict[str, str] | None = None,
    schedule: str | None = None,
    namespace: str | None = None,
    token: str | None = None,
    timeout: float = 30.0,
) -> SubmitResult:
    """Create a run of the compiled pipeline, or a recurring run when ``schedule`` is a cron.

    The experiment is reused if one of that name exists, else created. A recurring run never
    overlaps itself (max concurrency 1) and does not catch up on missed slots. ``timeout``
    bounds each HTTP request. Progress lines go to stderr; kfp's own "details" links too.
    """
    host = _check_host(host)
    if schedule is not None:
        schedule = validate_cron(schedule)
    if not experiment or not experiment.strip():
        raise SubmitError("the experiment name is empty")
    spec = read_spec(spec_path)
    parameters = dict(parameters or {})
    unknown = sorted(set(parameters) - spec.parameter_names)
    if unknown:
        raise SubmitError(
            f"the compiled pipeline has no parameter(s) {unknown}; "
            f"it takes {sorted(spec.parameter_names)}"
        )
    not_text = sorted(k for k, v in parameters.items() if not isinstance(v, str))
    if not_text:
        raise SubmitError(f"parameter value(s) {not_text} must be strings")
    run_name = run_name or default_run_name()

    started = time.monotonic()
    _progress(f"checking the KFP API at {host}")
    health = _healthz(host, token, timeout)
    if health.get("multi_user") and not namespace:
        namespace = _pod_namespace()
        if not namespace:
            raise SubmitError(
                f"the KFP deployment at {host} is multi-user: give --namespace "
                "(your Kubeflow profile namespace)"
            )
    client = _client(host, token, namespace, timeout)

    with tempfile.TemporaryDirectory(prefix="cyclecast-kfp-") as tmp:
        package = Path(tmp) / "pipeline.yaml"
        package.write_text(_to_yaml(spec.pipeline_spec))
        with _kfp_errors(host, f"getting or creating the experiment {experiment!r}"):
            _progress(f"experiment {experiment!r}")
            exp = client.create_experiment(name=experiment, namespace=namespace)
        experiment_id = exp.experiment_id
        if not experiment_id:
            raise SubmitError(f"the KFP API at {host} returned an experiment without an id")
        what = "recurring run" if schedule else "run"
        _progress(
            f"creating {what} {run_name!r}"
            + (f" on cron {schedule!r}" if schedule else "")
            + f" (parameters: {sorted(parameters) or 'compiled defaults'}, "
            f"pipeline root {spec.pipeline_root})"
        )
        with _kfp_errors(host, f"creating the {what} {run_name!r}"):
            if schedule:
                created = client.create_recurring_run(
                    experiment_id=experiment_id,
                    job_name=run_name,
                    cron_expression=schedule,
                    max_concurrency=1,
                    no_catchup=True,
                    params=parameters,
                    pipeline_package_path=str(package),
                    pipeline_root=spec.pipeline_root,
                    enable_caching=None,
                    enabled=True,
                )
                new_id = created.recurring_run_id
            else:
                created = client.create_run_from_pipeline_package(
                    str(package),
                    arguments=parameters,
                    run_name=run_name,
                    experiment_id=experiment_id,
                    pipeline_root=spec.pipeline_root,
                    enable_caching=None,
                ).run_info
                new_id = created.run_id
    if not new_id:
        raise SubmitError(f"the KFP API at {host} created the {what} but returned no id")
    _progress(f"{what} {run_name!r} created: {new_id} ({time.monotonic() - started:.1f} s)")
    return SubmitResult(
        kind="recurring_run" if schedule else "run",
        id=new_id,
        name=run_name,
        experiment_id=experiment_id,
        experiment_name=experiment,
        host=host,
        parameters=parameters,
        schedule=schedule,
    )


def _progress(message: str) -> None:
    print(f"submit: {message}", file=sys.stderr, flush=True)


def _check_host(host: str) -> str:
    host = (host or "").strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", host):
        raise SubmitError(
            f"bad host {host!r}: give the KFP API endpoint with its scheme, "
            "e.g. http://ml-pipeline.kubeflow:8888"
        )
    return host


def _auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _healthz(host: str, token: str | None, timeout: float) -> dict[str, Any]:
    """One bounded GET of the healthz endpoint, so an unreachable host fails fast and clearly.

    kfp.Client's own healthz call has no timeout and retries a failing answer 5 times, 5 s apart.
    Like kfp's HTTP client, this ignores proxy environment variables.
    """
    request = urllib.request.Request(
        host + HEALTHZ_PATH, headers={"Accept": "application/json", **_auth_headers(token)}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        hint = ""
        if e.code in (401, 403):
            hint = " (check the token: --token-file or $KFP_TOKEN)"
        elif e.code == 404:
            hint = " (is this the KFP API endpoint, e.g. http://ml-pipeline.kubeflow:8888?)"
        raise SubmitError(
            f"the KFP API at {host} answered HTTP {e.code} {e.reason} to GET {HEALTHZ_PATH}: "
            f"{_server_message(e.read())}{hint}"
        ) from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise SubmitError(f"cannot reach the KFP API at {host}: {reason}") from e
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        answer = {}
    return answer if isinstance(answer, dict) else {}


def _pod_namespace() -> str | None:
    try:
        return Path(_POD_NAMESPACE_FILE).read_text().strip() or None
    except OSError:
        return None


def _client(host: str, token: str | None, namespace: str | None, timeout: float):
    import kfp

    kwargs: dict[str, Any] = {"host": host, "existing_token": token}
    if namespace:
        kwargs["namespace"] = namespace
    with warnings.catch_warnings(), _kfp_errors(host, "connecting"):
        warnings.filterwarnings("ignore", message="This client only works", category=FutureWarning)
        client = kfp.Client(**kwargs)
    _bound_requests(client, timeout)
    return client


def _bound_requests(client: Any, timeout: float) -> None:
    """Give every later request of ``client`` a (connect, read) timeout.

    kfp.Client passes no timeout, and its HTTP layer then waits forever. All of the client's
    service APIs share one REST client, reached here through a private attribute; if a kfp
    version moves it, requests simply stay unbounded.
    """
    api_client = getattr(getattr(client, "_run_api", None), "api_client", None)
    rest = getattr(api_client, "rest_client", None)
    if rest is None or not hasattr(rest, "request"):
        return
    original = rest.request

    def request(*args, _request_timeout=None, **kwargs):
        return original(*args, _request_timeout=_request_timeout or (timeout, timeout), **kwargs)

    rest.request = request


@contextlib.contextmanager
def _kfp_errors(host: str, doing: str):
    """Turn kfp's and urllib3's exceptions into a SubmitError naming the step.

    kfp's prints (experiment and run links) go to stderr so stdout stays the JSON result.
    """
    import urllib3
    from kfp_server_api.exceptions import ApiException

    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except ApiException as e:
        if not e.status:
            raise SubmitError(
                f"cannot reach the KFP API at {host} while {doing}: {e.reason}"
            ) from e
        status = f"{e.status} {e.reason}" if e.reason else str(e.status)
        raise SubmitError(
            f"the KFP API at {host} answered HTTP {status} while {doing}: {_server_message(e.body)}"
        ) from e
    except urllib3.exceptions.HTTPError as e:
        reason = getattr(e, "reason", None) or e
        raise SubmitError(f"cannot reach the KFP API at {host} while {doing}: {reason}") from e
    except (TimeoutError, ValueError) as e:
        raise SubmitError(f"KFP client error while {doing}: {e}") from e


def _server_message(body: Any) -> str:
    """The ``message`` (or ``error``) of a KFP JSON error body, else its text, shortened."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = (body or "").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("message", "error", "error_message"):
            if parsed.get(key):
                return str(parsed[key])
    if not text:
        return "(no message)"
    return text if len(text) <= 500 else text[:500] + "..."


def _to_yaml(spec: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(spec, sort_keys=False)
