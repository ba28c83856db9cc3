"""The Kubernetes manifests under kubernetes/, checked offline.

No API server runs here, so the manifests are checked three ways: `kubernetes-validate --strict`
against the bundled OpenAPI schemas of a pinned Kubernetes version (unknown fields, wrong types,
missing required fields), `yamllint --strict` with the repo's .yamllint.yaml, and assertions on
what the TF Serving objects say (parsed with PyYAML).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S_DIR = ROOT / "kubernetes"
SERVING_DIR = K8S_DIR / "serving"
YAMLLINT_CONFIG = ROOT / ".yamllint.yaml"
LOCK_FILE = ROOT / "requirements.lock"

# The oldest Kubernetes minor the manifests must work on; kubernetes-validate bundles its schema.
KUBERNETES_VERSION = "1.29.0"
MODEL_NAME = "cyclecast"
NAMESPACE = "cyclecast"
GRPC_PORT = 8500
REST_PORT = 8501

KUSTOMIZE_FILES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
# API groups whose schemas kubernetes-validate bundles and that these manifests may use ("" is the
# core group, apiVersion "v1"). Documents of any other group (Kubeflow and other CRDs) are skipped.
BUILTIN_GROUPS = {
    "",
    "apps",
    "autoscaling",
    "policy",
    "batch",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "storage.k8s.io",
}

# Flags tensorflow_model_server 2.16 defines (tensorflow_serving/model_servers/main.cc); a typo
# such as --rest_port would otherwise only show up as a crash-looping pod.
MODEL_SERVER_FLAGS = {
    "port",
    "grpc_socket_path",
    "rest_api_port",
    "rest_api_num_threads",
    "rest_api_timeout_in_ms",
    "rest_api_enable_cors_support",
    "enable_batching",
    "allow_version_labels_for_unavailable_models",
    "batching_parameters_file",
    "enable_per_model_batching_parameters",
    "model_config_file",
    "model_config_file_poll_wait_seconds",
    "model_name",
    "model_base_path",
    "num_load_threads",
    "num_unload_threads",
    "max_num_load_retries",
    "load_retry_interval_micros",
    "file_system_poll_wait_seconds",
    "flush_filesystem_caches",
    "tensorflow_session_parallelism",
    "tensorflow_session_config_file",
    "tensorflow_intra_op_parallelism",
    "tensorflow_inter_op_parallelism",
    "ssl_config_file",
    "platform_config_file",
    "per_process_gpu_memory_fraction",
    "saved_model_tags",
    "grpc_channel_arguments",
    "grpc_max_threads",
    "enable_model_warmup",
    "num_request_iterations_for_warmup",
    "monitoring_config_file",
    "remove_unused_fields_from_bundle_metagraph",
}


# --------------------------------------------------------------------------- helpers


def _tool(name: str) -> Path:
    """An executable of the venv running the tests (both tools are in the lock)."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        pytest.fail(f"{name} is not next to {sys.executable}; rebuild .venv from the lock")
    return path


def _load_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _api_group(doc: dict) -> str:
    return str(doc["apiVersion"]).rpartition("/")[0]


def _is_builtin_object(path: Path, doc: dict) -> bool:
    """True for a built-in Kubernetes object, False for a CRD object or a non-object document."""
    if not isinstance(doc, dict):
        return False
    has_api_version, has_kind = "apiVersion" in doc, "kind" in doc
    if has_api_version != has_kind:
        pytest.fail(f"{path}: a document has only one of apiVersion/kind: {sorted(doc)[:6]}")
    return has_api_version and _api_group(doc) in BUILTIN_GROUPS


def _manifest_files() -> list[Path]:
    files = [*K8S_DIR.rglob("*.yaml"), *K8S_DIR.rglob("*.yml")]
    return sorted(p for p in files if p.name not in KUSTOMIZE_FILES)


