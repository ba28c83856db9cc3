"""The Kubernetes manifests under kubernetes/, checked offline.

No API server runs here, so the manifests are checked three ways: `kubernetes-validate --strict`
against the bundled OpenAPI schemas of a pinned Kubernetes version (unknown fields, wrong types,
missing required fields), `yamllint --strict` with the repo's .yamllint.yaml, and assertions on
what the TF Serving objects say (parsed with PyYAML).
"""

from __future__ import annotations

import re
import subprocess
import sys
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
