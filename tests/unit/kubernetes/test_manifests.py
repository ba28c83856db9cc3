"""kubernetes/ (serving and pipelines), the component image's Dockerfile and .dockerignore, offline.

No API server runs here. The objects go through `kubernetes-validate --strict` (the bundled
OpenAPI schemas of a pinned Kubernetes version) and `yamllint --strict`. The rest are properties
that hold for any correct set of manifests rather than copies of their values: references resolve
(ports, selectors, volumes, claims, Secrets, roles, accounts), containers are bounded and
hardened, images are pinned to what the lock and pyproject.toml say, and the model server reads
what the pipeline's Pusher writes, under the name of pipeline/configs/kubeflow.toml. Each property
returns its problems; `test_property_catches` breaks one thing in a copy of the manifests and
shows that the property reports it.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.metadata
import importlib.util
import json
import math
import re
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from components.nightly_features.salt import SALT_ENV, SALT_FILE_ENV
from pipeline.config import _KFP_NAME, SCHEMA_FILE, EvaluationConfig
from pipeline.orchestration.kfp_submit import SubmitError, validate_cron
from pipeline.orchestration.kubeflow import (
    EVALUATION_KEYS,
    TRAINING_KEYS,
    ConfigError,
    _build,
    load_kubeflow_config,
)
from tests.unit.kubernetes.manifests import (
    CLUSTER_SCOPED,
    K8S_DIR,
    ROOT,
    copies,
    created_by_hand,
    declares_port,
    dockerignored,
    is_object,
    kn,
    load,
    locked_version,
    matches,
    python_minor,
    quantity,
    rebuild_copied_tree,
    split_image,
    walk,
)

KUBERNETES_VERSION = "1.29.0"  # the oldest minor the manifests must work on
# API groups whose schemas kubernetes-validate bundles ("" is the core group). An object of any
# other group is a CRD, of a kind whose content the properties below check.
BUILTIN_GROUPS = {"", "apps", "autoscaling", "policy", "batch", "rbac.authorization.k8s.io",
                  "networking.k8s.io", "storage.k8s.io"}
CONTENT_CHECKED_CRDS = {"PodDefault"}
RUN_SETTINGS_KEYS = {"name", "experiment", "namespace", "service_account", "schedule", "parameters"}
# Least privilege: never list/watch (whole collections), delete, escalate or enter pods.
ALLOWED_VERBS = {"get", "create", "patch", "update"}
NAMED_ONLY = {"secrets", "configmaps"}  # by resourceNames, and read only
NEVER_GRANTED = {"pods/exec", "pods/attach", "pods/portforward", "pods/log"}
# Flags tensorflow_model_server 2.16 defines (tensorflow_serving/model_servers/main.cc): a typo
# such as --rest_port would otherwise only show up as a crash-looping pod.
MODEL_SERVER_FLAGS = set("""
    port grpc_socket_path rest_api_port rest_api_num_threads rest_api_timeout_in_ms
    rest_api_enable_cors_support enable_batching allow_version_labels_for_unavailable_models
    batching_parameters_file enable_per_model_batching_parameters model_config_file
    model_config_file_poll_wait_seconds model_name model_base_path num_load_threads
    num_unload_threads max_num_load_retries load_retry_interval_micros
    file_system_poll_wait_seconds flush_filesystem_caches tensorflow_session_parallelism
    tensorflow_session_config_file tensorflow_intra_op_parallelism tensorflow_inter_op_parallelism
    ssl_config_file platform_config_file per_process_gpu_memory_fraction saved_model_tags
    grpc_channel_arguments grpc_max_threads enable_model_warmup num_request_iterations_for_warmup
    monitoring_config_file remove_unused_fields_from_bundle_metagraph""".split())


@pytest.fixture(scope="module")
def repo():
    return load(load_kubeflow_config())


# =========================================================================== properties


def documents_are_objects_or_run_settings(m) -> list[str]:
    # kubernetes-validate skips a document without apiVersion/kind: only run settings may lack both.
    def settings(d):
        return isinstance(d, dict) and "schedule" in d and set(d) <= RUN_SETTINGS_KEYS

    return [f"{path}: neither an object nor run settings" for path, docs in m.files.items()
            for d in docs if not is_object(d) and not settings(d)]


def kustomizations_list_exactly_the_object_files(m) -> list[str]:
    out = []
    for folder, kustomization in m.kustomizations.items():
        listed = {f"{folder}/{name}" for name in kustomization.get("resources", [])}
        holding = sorted(f for f, docs in m.files.items()
                         if f.rpartition("/")[0] == folder and any(map(is_object, docs)))
        out += [f"{f}: not in its kustomization" for f in sorted(set(holding) - listed)]
        out += [f"{f}: listed, but holds no object" for f in sorted(listed - set(holding))]
        # `kubectl apply` of the numbered files in name order: a Namespace before its objects.
        kinds = [{d["kind"] for d in m.files[f] if is_object(d)} for f in holding]
        out += [f"{holding[i]}: a Namespace after objects in it" for i, k in enumerate(kinds)
                if "Namespace" in k and any(k2 - CLUSTER_SCOPED for k2 in kinds[:i])]
    return out


def objects_live_in_namespaces_of_the_set(m) -> list[str]:
    defined = {d["metadata"]["name"] for d in m.objects("Namespace")}
    keys = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in m.objects()]
    out = [f"{key} is defined twice" for key in set(keys) if keys.count(key) > 1]
    out += [f"{kind}/{name}: namespace {ns!r}" for kind, ns, name in keys
            if (ns if kind in CLUSTER_SCOPED else ns not in defined)]
    return out + [f"run settings: namespace {s.get('namespace')!r}" for s in m.settings()
                  if s.get("namespace") not in defined]


def ports_resolve_to_declared_container_ports(m) -> list[str]:
    out = []
    for doc, _, pod in m.workloads():
        for c in pod["containers"]:
            out += [f"{kn(doc)}/{c['name']}: no {p}" for p in ("readinessProbe", "livenessProbe")
                    if p not in c]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    port = c.get(probe, {}).get(handler, {}).get("port")
                    if port is not None and not declares_port(c, port):
                        out.append(f"{kn(doc)}/{c['name']}: {probe} on undeclared port {port!r}")
    for svc in m.objects("Service"):
        containers = [c for _, labels, pod in m.workloads()
                      if matches(svc["spec"].get("selector"), labels) for c in pod["containers"]]
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if not any(declares_port(c, target) for c in containers):
                out.append(f"{kn(svc)}: targetPort {target!r} is no port of its pods")
    return out


def selectors_match_their_pods(m) -> list[str]:
    out, workloads = [], list(m.workloads())
    for doc, labels, pod in workloads:
        spread = [t["labelSelector"] for t in pod.get("topologySpreadConstraints", [])]
        out += [f"{kn(doc)}: a selector misses its own pods"
                for s in [doc["spec"]["selector"], *spread]
                if not matches(s.get("matchLabels"), labels)]
    selecting = [(s, s["spec"].get("selector")) for s in m.objects("Service")]
    selecting += [(p, p["spec"]["selector"].get("matchLabels"))
                  for p in m.objects("PodDisruptionBudget")]
    for obj, selector in selecting:
        hits = [d for d, labels, _ in workloads if matches(selector, labels)
                and d["metadata"].get("namespace") == obj["metadata"].get("namespace")]
        if len(hits) != 1:
            out.append(f"{kn(obj)} selects the pods of {len(hits)} workloads, not 1")
    pipeline_pods = [d["spec"]["selector"].get("matchLabels") for d in m.objects("PodDefault")]
    for policy in m.objects("NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels")
        if selector not in pipeline_pods and not any(matches(selector, w[1]) for w in workloads):
            out.append(f"{kn(policy)} selects neither a workload's pods nor the pipeline's")
    return out


def autoscaling_fits_its_target(m) -> list[str]:
    out = []
    for hpa in m.objects("HorizontalPodAutoscaler"):
        ref, spec = hpa["spec"]["scaleTargetRef"], hpa["spec"]
        target = m.named(ref["kind"], ref["name"], hpa["metadata"].get("namespace"))
        if target is None or target["apiVersion"] != ref.get("apiVersion"):
            out.append(f"{kn(hpa)} scales {ref}, which is not in the set")
            continue
        if "replicas" in target["spec"]:
            out.append(f"{kn(target)}: spec.replicas resets the HPA's count on every apply")
        # Utilization is relative to the request: without one the HPA cannot act.
        template = target["spec"]["template"]
        out += [f"{kn(target)}/{c['name']}: no {name} request to scale on"
                for name in (mt.get("resource", {}).get("name") for mt in spec.get("metrics", []))
                for c in template["spec"]["containers"]
                if name and name not in c.get("resources", {}).get("requests", {})]
        out += [f"{kn(p)}: minAvailable >= the HPA's minReplicas blocks every node drain"
                for p in m.objects("PodDisruptionBudget")
                if matches(p["spec"]["selector"].get("matchLabels"), template["metadata"]["labels"])
                and p["spec"].get("minAvailable", 0) >= spec.get("minReplicas", 1)]
    return out


def containers_have_bounded_resources(m) -> list[str]:
    out = []
    for doc, _, pod in m.workloads():
        for c in pod["containers"] + pod.get("initContainers", []):
            for name in ("cpu", "memory"):
                request, limit = (c.get("resources", {}).get(k, {}).get(name)
                                  for k in ("requests", "limits"))
                if request is None or limit is None or not 0 < quantity(request) <= quantity(limit):
                    out.append(f"{kn(doc)}/{c['name']}: {name} request {request}, limit {limit}")
    return out


def images_are_pinned(m) -> list[str]:
    out, tensorflow = [], locked_version(m.lock, "tensorflow") or "?"
    for where, ref in m.image_refs():
        repository, tag, digest = split_image(ref)
        if (not (tag or digest) or tag.startswith("latest")
                or digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest)):
            out.append(f"{where}: {ref} is pinned by neither a tag nor a digest")
        # TF Serving loads what the locked TensorFlow saves: the same major.minor.
        if repository.endswith("tensorflow/serving") and tag.split(".")[:2] != tensorflow.split(
            "."
        )[:2]:
            out.append(f"{where}: {ref} is not the release of the locked tensorflow {tensorflow}")
    return out


def containers_run_hardened(m) -> list[str]:
    out = []
    for doc, _, pod in m.workloads():
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c.get("securityContext", {})
            run_as = {**pod.get("securityContext", {}), **sc}
            uid = run_as.get("runAsUser", 1)
            caps = sc.get("capabilities", {})
            tmp = [v for v in c.get("volumeMounts", []) if v["mountPath"] == "/tmp"]
            failed = {
                "may run as root": run_as.get("runAsNonRoot") is not True
                or not isinstance(uid, int) or uid < 1,
                "writable root filesystem": sc.get("readOnlyRootFilesystem") is not True,
                "may escalate": sc.get("allowPrivilegeEscalation") is not False
                or bool(sc.get("privileged")),
                "keeps capabilities": "ALL" not in caps.get("drop", []) or bool(caps.get("add")),
                "no seccomp profile": run_as.get("seccompProfile", {}).get("type")
                not in {"RuntimeDefault", "Localhost"},
                # With a read-only root, TensorFlow's scratch files need a writable emptyDir.
                "no writable emptyDir at /tmp": not tmp or bool(tmp[0].get("readOnly"))
                or "emptyDir" not in volumes.get(tmp[0]["name"], {}),
            }
            out += [f"{kn(doc)}/{c['name']}: {what}" for what, bad in failed.items() if bad]
    return out


def volumes_resolve(m) -> list[str]:
    out, by_hand = [], created_by_hand(m.readme)
    for where, ns, volumes, mount_lists in m.pod_mounts():
        names = {v["name"] for v in volumes}
        mounted = {mount["name"] for mounts in mount_lists for mount in mounts}
        out += [f"{where}: volume {n} is never mounted" for n in sorted(names - mounted)]
        out += [f"{where}: a mount names no volume, {n}" for n in sorted(mounted - names)]
        out += [f"{where}: {a['mountPath']} is mounted before its parent {b['mountPath']}"
                for mounts in mount_lists for i, a in enumerate(mounts) for b in mounts[i + 1 :]
                if PurePosixPath(a["mountPath"]).is_relative_to(b["mountPath"])]
        for volume in volumes:
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and m.named("PersistentVolumeClaim", claim, ns) is None:
                out.append(f"{where}: claim {claim} is not defined in namespace {ns}")
            for kind, source, field in (("Secret", "secret", "secretName"),
                                        ("ConfigMap", "configMap", "name")):
                if source not in volume:
                    continue
                name = volume[source][field]
                defined = m.named(kind, name, ns)
                keys = set(defined.get("data", {})) if defined else by_hand.get((ns, kind, name))
                if keys is None:
                    out.append(f"{where}: {kind} {name} is neither defined in {ns} nor created "
                               "by a command of kubernetes/README.md")
                out += [f"{where}: {kind} {name} has no key {item['key']}"
                        for item in volume[source].get("items", [])
                        if item["key"] not in (keys or ())]
    return out


def model_server_serves_what_the_pusher_pushes(m) -> list[str]:
    out, cfg = [], m.config.pipeline
    # The Pusher writes <serving_dir>/<model_name>/<version>/ (pipeline/pipeline.py), on the claim
    # the pipeline pods mount writable at serving_dir.
    pusher_claims = set()
    for doc in m.objects("PodDefault"):
        volumes = {v["name"]: v for v in doc["spec"].get("volumes", [])}
        pusher_claims |= {volumes[v["name"]]["persistentVolumeClaim"]["claimName"]
                          for v in doc["spec"].get("volumeMounts", [])
                          if v["mountPath"] == cfg.serving_dir and not v.get("readOnly")}
    servers = [(doc, pod, c) for doc, _, pod in m.workloads() for c in pod["containers"]
               if PurePosixPath(c.get("command", [""])[0]).name == "tensorflow_model_server"]
    if not servers:
        out.append("no container runs the tensorflow_model_server binary itself")
    for doc, pod, c in servers:
        where, flags = f"{kn(doc)}/{c['name']}", {}
        for arg in c.get("args", []):
            flag, _, value = arg.removeprefix("--").partition("=")
            known = flag in MODEL_SERVER_FLAGS and flag not in flags
            if not arg.startswith("--") or not value or not known:
                out.append(f"{where}: {arg!r} is not a single known --flag=value")
            flags[flag] = value
        if flags.get("model_name") != cfg.model_name:
            out.append(f"{where}: serves {flags.get('model_name')!r}, not {cfg.model_name!r}")
        ready = c.get("readinessProbe", {}).get("httpGet", {}).get("path")
        if ready and ready != f"/v1/models/{cfg.model_name}":
            out.append(f"{where}: the readiness probe asks about {ready}")
        listening = {int(flags[f]) for f in ("port", "rest_api_port") if f in flags}
        if listening != {p["containerPort"] for p in c.get("ports", [])}:
            out.append(f"{where}: listens on {sorted(listening)}, declares other ports")
        cpus = max(1, math.ceil(quantity(c["resources"]["limits"]["cpu"])))
        out += [f"{where}: --{f} exceeds the {cpus} CPUs of the limit" for f in
                ("tensorflow_intra_op_parallelism", "tensorflow_inter_op_parallelism")
                if int(flags.get(f, 0)) > cpus]
        base = PurePosixPath(flags.get("model_base_path", "/"))
        mounts = [v for v in c.get("volumeMounts", [])
                  if base.is_relative_to(v["mountPath"]) and base != PurePosixPath(v["mountPath"])]
        if len(mounts) != 1:
            out.append(f"{where}: --model_base_path {base} is not under one volume mount")
            continue
        volume = next(v for v in pod["volumes"] if v["name"] == mounts[0]["name"])
        claim = volume.get("persistentVolumeClaim", {}).get("claimName")
        if not mounts[0].get("readOnly") or claim not in pusher_claims:
            out.append(f"{where}: reads claim {claim} (writable: {not mounts[0].get('readOnly')}),"
                       f" the Pusher writes {sorted(pusher_claims)}")
        if base.relative_to(mounts[0]["mountPath"]) != PurePosixPath(cfg.model_name):
            out.append(f"{where}: {base} is not <volume root>/{cfg.model_name}")
    return out


def _serve_args(c: dict):
    """The parsed ``cyclecast serve`` arguments of a container, or the parser's complaint."""
    import contextlib
    import io

    from pipeline.cli import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return build_parser().parse_args(["serve", *c.get("args", [])])
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1]