def _kubernetes_validate(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_tool("kubernetes-validate")), "--strict", "-k", KUBERNETES_VERSION, *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def _problems(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """Every output line that is not a pass.

    kubernetes-validate exits 0 after a WARN ("Couldn't find schema for kind ..."), so a misspelt
    kind in a built-in group would pass on the exit code alone.
    """
    lines = (proc.stdout + proc.stderr).splitlines()
    return [line for line in lines if line.strip() and not line.startswith("INFO ")]


def _kn(doc: dict) -> str:
    return f"{doc['kind'].lower()}/{doc['metadata']['name']}"


_QUANTITY_SUFFIXES = {
    "m": 1e-3,
    "": 1,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
}


def _quantity(value: str | int | float) -> float:
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert match and match.group(2) in _QUANTITY_SUFFIXES, f"unparsed quantity {value!r}"
    return float(match.group(1)) * _QUANTITY_SUFFIXES[match.group(2)]


def _is_subset(small: dict, big: dict) -> bool:
    return bool(small) and all(big.get(k) == v for k, v in small.items())


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def validation_set(tmp_path_factory) -> list[tuple[Path, list[dict]]]:
    """(file to validate, its built-in documents) for every manifest under kubernetes/.

    A file mixing built-in objects with CRD objects is validated through a copy holding only the
    built-in ones.
    """
    filtered_dir = tmp_path_factory.mktemp("builtin_only")
    result = []
    for path in _manifest_files():
        docs = _load_docs(path)
        builtin = [doc for doc in docs if _is_builtin_object(path, doc)]
        if not builtin:
            continue
        if len(builtin) == len(docs):
            result.append((path, builtin))
        else:
            copy = filtered_dir / path.relative_to(K8S_DIR)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(yaml.safe_dump_all(builtin, sort_keys=False))
            result.append((copy, builtin))
    return result


@pytest.fixture(scope="module")
def validate_run(validation_set) -> subprocess.CompletedProcess[str]:
    return _kubernetes_validate([path for path, _ in validation_set])


@pytest.fixture(scope="module")
def serving() -> dict[str, dict]:
    """The serving objects by kind (exactly one of each kind)."""
    by_kind: dict[str, dict] = {}
    for path in sorted(SERVING_DIR.glob("*.yaml")):
        if path.name in KUSTOMIZE_FILES:
            continue
        for doc in _load_docs(path):
            assert doc["kind"] not in by_kind, f"two {doc['kind']} objects in kubernetes/serving"
            by_kind[doc["kind"]] = doc
    expected = {
        "Namespace",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    assert set(by_kind) == expected
    return by_kind


@pytest.fixture(scope="module")
def pod_spec(serving) -> dict:
    return serving["Deployment"]["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def container(pod_spec) -> dict:
    servers = [c for c in pod_spec["containers"] if c["image"].startswith("tensorflow/serving")]
    assert len(servers) == 1, "expected exactly one tensorflow/serving container"
    return servers[0]


@pytest.fixture(scope="module")
def container_ports(container) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container["ports"]}


@pytest.fixture(scope="module")
def flags(container) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for arg in container["args"]:
        match = re.fullmatch(r"--([a-z_0-9]+)=(.+)", arg)
        assert match, f"model server argument {arg!r} is not --flag=value"
        name, value = match.groups()
        assert name not in parsed, f"--{name} given twice"
        parsed[name] = value
    return parsed


def _resolve_port(port: str | int, container_ports: dict[str, int]) -> int:
    return container_ports[port] if isinstance(port, str) else port


# --------------------------------------------------------------------------- validity


def test_kubernetes_validate_strict_passes(validation_set, validate_run):
    assert validate_run.returncode == 0, validate_run.stdout + validate_run.stderr
    assert _problems(validate_run) == []
    passed = [line for line in validate_run.stdout.splitlines() if " passed for resource " in line]
    n_docs = sum(len(docs) for _, docs in validation_set)
    assert len(passed) == n_docs, validate_run.stdout
    # The pinned schema was used, not the tool's newest default.
    minor = KUBERNETES_VERSION.rsplit(".", 1)[0]
    assert all(line.endswith(f"against version {minor}") for line in passed), passed
    for path, docs in validation_set:
        for doc in docs:
            assert f"INFO {path} passed for resource {_kn(doc)} " in validate_run.stdout


def test_every_serving_object_is_validated(validation_set, serving):
    # Guards the skipping rules: every serving object goes through the schema validation as-is.
    validated = {
        (path.name, _kn(doc))
        for path, docs in validation_set
        if path.parent == SERVING_DIR
        for doc in docs
    }
    expected = {
        (path.name, _kn(doc))
        for path in SERVING_DIR.glob("*.yaml")
        if path.name not in KUSTOMIZE_FILES
        for doc in _load_docs(path)
    }
    assert {kn for _, kn in expected} == {_kn(doc) for doc in serving.values()}
    assert validated == expected


def test_strict_validation_rejects_an_unknown_field_and_an_unknown_kind(serving, tmp_path):
    bad_field = dict(serving["Deployment"])
    bad_field["spec"] = {**bad_field["spec"], "replicasx": 2}
    bad_field_file = tmp_path / "deployment-unknown-field.yaml"
    bad_field_file.write_text(yaml.safe_dump(bad_field, sort_keys=False))

    # A misspelt kind in a built-in group: the tool only warns and exits 0 for it.
    bad_kind = {**serving["Deployment"], "kind": "Deploymnet"}
    bad_kind_file = tmp_path / "deployment-unknown-kind.yaml"
    bad_kind_file.write_text(yaml.safe_dump(bad_kind, sort_keys=False))

    proc = _kubernetes_validate([bad_field_file, bad_kind_file])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    errors = [line for line in out.splitlines() if line.startswith(f"ERROR {bad_field_file}")]
    assert len(errors) == 1 and "replicasx" in errors[0], out
    warnings = [line for line in out.splitlines() if line.startswith(f"WARN {bad_kind_file}")]
    assert len(warnings) == 1 and "Deploymnet" in warnings[0], out
    assert _problems(proc) == [*errors, *warnings]


def test_yamllint_passes():
    proc = subprocess.run(
        [
            str(_tool("yamllint")),
            "--strict",
            "-f",
            "parsable",
            "-c",
            str(YAMLLINT_CONFIG),
            str(K8S_DIR),
            str(YAMLLINT_CONFIG),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kustomization_lists_every_serving_manifest():
    kustomization = yaml.safe_load((SERVING_DIR / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    manifests = sorted(
        p.name
        for p in SERVING_DIR.iterdir()
        if p.suffix in {".yaml", ".yml"} and p.name not in KUSTOMIZE_FILES
    )
    # Numbered so that `kubectl apply -f` on the files in name order creates the Namespace first.
    assert manifests[0].endswith("namespace.yaml")
    assert kustomization["resources"] == manifests


# --------------------------------------------------------------------------- content


def test_every_object_is_in_the_cyclecast_namespace(serving):
    assert serving["Namespace"]["metadata"]["name"] == NAMESPACE
    for kind, doc in serving.items():
        if kind != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, kind


def test_image_is_pinned_to_the_tensorflow_release_of_the_lock(container):
    image = container["image"]
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    assert tag or digest, f"{image} is neither tagged nor pinned by digest"
    assert not tag.startswith("latest") and not tag.endswith("-devel"), image
    assert not digest or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), image
    if tag:
        tf = re.search(r"^tensorflow==(\d+\.\d+)\.", LOCK_FILE.read_text(), re.MULTILINE)
        assert tf, "tensorflow is not pinned in requirements.lock"
        assert tag.startswith(tf.group(1) + "."), f"{image} does not match tensorflow {tf.group(1)}"


def test_model_server_flags(container, flags, container_ports):
    # The binary itself: the image's entrypoint script would add a second set of these flags.
    assert container["command"][0].endswith("/tensorflow_model_server")
    unknown = set(flags) - MODEL_SERVER_FLAGS
    assert not unknown, f"not tensorflow_model_server flags: {sorted(unknown)}"
    assert flags["model_name"] == MODEL_NAME
    assert int(flags["port"]) == container_ports["grpc"] == GRPC_PORT
    assert int(flags["rest_api_port"]) == container_ports["http"] == REST_PORT
    assert flags["enable_model_warmup"] == "true"


def test_model_base_path_is_on_the_read_only_model_volume(serving, pod_spec, container, flags):
    base = PurePosixPath(flags["model_base_path"])
    # The Pusher writes <serving_dir>/cyclecast/<version>/: the base path ends in the model name.
    assert base.is_absolute() and base.name == MODEL_NAME
    mounts = [m for m in container["volumeMounts"] if base.is_relative_to(m["mountPath"])]
    assert len(mounts) == 1, f"{base} is not under exactly one volume mount"
    mount = mounts[0]
    assert PurePosixPath(mount["mountPath"]) != base
    assert mount.get("readOnly") is True
    volume = next(v for v in pod_spec["volumes"] if v["name"] == mount["name"])
    pvc = serving["PersistentVolumeClaim"]
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert set(pvc["spec"]["accessModes"]) <= {"ReadWriteMany", "ReadOnlyMany"}
    assert pvc["spec"]["accessModes"]


def test_container_runs_non_root_with_a_read_only_root_filesystem(pod_spec, container):
    pod_sc = pod_spec.get("securityContext", {})
    sc = container["securityContext"]
    effective = {**pod_sc, **sc}
    assert effective["runAsNonRoot"] is True
    assert isinstance(effective["runAsUser"], int) and effective["runAsUser"] > 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert not sc.get("privileged", False)
    assert "ALL" in sc["capabilities"]["drop"] and not sc["capabilities"].get("add")
    assert effective["seccompProfile"]["type"] == "RuntimeDefault"
    # With a read-only root, /tmp must be a writable emptyDir.
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert not tmp.get("readOnly", False)
    volume = next(v for v in pod_spec["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume


def test_probes(container, container_ports):
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == f"/v1/models/{MODEL_NAME}"
    assert _resolve_port(readiness["port"], container_ports) == REST_PORT
    for name in ("livenessProbe", "startupProbe"):
        probe = container[name]
        handler = probe.get("tcpSocket") or probe.get("httpGet") or probe.get("grpc")
        assert handler, f"{name} has no tcpSocket/httpGet/grpc handler"
        assert _resolve_port(handler["port"], container_ports) in {GRPC_PORT, REST_PORT}
    # Loading and warming up the model may take minutes: the startup probe must allow for it
    # before the liveness probe can restart the container.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


def test_resources_have_requests_and_limits(container):
    resources = container["resources"]
    for resource in ("cpu", "memory"):
        request = _quantity(resources["requests"][resource])
        limit = _quantity(resources["limits"][resource])
        assert 0 < request <= limit, resource


def test_deployment_selects_its_pods_and_leaves_replicas_to_the_hpa(serving):
    deployment = serving["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "cyclecast-serving"
    assert _is_subset(deployment["spec"]["selector"]["matchLabels"], labels)
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_service_selects_the_pods_and_exposes_grpc_and_rest(serving, container_ports):
    service = serving["Service"]
    pod_labels = serving["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert _is_subset(service["spec"]["selector"], pod_labels)
    ports = {p["port"]: p for p in service["spec"]["ports"]}
    assert {GRPC_PORT, REST_PORT} <= set(ports)
    for number in (GRPC_PORT, REST_PORT):
        target = ports[number].get("targetPort", number)
        assert _resolve_port(target, container_ports) == number


def test_hpa_scales_the_deployment_on_cpu(serving, container):
    hpa = serving["HorizontalPodAutoscaler"]
    deployment = serving["Deployment"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    cpu = [
        m["resource"]["target"]
        for m in hpa["spec"]["metrics"]
        if m["type"] == "Resource" and m["resource"]["name"] == "cpu"
    ]
    assert len(cpu) == 1 and cpu[0]["type"] == "Utilization"
    assert 0 < cpu[0]["averageUtilization"] <= 100
    # Utilisation is measured against the request: without one the HPA cannot act.
    assert "cpu" in container["resources"]["requests"]


def test_pdb_keeps_one_pod_and_lets_a_drain_proceed(serving):
    pdb = serving["PodDisruptionBudget"]
    pod_labels = serving["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    assert _is_subset(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb["spec"]["minAvailable"] < serving["HorizontalPodAutoscaler"]["spec"]["minReplicas"]


# =========================================================================== pipelines and image
#
# kubernetes/pipelines/ (what the pipeline's pods need in namespace cyclecast), the component
# image's kubernetes/Dockerfile and the repo's .dockerignore. No Docker engine runs here: the
# Dockerfile is parsed and checked against the repository it copies from.

PIPELINES_DIR = K8S_DIR / "pipelines"
DOCKERFILE = K8S_DIR / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"
KUBEFLOW_CONFIG = ROOT / "pipeline" / "configs" / "kubeflow.toml"
GOLDEN_SPEC = ROOT / "tests" / "golden" / "kfp_pipeline.json"
K8S_README = K8S_DIR / "README.md"

# Documents without apiVersion and kind: settings files people copy from, never applied.
SETTINGS_FILES = {PIPELINES_DIR / "recurring-run.yaml"}
PIPELINE_SERVICE_ACCOUNT = "cyclecast-pipeline-runner"
PIPELINE_PVC = "cyclecast-pipeline-data"
SALT_SECRET = "cyclecast-id-salt"
SALT_KEY = "id-salt"
SALT_FILE = "/var/run/secrets/cyclecast/id-salt"
# KFP v2 puts this label on every pod of a run (Argo workflow podMetadata).
KFP_V2_POD_LABELS = {"pipelines.kubeflow.org/v2_component": "true"}
KFP_CRON_FIELDS = 6  # seconds minute hour day-of-month month day-of-week

# Built-in objects of kubernetes/pipelines/ that must pass the schema validation.
PIPELINES_BUILTIN_KINDS = {
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "PersistentVolumeClaim",
    "NetworkPolicy",
}


# --------------------------------------------------------------------------- helpers


def _is_settings_document(doc) -> bool:
    return isinstance(doc, dict) and "apiVersion" not in doc and "kind" not in doc


def _pipelines_manifest_files() -> list[Path]:
    return sorted(
        p
        for p in PIPELINES_DIR.iterdir()
        if p.suffix in {".yaml", ".yml"}
        and p.name not in KUSTOMIZE_FILES
        and p not in SETTINGS_FILES
    )


def _dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: comments dropped, continuations joined."""
    logical: list[str] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker drops comment lines inside a continuation as well
        if line.endswith("\\"):
            buf += line[:-1].strip() + " "
            continue
        logical.append(buf + line)
        buf = ""
    assert not buf, f"{path}: the last instruction ends with a line continuation"
    result = []
    for text in logical:
        keyword, _, rest = text.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def _dockerfile_stages(path: Path = DOCKERFILE) -> list[dict]:
    """The build stages: {"image", "name", "instructions"} in order; the last one is the image."""
    stages: list[dict] = []
    for keyword, args in _dockerfile_instructions(path):
        if keyword == "FROM":
            words = [w for w in shlex.split(args) if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) == 1 or name, f"unparsed FROM {args!r}"
            stages.append({"image": words[0], "name": name, "instructions": []})
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1]["instructions"].append((keyword, args))
    return stages


def _parse_copy(args: str) -> tuple[dict[str, str], list[str], str]:
    words = shlex.split(args)
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    assert len(words) >= 2, f"COPY {args!r}: sources and a destination expected"
    return flags, words[:-1], words[-1]


def _walk(stage: dict):
    """(instruction, arguments, WORKDIR in effect) for each instruction of a stage."""
    workdir = PurePosixPath("/")
    for keyword, args in stage["instructions"]:
        if keyword == "WORKDIR":
            workdir = workdir / args
        yield keyword, args, workdir


def _copies(stage: dict, *, from_context: bool = True):
    """(flags, sources, absolute destination) of the stage's COPY instructions."""
    for keyword, args, workdir in _walk(stage):
        if keyword != "COPY":
            continue
        flags, sources, dest = _parse_copy(args)
        if ("from" in flags) == from_context:
            continue
        yield flags, sources, workdir / dest, dest


def _env(stage: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in stage["instructions"]:
        if keyword == "ENV":
            for word in shlex.split(args):
                key, sep, value = word.partition("=")
                assert sep, f"ENV {args!r}: write KEY=VALUE"
                env[key] = value
    return env


def _split_image(ref: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of an image reference; tag and digest may be empty."""
    name, _, digest = ref.partition("@")
    repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    return repo, tag, digest


def _locked_version(lock_text: str, package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([^\s;\\]+)", lock_text, re.MULTILINE)
    assert match, f"{package} is not pinned in requirements.lock"
    return match.group(1)


def _dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _dockerignored(rel: str, patterns: list[str]) -> bool:
    """True if a context path, or a folder above it, matches a .dockerignore pattern.

    Patterns are anchored at the context root, as Docker reads them; `**/` matches any depth.
    Exceptions (`!pattern`) are not used in this repository and are rejected.
    """
    parts = PurePosixPath(rel).parts
    for pattern in patterns:
        assert not pattern.startswith("!"), "exception patterns are not supported by this check"
        pattern = pattern.strip("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if pattern.startswith("**/"):
                if fnmatch.fnmatchcase(parts[i - 1], pattern[3:]):
                    return True
            elif fnmatch.fnmatchcase(prefix, pattern):
                return True
    return False


def _one(docs_by_kind: dict[str, list[dict]], kind: str) -> dict:
    docs = docs_by_kind.get(kind, [])
    assert len(docs) == 1, f"expected exactly one {kind} in kubernetes/pipelines, got {len(docs)}"
    return docs[0]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pipelines() -> dict[str, list[dict]]:
    """The objects of kubernetes/pipelines/ by kind (settings files and kustomization excluded)."""
    by_kind: dict[str, list[dict]] = {}
    for path in _pipelines_manifest_files():
        for doc in _load_docs(path):
            by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


@pytest.fixture(scope="module")
def poddefault(pipelines) -> dict:
    return _one(pipelines, "PodDefault")


@pytest.fixture(scope="module")
def stages() -> list[dict]:
    return _dockerfile_stages()


@pytest.fixture(scope="module")
def image_stage(stages) -> dict:
    return stages[-1]


@pytest.fixture(scope="module")
def image_env(image_stage) -> dict[str, str]:
    return _env(image_stage)


@pytest.fixture(scope="module")
def lock_text() -> str:
    return LOCK_FILE.read_text()


@pytest.fixture(scope="module")
def recurring_run() -> dict:
    (path,) = SETTINGS_FILES
    docs = _load_docs(path)
    assert len(docs) == 1, f"{path}: one settings document expected"
    return docs[0]


@pytest.fixture(scope="module")
def kubeflow_config() -> dict:
    return tomllib.loads(KUBEFLOW_CONFIG.read_text())


# --------------------------------------------------------------------------- validity


def test_only_the_declared_settings_files_lack_apiversion_and_kind():
    # The schema validation skips documents without apiVersion/kind; this keeps that skip to the
    # settings files, so a manifest that lost its kind cannot slip past the validation.
    for path in _manifest_files():
        docs = _load_docs(path)
        settings = [doc for doc in docs if _is_settings_document(doc)]
        if path in SETTINGS_FILES:
            assert docs and len(settings) == len(docs), f"{path} must hold settings only"
        else:
            assert not settings, f"{path}: a document without apiVersion and kind"
    for path in SETTINGS_FILES:
        assert path.is_file(), path


def test_every_builtin_object_of_serving_and_pipelines_is_validated(validation_set):
    validated = {(path.name, _kn(doc)) for path, docs in validation_set for doc in docs}
    for folder, kinds in ((SERVING_DIR, None), (PIPELINES_DIR, PIPELINES_BUILTIN_KINDS)):
        expected = set()
        skipped_kinds = set()
        for path in sorted(folder.glob("*.yaml")):
            if path.name in KUSTOMIZE_FILES or path in SETTINGS_FILES:
                continue
            for doc in _load_docs(path):
                if _api_group(doc) in BUILTIN_GROUPS:
                    expected.add((path.name, _kn(doc)))
                else:
                    skipped_kinds.add(doc["kind"])
        assert expected and expected <= validated, folder
        if kinds is not None:
            assert {kn.split("/")[0] for _, kn in expected} == {k.lower() for k in kinds}
            # The one CRD object, checked by content below instead.
            assert skipped_kinds == {"PodDefault"}
        else:
            assert not skipped_kinds, f"non-built-in objects in {folder}: {skipped_kinds}"
    # Files with only built-in objects are validated as they are, not through a filtered copy.
    for path, _ in validation_set:
        if path.parent == PIPELINES_DIR:
            assert path.name != "40-poddefault.yaml"


def test_kustomization_lists_every_pipelines_manifest(pipelines):
    kustomization = yaml.safe_load((PIPELINES_DIR / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    manifests = [p.name for p in _pipelines_manifest_files()]
    assert kustomization["resources"] == manifests
    assert not set(kustomization["resources"]) & {p.name for p in SETTINGS_FILES}
    # The Namespace is the serving one, not a second copy.
    assert "Namespace" not in pipelines


# --------------------------------------------------------------------------- pipelines content


def test_pipelines_objects_are_in_the_serving_namespace(pipelines, serving):
    assert serving["Namespace"]["metadata"]["name"] == NAMESPACE
    for docs in pipelines.values():
        for doc in docs:
            assert doc["metadata"].get("namespace") == NAMESPACE, _kn(doc)


def test_service_account_keeps_its_token(pipelines):
    account = _one(pipelines, "ServiceAccount")
    assert account["metadata"]["name"] == PIPELINE_SERVICE_ACCOUNT
    # Argo's executor and KFP's driver/launcher call the API server with it.
    assert account.get("automountServiceAccountToken", True) is True


def test_role_is_least_privilege_and_every_rule_is_explained(pipelines):
    role = _one(pipelines, "Role")
    assert role["metadata"]["name"] == PIPELINE_SERVICE_ACCOUNT
    rules = role["rules"]
    assert rules
    granted = set()
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {field}: {rule}"
        verbs = set(rule["verbs"])
        assert verbs <= {"get", "create", "patch"}, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted |= {(group, resource, verb) for verb in verbs}
        if set(rule["resources"]) & {"secrets", "configmaps"}:
            # Named objects only, read only: no list/watch that would expose the salt Secret.
            assert rule.get("resourceNames") and verbs == {"get"}, rule
            assert SALT_SECRET not in rule["resourceNames"], "the kubelet mounts the salt, no RBAC"
    forbidden = {
        ("", "pods", "create"),
        ("", "pods", "delete"),
        ("", "pods/exec", "create"),
        ("", "pods/log", "get"),
    }
    assert not granted & forbidden
    assert ("argoproj.io", "workflowtaskresults", "create") in granted
    # "Justify each rule": the line above every rule of the Role is a comment.
    text = (PIPELINES_DIR / "20-rbac.yaml").read_text().split("\n---\n")[0]
    lines = text.splitlines()
    rule_lines = [i for i, line in enumerate(lines) if line.startswith("  - apiGroups:")]
    assert len(rule_lines) == len(rules)
    for i in rule_lines:
        assert lines[i - 1].strip().startswith("#"), f"rule without a comment: {lines[i]}"


def test_rolebinding_binds_the_role_to_the_pipeline_service_account(pipelines):
    binding = _one(pipelines, "RoleBinding")
    role = _one(pipelines, "Role")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": PIPELINE_SERVICE_ACCOUNT, "namespace": NAMESPACE}
    ]


def test_pipeline_data_claim_is_read_write_many(pipelines, serving):
    claim = _one(pipelines, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == PIPELINE_PVC
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert _quantity(claim["spec"]["resources"]["requests"]["storage"]) > 0
    # A claim of its own, not a second definition of the serving claim.
    assert PIPELINE_PVC != serving["PersistentVolumeClaim"]["metadata"]["name"]


def test_poddefault_mounts_data_serving_volume_and_salt(
    poddefault, pipelines, serving, image_env, kubeflow_config
):
    assert poddefault["apiVersion"] == "kubeflow.org/v1alpha1"
    spec = poddefault["spec"]
    assert spec["selector"] == {"matchLabels": KFP_V2_POD_LABELS}
    assert spec["serviceAccountName"] == _one(pipelines, "ServiceAccount")["metadata"]["name"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in spec["volumeMounts"]}
    mounted = [m["name"] for m in spec["volumeMounts"]]
    assert len(mounts) == len(mounted) and sorted(mounted) == sorted(volumes), "each volume once"

    def claim_at(path: str) -> str:
        return volumes[mounts[path]["name"]]["persistentVolumeClaim"]["claimName"]

    # The working volume at /data; the serving claim at serving_dir, so the Pusher writes into
    # the volume TF Serving serves (its root = serving_dir).
    assert claim_at("/data") == PIPELINE_PVC
    serving_dir = PurePosixPath(kubeflow_config["serving_dir"])
    assert claim_at(str(serving_dir)) == serving["PersistentVolumeClaim"]["metadata"]["name"]
    assert not mounts[str(serving_dir)].get("readOnly", False), "the Pusher writes there"
    assert not mounts["/data"].get("readOnly", False)
    # Parent mount before the nested one.
    order = [m["mountPath"] for m in spec["volumeMounts"]]
    assert order.index("/data") < order.index(str(serving_dir))
    # data_root (and a local pipeline_root) on the data claim, not on the serving volume.
    for key in ("data_root", "pipeline_root"):
        value = kubeflow_config[key]
        if "://" in value:
            continue
        path = PurePosixPath(value)
        assert path.is_relative_to("/data") and not path.is_relative_to(serving_dir), key

    # The salt: the Secret's key lands exactly on the file the image's env var names.
    salt_file = PurePosixPath(image_env["CYCLECAST_ID_SALT_FILE"])
    salt_mount = mounts[str(salt_file.parent)]
    assert salt_mount.get("readOnly") is True
    secret = volumes[salt_mount["name"]]["secret"]
    assert secret["secretName"] == SALT_SECRET
    assert secret.get("optional", False) is False, "a pod without the salt must not start"
    assert secret["items"] == [{"key": SALT_KEY, "path": salt_file.name}]
    # uid 10001 runs without an fsGroup: the root-owned file must be readable by "others".
    mode = secret["items"][0].get("mode", secret.get("defaultMode", 0o644))
    assert mode & 0o004 and not mode & 0o222, oct(mode)


def test_networkpolicy_denies_ingress_to_the_pipeline_pods(pipelines, poddefault):
    policy = _one(pipelines, "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"] == poddefault["spec"]["selector"]
    assert spec["policyTypes"] == ["Ingress"]
    assert not spec.get("ingress"), "default-deny: no ingress rule"


def test_no_secret_value_is_committed():
    for path in [*K8S_DIR.rglob("*.yaml"), *K8S_DIR.rglob("*.yml")]:
        for doc in _load_docs(path):
            assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), path
    readme = K8S_README.read_text()
    assert f"create secret generic {SALT_SECRET} --from-file={SALT_KEY}=" in readme


def test_recurring_run_settings(recurring_run, kubeflow_config):
    from pipeline.orchestration.kubeflow import EVALUATION_KEYS, TRAINING_KEYS

    run = recurring_run
    assert _is_settings_document(run)
    assert run["experiment"] == "cyclecast-nightly"
    assert run["namespace"] == NAMESPACE
    assert run["service_account"] == PIPELINE_SERVICE_ACCOUNT
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,127}", run["name"])
    schedule = run["schedule"]
    fields = schedule["cron"].split()
    assert len(fields) == KFP_CRON_FIELDS, "KFP's cron has six fields, seconds first"
    second, minute, hour = (int(f) for f in fields[:3])
    assert (second, minute, hour) == (0, 0, 3) and fields[3:] == ["*", "*", "*"]
    assert schedule["timezone"] == "UTC"
    assert schedule["max_concurrency"] == 1
    assert schedule["no_catchup"] is True
    assert schedule["enabled"] is True
    parameters = run["parameters"]
    assert parameters and set(parameters) <= TRAINING_KEYS | EVALUATION_KEYS
    if "train_steps" in parameters:
        assert isinstance(parameters["train_steps"], int) and parameters["train_steps"] >= 1
    for key in set(parameters) & EVALUATION_KEYS:
        assert isinstance(parameters[key], float) and 0 <= parameters[key] <= 1, key
    # The compiled pipeline's name is what KFP shows next to the recurring run's runs.
    assert kubeflow_config["pipeline_name"] == "cyclecast"


# --------------------------------------------------------------------------- the image


def test_lock_pins_every_package_with_hashes(lock_text):
    # What `pip install --require-hashes --no-deps` relies on: every entry is `name==version`
    # with at least one hash, nothing editable or unpinned.
    entries = re.split(r"\n(?=[^\s#])", lock_text)
    requirements = [e for e in entries if not e.startswith("#")]
    assert len(requirements) > 100
    for entry in requirements:
        first = entry.splitlines()[0]
        assert re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?==[^\s;\\]+", first), first
        assert "--hash=sha256:" in entry, first
    # TFX installs packaged user modules with `python -m pip` at run time: pip is locked too.
    _locked_version(lock_text, "pip")


def test_dockerfile_base_images_are_pinned_to_the_project_python(stages, lock_text):
    stage_names = {s["name"] for s in stages if s["name"]}
    references = [s["image"] for s in stages if s["image"] not in stage_names]
    for stage in stages:
        for flags, _, _, _ in _copies(stage, from_context=False):
            if flags["from"] not in stage_names:
                references.append(flags["from"])
    assert references
    for ref in references:
        _, tag, digest = _split_image(ref)
        assert tag or digest, f"{ref} is neither tagged nor pinned by digest"
        assert not tag.startswith("latest"), ref
        assert not digest or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), ref
    # The image and its build stage share the base: the venv's python symlinks into it.
    assert {s["image"] for s in stages if s["image"] not in stage_names} == {stages[-1]["image"]}
    repo, tag, _ = _split_image(stages[-1]["image"])
    assert repo in {"python", "docker.io/library/python"}, "expected the official Python image"
    requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    minor = re.search(r">=\s*(3\.\d+)", requires).group(1)
    assert tag.startswith(minor + ".") or tag.startswith(minor + "-"), (tag, requires)
    assert "-slim-" in tag or tag.endswith("-slim") or "bookworm" in tag
    # The lock's wheels are resolved for glibc 2.36 (manylinux_2_36) = Debian 12 bookworm.
    if "manylinux_2_36" in lock_text.splitlines()[1]:
        assert "bookworm" in tag, tag


def test_beam_sdk_boot_comes_from_the_locked_beam_release(image_stage, lock_text):
    beam = _locked_version(lock_text, "apache-beam")
    requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    minor = re.search(r">=\s*(3\.\d+)", requires).group(1)
    sources = [flags["from"] for flags, *_ in _copies(image_stage, from_context=False)]
    beam_images = [s for s in sources if "beam_python" in s]
    assert len(beam_images) == 1, sources
    repo, tag, _ = _split_image(beam_images[0])
    assert repo == f"apache/beam_python{minor}_sdk" and tag == beam, beam_images[0]
    entrypoint = [a for k, a in image_stage["instructions"] if k == "ENTRYPOINT"]
    assert entrypoint and json.loads(entrypoint[-1]) == ["/opt/apache/beam/boot"]


def test_dockerfile_installs_the_lock_with_hashes_and_no_deps(stages):
    installs = []
    for stage in stages:
        locks = [dest for _, src, dest, raw in _copies(stage) if src == ["requirements.lock"]]
        for lock in locks:
            lock_path = lock if not str(lock).endswith("/") else lock / "requirements.lock"
            for keyword, args, _ in _walk(stage):
                if keyword == "RUN" and re.search(rf"-r\s+{re.escape(str(lock_path))}\b", args):
                    installs.append(args)
    assert len(installs) == 1, installs
    (run,) = installs
    assert re.search(r"\bpip install\b", run)
    for flag in ("--require-hashes", "--no-deps"):
        assert flag in run.split(), f"the lock is not installed with {flag}"
    # tfx 1.16 declares Requires-Python <3.11; pip refuses it on 3.11 without this flag.
    assert "--ignore-requires-python" in run.split()


def test_dockerfile_installs_the_project_without_deps_and_copies_its_code(stages):
    pyproject = tomllib.loads(PYPROJECT.read_text())
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    # The generator and the benchmarks are tools no component runs: the image leaves them out.
    tools = {"synthetic", "benchmarks"}
    needed = {i.rstrip("*") for i in includes} - tools | {"schema", "pyproject.toml"}
    needed.add(pyproject["project"]["readme"])  # setuptools reads it to build the metadata
    copied = {
        src.rstrip("/")
        for stage in stages
        for _, sources, _, _ in _copies(stage)
        for src in sources
    }
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    project_installs = [
        (args, workdir)
        for stage in stages
        for keyword, args, workdir in _walk(stage)
        if keyword == "RUN" and re.search(r"pip install .*(--editable|-e) \.(\s|$)", args)
    ]
    assert len(project_installs) == 1, project_installs
    run, workdir = project_installs[0]
    assert "--no-deps" in run.split()
    # The packages sit in the directory installed from (REPO_ROOT = that directory).
    package_dests = {
        dest for stage in stages for _, src, dest, _ in _copies(stage) if src == ["pipeline/"]
    }
    assert package_dests == {workdir / "pipeline/"}


def test_image_runs_as_a_numeric_non_root_user(image_stage, pod_spec, container):
    users = [args for keyword, args in image_stage["instructions"] if keyword == "USER"]
    assert users, "no USER: the image would run as root"
    uid, _, gid = users[-1].partition(":")
    # Numeric, so that the kubelet can verify runAsNonRoot without /etc/passwd.
    assert uid.isdigit() and int(uid) > 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) > 0), users[-1]
    serving_uid = {**pod_spec.get("securityContext", {}), **container["securityContext"]}[
        "runAsUser"
    ]
    assert int(uid) == serving_uid, "the Pusher's files should belong to the serving uid"


def test_image_environment(image_env):
    from components.nightly_features.salt import SALT_ENV, SALT_FILE_ENV

    assert image_env[SALT_FILE_ENV] == SALT_FILE
    assert SALT_ENV not in image_env, "the salt itself never goes into the image"
    assert image_env.get("TF_CPP_MIN_LOG_LEVEL") in {"1", "2", "3"}
    assert image_env.get("TF_ENABLE_ONEDNN_OPTS") == "0"  # the same trained bits on every CPU
    assert image_env.get("RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT") == "1"


def test_compiled_steps_run_the_python_of_the_image_venv(stages, image_stage, image_env):
    spec = json.loads(GOLDEN_SPEC.read_text())
    spec = spec.get("pipelineSpec", spec)  # a PipelineJob wraps the PipelineSpec
    commands = {
        tuple(executor["container"]["command"])
        for executor in spec["deploymentSpec"]["executors"].values()
        if "container" in executor
    }
    assert commands
    modules = set()
    for command in commands:
        assert command[:2] == ("python", "-m") and len(command) == 3, command
        modules.add(command[2])
    # `python` on the image's PATH is the venv that holds the locked stack.
    venv = image_env["VIRTUAL_ENV"]
    assert image_env["PATH"].split(":")[0] == f"{venv}/bin"
    runs = [args for stage in stages for keyword, args in stage["instructions"] if keyword == "RUN"]
    assert any(re.search(rf"-m venv {re.escape(venv)}\b", run) for run in runs)
    copied_whole = [
        dest for flags, src, dest, _ in _copies(image_stage, from_context=False) if src == [venv]
    ]
    assert copied_whole == [PurePosixPath(venv)]
    # The build imports every module the spec runs, and the locked tfx has it.
    tfx_spec = importlib.util.find_spec("tfx")
    assert tfx_spec and tfx_spec.submodule_search_locations
    for module in modules:
        assert any(module in run for run in runs), f"the build does not import {module}"
        assert module.startswith("tfx.")
        source = Path(tfx_spec.submodule_search_locations[0], *module.split(".")[1:])
        assert source.with_suffix(".py").is_file(), module


def test_dockerfile_copies_only_existing_paths_the_context_keeps(stages):
    patterns = _dockerignore_patterns()
    for required in (".git", ".venv", ".cyclecast", "**/__pycache__", ".pytest_cache"):
        assert required in patterns, f".dockerignore does not exclude {required}"
    for stage in stages:
        for _, sources, _, _ in _copies(stage):
            for src in sources:
                path = ROOT / src
                assert path.exists(), f"COPY {src}: no such path in the repository"
                assert not _dockerignored(src.rstrip("/"), patterns), f"{src} is .dockerignored"
                files = [path] if path.is_file() else sorted(path.rglob("*"))
                for file in files:
                    rel = file.relative_to(ROOT).as_posix()
                    if file.is_file() and "__pycache__" not in rel:
                        assert not _dockerignored(rel, patterns), f"{rel} is .dockerignored"


_IMAGE_TREE_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pipeline import code_version, config
from pipeline.orchestration import kubeflow
print(json.dumps({
    "config": config.__file__,
    "schema": config.SCHEMA_FILE.is_file(),
    "kubeflow_toml": kubeflow.DEFAULT_KUBEFLOW_CONFIG.is_file(),
    "fingerprints": code_version.code_fingerprints(),
    "schema_fingerprint": code_version.schema_fingerprint(str(config.SCHEMA_FILE)),
}))
"""


def test_the_copied_tree_finds_its_schema_and_computes_the_same_fingerprints(stages, tmp_path):
    # Rebuild what the build stage copies (the context minus .dockerignore), where it copies it,
    # and import the project from there without site-packages: pipeline/config.py must find
    # schema/ and the configs next to itself, and the code fingerprints (part of TFX's cache
    # keys) must match the repository's.
    fs = tmp_path / "fs"
    patterns = _dockerignore_patterns()
    project_dir = None
    for stage in stages:
        for keyword, args, workdir in _walk(stage):
            if keyword == "RUN" and re.search(r"pip install .*(--editable|-e) \.(\s|$)", args):
                project_dir = workdir
        for _, sources, dest, raw_dest in _copies(stage):
            target = fs / dest.relative_to("/")
            for src in sources:
                path = ROOT / src
                if path.is_dir():
                    shutil.copytree(
                        path,
                        target,
                        dirs_exist_ok=True,
                        ignore=lambda d, names, p=patterns: [
                            n
                            for n in names
                            if _dockerignored((Path(d) / n).relative_to(ROOT).as_posix(), p)
                        ],
                    )
                else:
                    to = (
                        target / path.name if raw_dest.endswith("/") or len(sources) > 1 else target
                    )
                    to.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, to)
    assert project_dir is not None
    tree = fs / project_dir.relative_to("/")

    def probe(root: Path) -> dict:
        proc = subprocess.run(
            [sys.executable, "-S", "-c", _IMAGE_TREE_PROBE, str(root)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    in_image = probe(tree)
    assert Path(in_image["config"]).is_relative_to(tree)
    assert in_image["schema"] and in_image["kubeflow_toml"]
    in_repo = probe(ROOT)
    assert in_image["fingerprints"] == in_repo["fingerprints"]
    assert {"NightlyFeatureGen", "Transform", "Trainer"} <= set(in_image["fingerprints"])
    assert in_image["schema_fingerprint"] == in_repo["schema_fingerprint"]


def test_readme_documents_the_kubeflow_steps_without_a_package_registry():
    readme = K8S_README.read_text()
    assert "## Running the pipeline on Kubeflow" in readme
    for step in (
        "docker build",
        "@sha256:",
        "kubectl apply -k kubernetes/pipelines/",
        "cyclecast compile",
        "cyclecast submit --host",
        "--schedule '0 0 3 * * *'",
    ):
        assert step in readme, step
    for text in (readme, DOCKERFILE.read_text(), DOCKERIGNORE.read_text()):
        assert not re.search(r"pypi\.org|pythonhosted\.org|--index-url|--extra-index-url", text)