def answer_service_fits_its_app(m) -> list[str]:
    import warnings
    from urllib.parse import urlsplit

    from pipeline.serving.service import HEALTH_PATH, READY_PATH, create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app = create_app(source=None, model=None, poll_seconds=None)
    routes = {route.path for route in app.routes}
    answers = [(doc, c) for doc, _, pod in m.workloads() for c in pod["containers"]
               if c.get("command") == ["cyclecast", "serve"]]
    if not answers:
        return ["no container runs `cyclecast serve`"]
    out, env = [], m.image_env()
    for doc, c in answers:
        where, args = f"{kn(doc)}/{c['name']}", _serve_args(c)
        if isinstance(args, str):
            out.append(f"{where}: `cyclecast serve` refuses its args: {args}")
            continue
        # The component image, which holds the project and its console script.
        if c["image"] != m.config.image:
            out.append(f"{where}: runs {c['image']}, not the component image {m.config.image}")
        cpus = max(1, math.ceil(quantity(c["resources"]["limits"]["cpu"])))
        if args.threads is None or args.threads > cpus:
            out.append(f"{where}: --threads {args.threads}, not within the {cpus} CPUs of the "
                       "limit (the default counts the node's cores)")
        if args.host != "0.0.0.0" or not declares_port(c, args.port):
            out.append(f"{where}: listens on {args.host}:{args.port}, not a declared port")
        probes = {"livenessProbe": HEALTH_PATH, "readinessProbe": READY_PATH}
        for probe, path in probes.items():
            get = c.get(probe, {}).get("httpGet", {})
            port = next((p["containerPort"] for p in c.get("ports", [])
                         if get.get("port") in (p.get("name"), p["containerPort"])), None)
            if get.get("path") != path or get.get("path") not in routes or port != args.port:
                out.append(f"{where}: {probe} asks {get.get('path')} on {get.get('port')}, not "
                           f"the app's {path} on {args.port}")
        # --config is the image's copy of a config in this repository, its paths on mounts.
        image_root = PurePosixPath("/opt/cyclecast")
        config = PurePosixPath(args.config or "/")
        if not config.is_relative_to(image_root) or not (
            ROOT / config.relative_to(image_root)
        ).is_file():
            out.append(f"{where}: --config {config} is no config of the image")
        else:
            cfg = load_kubeflow_config(ROOT / config.relative_to(image_root)).pipeline
            # Its users' state: the online store the pipeline publishes to, a Redis Service here.
            store = urlsplit(cfg.online_store)
            host, _, store_ns = (store.hostname or "").partition(".")
            redis = m.named("Service", host, store_ns.split(".")[0] or doc["metadata"]["namespace"])
            redis_ports = {p["port"] for p in (redis or {}).get("spec", {}).get("ports", [])
                           if p.get("name") == "redis"}
            if store.scheme != "redis" or store.port not in redis_ports:
                out.append(f"{where}: the config's online_store {cfg.online_store!r} is no Redis "
                           "Service of the set")
            mounted = [v["mountPath"] for v in c.get("volumeMounts", [])]
            salt_dir = str(PurePosixPath(env.get(SALT_FILE_ENV, "/")).parent)
            out += [f"{where}: {what} {path} is on no mount" for what, path in
                    (("data_root", cfg.data_root), ("the salt", salt_dir))
                    if not any(PurePosixPath(path).is_relative_to(mp) for mp in mounted)]
        # The model: TF Serving's Service of the set, on the port of the protocol asked.
        target = f"http://{args.grpc}" if args.grpc else args.rest
        if target is None:
            out.append(f"{where}: neither --rest nor --grpc: the model would load in every pod")
            continue
        url = urlsplit(target)
        name, _, namespace = (url.hostname or "").partition(".")
        namespace = namespace.split(".")[0] or doc["metadata"]["namespace"]
        service = m.named("Service", name, namespace)
        wanted = "grpc" if args.grpc else "http"
        ports = {p["port"] for p in (service or {}).get("spec", {}).get("ports", [])
                 if p.get("name") == wanted}
        servers = [c2 for _, labels, pod2 in m.workloads()
                   if service and matches(service["spec"].get("selector"), labels)
                   for c2 in pod2["containers"]
                   if PurePosixPath(c2.get("command", [""])[0]).name == "tensorflow_model_server"]
        if not servers or url.port not in ports or args.model_name != m.config.pipeline.model_name:
            out.append(f"{where}: asks {target} for {args.model_name!r}, which is not TF "
                       f"Serving's {wanted} port serving {m.config.pipeline.model_name!r}")
    return out


def pipeline_pods_get_storage_salt_and_identity(m) -> list[str]:
    out, env, cfg = [], m.image_env(), m.config.pipeline
    if SALT_ENV in env or not m.objects("PodDefault"):
        out.append(f"the image sets {SALT_ENV}, or no PodDefault gives the pipeline pods volumes")
    salt_file = PurePosixPath(env.get(SALT_FILE_ENV, "/"))
    for doc in m.objects("PodDefault"):
        spec, ns = doc["spec"], doc["metadata"]["namespace"]
        if m.named("ServiceAccount", spec.get("serviceAccountName"), ns) is None:
            out.append(f"{kn(doc)}: account {spec.get('serviceAccountName')} is not in the set")
        mounts = spec.get("volumeMounts", [])

        def mount_of(path: str, mounts=mounts):
            under = [v for v in mounts if PurePosixPath(path).is_relative_to(v["mountPath"])]
            return max(under, key=lambda v: len(v["mountPath"]), default={"readOnly": True})

        # Every local path of the config is on a writable volume; only serving_dir on the models'.
        for key in ("data_root", "pipeline_root", "serving_dir", "predictions_dir"):
            path, mount = getattr(cfg, key), mount_of(getattr(cfg, key))
            if path.startswith("/") and (mount.get("readOnly") or key != "serving_dir"
                                         and mount is mount_of(cfg.serving_dir)):
                out.append(f"{kn(doc)}: {key} {path} is on no writable volume of its own")
        # The salt Secret's key lands exactly on the file the image's env var names, read-only.
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        salt = [(v, volumes[v["name"]].get("secret", {})) for v in mounts
                if v["mountPath"] == str(salt_file.parent)]
        items = [(secret, i) for v, secret in salt
                 if v.get("readOnly") and not secret.get("optional")
                 for i in secret.get("items", []) if i["path"] == salt_file.name]
        # The pods run as the image's non-root USER without an fsGroup: "others" must read it.
        modes = [item.get("mode", secret.get("defaultMode", 0o644)) for secret, item in items]
        if len(modes) != 1 or not modes[0] & 0o004 or modes[0] & 0o222:
            out.append(f"{kn(doc)}: {salt_file} is not one required read-only Secret key")
    return out


def rbac_is_least_privilege(m) -> list[str]:
    out = [f"{kn(d)}: cluster-wide" for d in m.objects("ClusterRole", "ClusterRoleBinding")]
    wildcard_fields = ("apiGroups", "resources", "verbs")
    for role in m.objects("Role"):
        for rule in role.get("rules") or [{}]:
            verbs, resources = set(rule.get("verbs", [])), set(rule.get("resources", []))
            named = rule.get("resourceNames", [])
            failed = {
                "a wildcard": any("*" in rule.get(f, []) for f in wildcard_fields),
                f"verbs beyond {sorted(ALLOWED_VERBS)}": not verbs or bool(verbs - ALLOWED_VERBS),
                "starts or enters pods": bool(resources & NEVER_GRANTED)
                or "pods" in resources and "create" in verbs,
                "Secrets/ConfigMaps other than read by name": bool(resources & NAMED_ONLY)
                and (not named or verbs != {"get"}),
                # Not defined here: KFP's own objects, which the README names.
                "a named object the README does not mention": bool(resources & NAMED_ONLY)
                and any(f"`{name}`" not in m.readme for name in named),
            }
            out += [f"{kn(role)} rule {rule}: {what}" for what, bad in failed.items() if bad]
    bound = set()
    for binding in m.objects("RoleBinding"):
        ns, ref = binding["metadata"]["namespace"], binding["roleRef"]
        if ref.get("kind") != "Role" or m.named("Role", ref.get("name"), ns) is None:
            out.append(f"{kn(binding)}: binds {ref}, which is not a Role of the set")
        for subject in binding.get("subjects", []):
            bound.add(account := (subject.get("namespace", ns), subject["name"]))
            if subject["kind"] != "ServiceAccount" or not m.named("ServiceAccount", *account[::-1]):
                out.append(f"{kn(binding)}: subject {subject} is no ServiceAccount of the set")
    for account in m.objects("ServiceAccount"):
        key = (account["metadata"]["namespace"], account["metadata"]["name"])
        if key not in bound or account.get("automountServiceAccountToken") is False:
            out.append(f"{kn(account)}: unbound, or bound without a token to use it")
    for doc, _, pod in m.workloads():
        key = (doc["metadata"]["namespace"], pod.get("serviceAccountName", "default"))
        if key not in bound and pod.get("automountServiceAccountToken") is not False:
            out.append(f"{kn(doc)}: mounts an API token its pods have no permission to use")
    return out + [f"{kn(d)}: puts the pods on an account no RoleBinding binds"
                  for d in m.objects("PodDefault")
                  if (d["metadata"]["namespace"], d["spec"].get("serviceAccountName")) not in bound]


def recurring_run_fits_the_project(m) -> list[str]:
    runs = m.settings()
    if len(runs) != 1:
        return [f"{len(runs)} recurring-run settings documents, expected 1"]
    (run,) = runs
    out = [f"{key} {run.get(key)!r} is not a KFP name" for key in ("name", "experiment")
           if not _KFP_NAME.match(str(run.get(key, "")))]
    schedule, parameters = run.get("schedule", {}), run.get("parameters") or {}
    evaluation = {k: v for k, v in parameters.items() if k in EVALUATION_KEYS}
    try:
        validate_cron(str(schedule.get("cron")))  # what `cyclecast submit --schedule` accepts
        ZoneInfo(schedule.get("timezone", "UTC"))
        _build(EvaluationConfig, evaluation, "parameters")
    except (SubmitError, ConfigError, ValueError, KeyError) as e:
        out.append(str(e))
    # Runs share the serving volume and ML Metadata: one at a time.
    if schedule.get("max_concurrency") != 1 or not all(
        isinstance(schedule.get(k), bool) for k in ("no_catchup", "enabled")
    ):
        out.append(f"schedule {schedule}: max_concurrency 1 and boolean switches expected")
    unknown = sorted(set(parameters) - TRAINING_KEYS - EVALUATION_KEYS)
    steps = parameters.get("train_steps", 1)
    if unknown or not isinstance(steps, int) or steps < 1:
        out.append(f"`cyclecast submit` takes no {unknown}, or train_steps {steps!r}")
    out += [f"{k} {v!r} is not a fraction" for k, v in evaluation.items()
            if not isinstance(v, float) or not 0 <= v <= 1]
    # The pods get their volumes and account only where the PodDefault is.
    if not any(d["metadata"]["namespace"] == run.get("namespace")
               and d["spec"].get("serviceAccountName") == run.get("service_account")
               for d in m.objects("PodDefault")):
        out.append(f"runs as {run.get('service_account')} in {run.get('namespace')}: no PodDefault")
    # The commands that the README and the settings file show agree with the settings.
    for text in (m.readme, next(m.texts[f] for f, docs in m.files.items() if run in docs)):
        crons = re.findall(r"--schedule '([^']*)'", text)
        out += [f"a command schedules {c!r}" for c in crons if c != schedule.get("cron")]
        namespaces = re.findall(r"submit .*?--namespace (\S+)", text)
        out += [f"a command submits to {ns}" for ns in namespaces if ns != run.get("namespace")]
        values = re.findall(r"--param (\w+)=(\d+(?:\.\d+)?)", text)
        out += [f"a command passes {k}={v}" for k, v in values
                if k not in parameters or float(v) != parameters[k]]
    return out


def no_secret_is_committed(m) -> list[str]:
    return [f"{kn(d)}: its values would be in git" for d in m.objects("Secret")]


def base_images_follow_the_project_python_and_lock(m) -> list[str]:
    out, minor, image = [], python_minor(), m.stages[-1]
    bases = {ref for where, ref in m.image_refs() if where == "Dockerfile"}
    # The runtime stage copies the build stage's venv, whose python symlinks into the base.
    if bases != {image["image"]}:
        out.append(f"the stages start from different bases: {sorted(bases)}")
    for repository, tag, _ in map(split_image, bases):
        official = repository in {"python", "docker.io/library/python"}
        if not official or not re.match(rf"{minor}[.-]", tag):
            out.append(f"{repository}:{tag} is not the official Python {minor} of pyproject.toml")
        # The lock's wheels are resolved for glibc 2.36 (manylinux_2_36) = Debian 12 bookworm.
        if "manylinux_2_36" in m.lock.splitlines()[1] and "bookworm" not in tag:
            out.append(f"{repository}:{tag} is not Debian bookworm, which the lock's wheels need")
    beam = f"apache/beam_python{minor}_sdk:{locked_version(m.lock, 'apache-beam')}"
    boot = [dest for src, _, dest, _ in copies(image, from_context=False) if src == beam]
    if [ref for where, ref in m.image_refs() if where.endswith("--from")] != [beam] or not boot:
        out.append(f"Beam's boot does not come from {beam} alone (the lock's Beam)")
    entrypoint = [json.loads(args)[0] for k, args in image["instructions"] if k == "ENTRYPOINT"]
    if not entrypoint or not any(PurePosixPath(entrypoint[-1]).is_relative_to(d) for d in boot):
        out.append("the ENTRYPOINT is not Beam's SDK-harness boot")
    # Otherwise boot creates a fresh virtualenv without this venv's packages.
    if m.image_env().get("RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT") != "1":
        out.append("Beam's boot would not run in the image's venv")
    return out


def image_user_is_the_serving_uid(m) -> list[str]:
    users = [a for k, a in m.stages[-1]["instructions"] if k == "USER"] or ["0"]
    ids = users[-1].split(":")
    # Numeric, so that the kubelet can verify runAsNonRoot without /etc/passwd.
    if not all(i.isdigit() and int(i) > 0 for i in ids):
        return [f"USER {users[-1]}: not a numeric non-root user"]
    # The Pusher's files on the shared volume belong to the user that serves them.
    serving = {{**pod.get("securityContext", {}), **c.get("securityContext", {})}.get("runAsUser")
               for _, _, pod in m.workloads() for c in pod["containers"]}
    return [] if serving == {int(ids[0])} else [f"USER {ids[0]}, serving uids {serving}"]


def dockerfile_installs_the_lock_and_copies_the_project(m) -> list[str]:
    ignored = m.dockerignore
    out = [f"the build context keeps {p}" for p in (".git", ".venv", "x/__pycache__/y.pyc")
           if not dockerignored(p, ignored)]
    copied = {s.rstrip("/") for stage in m.stages for _, srcs, _, _ in copies(stage) for s in srcs}
    for src in sorted(copied):
        path = ROOT / src
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        rels = [f.relative_to(ROOT).as_posix() for f in files]
        rels = [r for r in rels if "__pycache__" not in r]
        if not path.exists() or any(dockerignored(r, ignored) for r in rels):
            out.append(f"COPY {src}: missing from the build context, wholly or in part")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {p.rstrip("*") for p in packages if not dockerignored(p.rstrip("*"), ignored)}
    needed |= {"pyproject.toml", pyproject["project"]["readme"], SCHEMA_FILE.parent.name}
    out += [f"the image lacks {p}" for p in sorted(needed - copied)]
    runs = [(args, wd) for stage in m.stages for k, args, wd in walk(stage) if k == "RUN"]
    locks = [d for stage in m.stages for _, s, d, _ in copies(stage) if s == ["requirements.lock"]]
    installs = [a.split() for a, _ in runs if any(re.search(rf"-r\s+{d}\b", a) for d in locks)]
    # pip refuses a package whose Requires-Python excludes the image's Python (tfx: <3.11) without
    # --ignore-requires-python. The venv running this test is installed from the same lock.
    python = split_image(m.stages[-1]["image"])[1].split("-")[0]
    # .get: in the whole suite some distributions come from the importlib_metadata backport,
    # whose metadata raises KeyError for a missing field where the standard library's gives None.
    requires = [d.metadata.get("Requires-Python") for d in importlib.metadata.distributions()]
    refusing = [r for r in requires if r and python not in SpecifierSet(r)]
    flags = {"--require-hashes", "--no-deps"}
    flags |= {"--ignore-requires-python"} if refusing else set()
    if len(installs) != 1 or not flags <= set(installs[0]):
        out.append(f"the lock is not installed once with {sorted(flags)}")
    # Editable where pipeline/ is: pipeline/config.py finds schema/ and the configs next to it.
    pipeline_dirs = {d.parent for st in m.stages for _, s, d, _ in copies(st) if s == ["pipeline/"]}
    editable = r"pip install .*(--editable|-e) \."
    project = [(a.split(), wd) for a, wd in runs if re.search(editable, a)]
    if [(("--no-deps" in a), {wd}) for a, wd in project] != [(True, pipeline_dirs)]:
        out.append(f"the project is not installed once, --no-deps, where pipeline/ is: {project}")
    text = (K8S_DIR / "Dockerfile").read_text()
    if re.search(r"pypi\.org|pythonhosted\.org|--index-url|--extra-index-url", text):
        out.append("the image installs from an index instead of the lock's hashes")
    return out


PROPERTIES = [
    documents_are_objects_or_run_settings, kustomizations_list_exactly_the_object_files,
    objects_live_in_namespaces_of_the_set, ports_resolve_to_declared_container_ports,
    selectors_match_their_pods, autoscaling_fits_its_target, containers_have_bounded_resources,
    images_are_pinned, containers_run_hardened, volumes_resolve,
    model_server_serves_what_the_pusher_pushes, answer_service_fits_its_app,
    pipeline_pods_get_storage_salt_and_identity,
    rbac_is_least_privilege, recurring_run_fits_the_project, no_secret_is_committed,
    base_images_follow_the_project_python_and_lock, image_user_is_the_serving_uid,
    dockerfile_installs_the_lock_and_copies_the_project,
]


@pytest.mark.parametrize("prop", PROPERTIES, ids=lambda p: p.__name__)
def test_property_holds(repo, prop):
    assert prop(repo) == []


# --------------------------------------------------------------------------- each catches a defect


def _first(m, kind):
    return m.objects(kind)[0]


def _server(m):
    return _first(m, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def _arg(flag, value):
    def mutate(m):
        args = [a for a in _server(m)["args"] if not a.startswith(f"--{flag}=")]
        _server(m)["args"] = [*args, f"--{flag}={value}"]

    return mutate


def _answers(m):
    return next(c for d in m.objects("Deployment") for c in d["spec"]["template"]["spec"][
        "containers"] if c.get("command") == ["cyclecast", "serve"])


def _serve_arg(flag, value):
    def mutate(m):
        args = [a for a in _answers(m)["args"] if not a.startswith(f"--{flag}=")]
        _answers(m)["args"] = [*args, f"--{flag}={value}"]

    return mutate


def _in_dockerfile(stage, old, new):
    def mutate(m):
        m.stages[stage]["image"] = m.stages[stage]["image"].replace(old, new)
        instructions = m.stages[stage]["instructions"]
        m.stages[stage]["instructions"] = [(k, a.replace(old, new)) for k, a in instructions]
    return mutate


def _pod_default_volume(kind):
    return lambda m: next(v[kind] for v in _first(m, "PodDefault")["spec"]["volumes"] if kind in v)


def _dep(m):
    return _first(m, "Deployment")["spec"]


DEFECTS = [
    (documents_are_objects_or_run_settings, "kind lost",
     lambda m: _first(m, "Service").pop("kind")),
    (kustomizations_list_exactly_the_object_files, "file not listed",
     lambda m: m.kustomizations["serving"]["resources"].pop()),
    (kustomizations_list_exactly_the_object_files, "missing file listed",
     lambda m: m.kustomizations["pipelines"]["resources"].append("60-gone.yaml")),
    (objects_live_in_namespaces_of_the_set, "default namespace",
     lambda m: _first(m, "PersistentVolumeClaim")["metadata"].pop("namespace")),
    (ports_resolve_to_declared_container_ports, "port renamed",
     lambda m: [p.update(name=p["name"] + "x") for p in _server(m)["ports"]]),
    (ports_resolve_to_declared_container_ports, "targetPort",
     lambda m: _first(m, "Service")["spec"]["ports"][0].update(targetPort=9000)),
    (selectors_match_their_pods, "template label",
     lambda m: _dep(m)["template"]["metadata"]["labels"].clear()),
    (selectors_match_their_pods, "NetworkPolicy selector",
     lambda m: _first(m, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"].update(a="b")),
    (autoscaling_fits_its_target, "HPA target",
     lambda m: _first(m, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"].update(name="x")),
    (autoscaling_fits_its_target, "replicas", lambda m: _dep(m).update(replicas=3)),
    (autoscaling_fits_its_target, "PDB blocks drains",
     lambda m: _first(m, "PodDisruptionBudget")["spec"].update(minAvailable=10)),
    (containers_have_bounded_resources, "1500Mi > 1Gi",
     lambda m: _server(m)["resources"]["requests"].update(memory="1500Mi")),
    (images_are_pinned, "latest", lambda m: _server(m).update(image="tensorflow/serving:latest")),
    (images_are_pinned, "other TF", lambda m: _server(m).update(image="tensorflow/serving:2.15.0")),
    (containers_run_hardened, "escalation",
     lambda m: _server(m)["securityContext"].update(allowPrivilegeEscalation=True)),
    (containers_run_hardened, "root", lambda m: _server(m)["securityContext"].update(runAsUser=0)),
    (volumes_resolve, "mount name", lambda m: _server(m)["volumeMounts"][0].update(name="x")),
    (volumes_resolve, "claim name",
     lambda m: _pod_default_volume("persistentVolumeClaim")(m).update(claimName="x")),
    (volumes_resolve, "Secret name",
     lambda m: _pod_default_volume("secret")(m).update(secretName="x")),
    (model_server_serves_what_the_pusher_pushes, "model name", _arg("model_name", "x")),
    (model_server_serves_what_the_pusher_pushes, "base path", _arg("model_base_path", "/models/x")),
    (model_server_serves_what_the_pusher_pushes, "unknown flag", _arg("rest_port", "8501")),
    (model_server_serves_what_the_pusher_pushes, "serving_dir elsewhere",
     lambda m: setattr(m, "config", dataclasses.replace(m.config, pipeline=dataclasses.replace(
         m.config.pipeline, serving_dir="/data/models")))),
    (answer_service_fits_its_app, "readiness path", lambda m: _answers(m)["readinessProbe"][
        "httpGet"].update(path="/ready")),
    (answer_service_fits_its_app, "port", _serve_arg("port", "9090")),
    (answer_service_fits_its_app, "threads", _serve_arg("threads", "4")),
    (answer_service_fits_its_app, "loopback", _serve_arg("host", "127.0.0.1")),
    (answer_service_fits_its_app, "unknown flag", _serve_arg("rest-url", "http://x:8501")),
    (answer_service_fits_its_app, "REST on the gRPC port",
     _serve_arg("rest", "http://cyclecast-serving.cyclecast.svc:8500")),
    (answer_service_fits_its_app, "another Service", _serve_arg("rest", "http://serving:8501")),
    (answer_service_fits_its_app, "model in every pod",
     lambda m: _answers(m).update(args=[a for a in _answers(m)["args"]
                                        if not a.startswith("--rest=")])),
    (answer_service_fits_its_app, "config", _serve_arg("config", "/etc/cyclecast.toml")),
    (answer_service_fits_its_app, "no data mount",
     lambda m: _answers(m)["volumeMounts"].pop(0)),
    (answer_service_fits_its_app, "image", lambda m: _answers(m).update(image="python:3.11")),
    (answer_service_fits_its_app, "online store port",
     lambda m: m.named("Service", "cyclecast-redis", "cyclecast")["spec"]["ports"][0].update(
         port=6380)),
    (pipeline_pods_get_storage_salt_and_identity, "salt file",
     lambda m: _pod_default_volume("secret")(m)["items"][0].update(path="salt")),
    (pipeline_pods_get_storage_salt_and_identity, "data mount moved",
     lambda m: _first(m, "PodDefault")["spec"]["volumeMounts"][0].update(mountPath="/mnt")),
    (rbac_is_least_privilege, "list",
     lambda m: _first(m, "Role")["rules"][0]["verbs"].append("list")),
    (rbac_is_least_privilege, "roleRef",
     lambda m: _first(m, "RoleBinding")["roleRef"].update(name="x")),
    (rbac_is_least_privilege, "serving token",
     lambda m: _dep(m)["template"]["spec"].pop("automountServiceAccountToken")),
    (recurring_run_fits_the_project, "5-field cron",
     lambda m: m.settings()[0]["schedule"].update(cron="0 3 * * *")),
    (recurring_run_fits_the_project, "parameter",
     lambda m: m.settings()[0]["parameters"].update(min_acu=0.7)),
    (recurring_run_fits_the_project, "namespace",
     lambda m: m.settings()[0].update(namespace="kubeflow")),
    (no_secret_is_committed, "Secret", lambda m: m.files["serving/10-pvc.yaml"].append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "x"}})),
    (base_images_follow_the_project_python_and_lock, "Python 3.12",
     _in_dockerfile(-1, "python:3.11", "python:3.12")),
    (base_images_follow_the_project_python_and_lock, "other Beam",
     _in_dockerfile(-1, "_sdk:2", "_sdk:1")),
    (image_user_is_the_serving_uid, "root",
     lambda m: m.stages[-1]["instructions"].append(("USER", "0"))),
    (image_user_is_the_serving_uid, "uid",
     lambda m: m.stages[-1]["instructions"].append(("USER", "10002"))),
    (dockerfile_installs_the_lock_and_copies_the_project, "ignored COPY",
     lambda m: m.stages[0]["instructions"].append(("COPY", "tests/ tests/"))),
    (dockerfile_installs_the_lock_and_copies_the_project, "lock with deps",
     _in_dockerfile(0, "--no-deps --require", "--require")),
]


@pytest.mark.parametrize(("prop", "defect", "mutate"), DEFECTS, ids=[d for _, d, _ in DEFECTS])
def test_property_catches(repo, prop, defect, mutate):
    broken = copy.deepcopy(repo)
    mutate(broken)
    assert prop(broken), f"{prop.__name__} missed: {defect}"


def test_every_property_has_a_defect_it_catches():
    assert {p for p, *_ in DEFECTS} == set(PROPERTIES)


def test_quantity():
    assert [quantity(q) for q in ("500m", "2", "1Gi", "512Mi", "1e3", "1.5k")] == [
        0.5, 2, 2**30, 2**29, 1000, 1500]


# =========================================================================== the tools


def _tool(name: str) -> Path:
    path = Path(sys.executable).parent / name
    if not path.is_file():
        pytest.fail(f"{name} is not next to {sys.executable}; rebuild .venv from the lock")
    return path


def _validate(paths) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    proc = subprocess.run(
        [str(_tool("kubernetes-validate")), "--strict", "-k", KUBERNETES_VERSION, *map(str, paths)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )
    # It exits 0 after a WARN ("Couldn't find schema for kind ..."): every line that is not a pass.
    lines = (proc.stdout + proc.stderr).splitlines()
    return proc, [line for line in lines if line.strip() and not line.startswith("INFO ")]


def test_kubernetes_validate_strict_passes(repo, tmp_path):
    paths, expected = [], []
    for rel, docs in repo.files.items():
        objects = [d for d in docs if is_object(d)]
        builtin = [d for d in objects if d["apiVersion"].rpartition("/")[0] in BUILTIN_GROUPS]
        assert {d["kind"] for d in objects if d not in builtin} <= CONTENT_CHECKED_CRDS, rel
        if builtin:
            path = K8S_DIR / rel
            if len(builtin) != len(docs):  # the built-in objects of a mixed file, as a copy
                path = tmp_path / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(yaml.safe_dump_all(builtin, sort_keys=False))
            paths.append(path)
            expected += [f"INFO {path} passed for resource {kn(d)} against version 1.29"
                         for d in builtin]
    proc, problems = _validate(paths)
    assert proc.returncode == 0 and problems == [], proc.stdout + proc.stderr
    assert sorted(proc.stdout.splitlines()) == sorted(expected)  # each object, the pinned version


def test_strict_validation_rejects_an_unknown_field_and_an_unknown_kind(repo, tmp_path):
    deployment = repo.objects("Deployment")[0]
    bad_field, bad_kind = tmp_path / "unknown-field.yaml", tmp_path / "unknown-kind.yaml"
    spec = {**deployment["spec"], "replicasx": 2}
    bad_field.write_text(yaml.safe_dump({**deployment, "spec": spec}))
    bad_kind.write_text(yaml.safe_dump({**deployment, "kind": "Deploymnet"}))
    proc, problems = _validate([bad_field, bad_kind])
    assert proc.returncode != 0 and len(problems) == 2, problems
    assert problems[0].startswith(f"ERROR {bad_field}") and "replicasx" in problems[0]
    assert problems[1].startswith(f"WARN {bad_kind}") and "Deploymnet" in problems[1]


def test_yamllint_passes():
    config = ROOT / ".yamllint.yaml"
    proc = subprocess.run(
        [str(_tool("yamllint")), "--strict", "-f", "parsable", "-c", str(config), str(K8S_DIR),
         str(config)],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_role_rule_is_explained_by_a_comment(repo):
    for rel, text in repo.texts.items():
        roles = [d for d in repo.files[rel] if is_object(d) and d["kind"] == "Role"]
        lines = text.splitlines()
        starts = [i for i, line in enumerate(lines) if re.match(r"\s*- apiGroups:", line)]
        assert len(starts) == sum(len(r["rules"]) for r in roles), rel
        assert all(lines[i - 1].strip().startswith("#") for i in starts), f"{rel}: unexplained"


# =========================================================================== the image


def test_lock_pins_every_package_with_hashes(repo):
    # What `pip install --require-hashes --no-deps` relies on: `name==version` and a hash each.
    entries = [e for e in re.split(r"\n(?=[^\s#])", repo.lock) if not e.startswith("#")]
    assert len(entries) > 100
    for entry in entries:
        first = entry.splitlines()[0]
        assert re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?==[^\s;\\]+", first), first
        assert "--hash=sha256:" in entry, first
    # TFX installs packaged user modules with `python -m pip` at run time: pip is locked too.
    assert locked_version(repo.lock, "pip")


def test_compiled_steps_run_the_python_of_the_image_venv(repo):
    spec = json.loads((ROOT / "tests" / "golden" / "kfp_pipeline.json").read_text())
    executors = spec.get("pipelineSpec", spec)["deploymentSpec"]["executors"].values()
    commands = {tuple(e["container"]["command"]) for e in executors if "container" in e}
    assert commands and all(c[:2] == ("python", "-m") and len(c) == 3 for c in commands), commands
    env = repo.image_env()
    runs = [a for s in repo.stages for k, a in s["instructions"] if k == "RUN"]
    venv = env["VIRTUAL_ENV"]
    assert env["PATH"].split(":")[0] == f"{venv}/bin"  # `python` is the venv of the locked stack
    assert any(re.search(rf"-m venv {re.escape(venv)}\b", run) for run in runs)
    assert [d for _, s, d, _ in copies(repo.stages[-1], from_context=False) if s == [venv]] == [
        PurePosixPath(venv)]
    # The build imports every module the spec runs, and the locked tfx has it.
    tfx = importlib.util.find_spec("tfx").submodule_search_locations[0]
    from pipeline.orchestration.kfp_entrypoint import TFX_ENTRYPOINT

    for _, _, module in commands:
        assert any(module in run for run in runs), f"the build does not import {module}"
        assert importlib.util.find_spec(module) is not None, module  # the project's or the lock's
    # cyclecast's entrypoint wraps TFX's, which the locked tfx has and the build imports
    assert any(TFX_ENTRYPOINT in run for run in runs)
    assert Path(tfx, *TFX_ENTRYPOINT.split(".")[1:]).with_suffix(".py").is_file()


_IMAGE_TREE_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pipeline import code_version, config
from pipeline.orchestration import kubeflow
print(json.dumps({
    "config": config.__file__,
    "found": config.SCHEMA_FILE.is_file() and kubeflow.DEFAULT_KUBEFLOW_CONFIG.is_file(),
    "fingerprints": code_version.code_fingerprints(),
    "schema_fingerprint": code_version.schema_fingerprint(str(config.SCHEMA_FILE)),
}))
"""


def test_the_copied_tree_finds_its_schema_and_computes_the_same_fingerprints(repo, tmp_path):
    # Import the project from the tree the Dockerfile copies, without site-packages: config.py
    # finds schema/ and the configs next to itself, and the code fingerprints (part of TFX's
    # cache keys) are the repository's.
    tree = rebuild_copied_tree(repo.stages, repo.dockerignore, tmp_path)

    def probe(root: Path) -> dict:
        proc = subprocess.run([sys.executable, "-S", "-c", _IMAGE_TREE_PROBE, str(root)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    in_image, in_repo = probe(tree), probe(ROOT)
    assert Path(in_image.pop("config")).is_relative_to(tree) and in_image["found"]
    in_repo.pop("config")
    assert in_image == in_repo
    assert {"NightlyFeatureGen", "Transform", "Trainer"} <= set(in_image["fingerprints"])
