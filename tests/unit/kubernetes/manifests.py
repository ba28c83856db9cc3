"""What test_manifests.py reads: kubernetes/, its Dockerfile and .dockerignore.

Everything is loaded into one `Manifests` value so that a test can deep-copy it, break one thing
and show that a property function reports the break.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S_DIR = ROOT / "kubernetes"
KUSTOMIZE_FILES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
    "CustomResourceDefinition", "PriorityClass",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def load_docs(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def is_object(doc) -> bool:
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def kn(doc: dict) -> str:
    return f"{doc['kind'].lower()}/{doc.get('metadata', {}).get('name')}"


@dataclass
class Manifests:
    files: dict[str, list]  # kubernetes/-relative path of each YAML file -> its documents
    texts: dict[str, str]  # the same files' text (comments included)
    kustomizations: dict[str, dict]  # folder -> its kustomization
    readme: str  # kubernetes/README.md
    stages: list[dict]  # kubernetes/Dockerfile: {"image", "name", "instructions"}, image last
    dockerignore: list[str]
    lock: str  # requirements.lock
    config: Any  # pipeline.orchestration.kubeflow.KubeflowConfig of pipeline/configs/kubeflow.toml

    def objects(self, *kinds: str) -> list[dict]:
        return [
            doc
            for docs in self.files.values()
            for doc in docs
            if is_object(doc) and (not kinds or doc["kind"] in kinds)
        ]

    def settings(self) -> list[dict]:
        """Documents with neither apiVersion nor kind (recurring-run settings, never applied)."""
        return [d for docs in self.files.values() for d in docs if isinstance(d, dict)
                and "apiVersion" not in d and "kind" not in d]

    def named(self, kind: str, name: str | None, namespace: str | None) -> dict | None:
        for doc in self.objects(kind):
            meta = doc["metadata"]
            if meta.get("name") == name and meta.get("namespace") == namespace:
                return doc
        return None

    def workloads(self):
        """(object, pod template labels, pod spec) of every workload."""
        for doc in self.objects(*WORKLOAD_KINDS):
            template = doc["spec"]["template"]
            yield doc, template.get("metadata", {}).get("labels", {}), template["spec"]

    def pod_mounts(self):
        """(where, namespace, volumes, each container's volumeMounts) of workloads, PodDefaults."""
        for doc, _, pod in self.workloads():
            containers = pod["containers"] + pod.get("initContainers", [])
            # A StatefulSet's claim templates are volumes of its pods, each pod its own claim.
            claims = [{"name": t["metadata"]["name"]}
                      for t in doc["spec"].get("volumeClaimTemplates", [])]
            yield kn(doc), doc["metadata"].get("namespace"), pod.get("volumes", []) + claims, [
                c.get("volumeMounts", []) for c in containers
            ]
        for doc in self.objects("PodDefault"):
            spec = doc["spec"]
            yield kn(doc), doc["metadata"].get("namespace"), spec.get("volumes", []), [
                spec.get("volumeMounts", [])
            ]

    def image_refs(self):
        """(where, image reference) of every container and every Dockerfile base or COPY --from."""
        stage_names = {s["name"] for s in self.stages if s["name"]}
        refs = [(kn(d), c["image"]) for d, _, pod in self.workloads() for c in pod["containers"]]
        refs += [("Dockerfile", s["image"]) for s in self.stages if s["image"] not in stage_names]
        return refs + [
            ("Dockerfile COPY --from", source)
            for stage in self.stages
            for source, *_ in copies(stage, from_context=False)
            if source not in stage_names
        ]

    def image_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for keyword, args in self.stages[-1]["instructions"]:
            if keyword == "ENV":
                env.update(word.partition("=")[::2] for word in shlex.split(args))
        return env


def load(config) -> Manifests:
    files, texts, kustomizations = {}, {}, {}
    for path in sorted([*K8S_DIR.rglob("*.yaml"), *K8S_DIR.rglob("*.yml")]):
        rel = path.relative_to(K8S_DIR).as_posix()
        if path.name in KUSTOMIZE_FILES:
            kustomizations[path.parent.relative_to(K8S_DIR).as_posix()] = yaml.safe_load(
                path.read_text()
            )
        else:
            files[rel], texts[rel] = load_docs(path), path.read_text()
    ignore = (line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines())
    return Manifests(
        files=files,
        texts=texts,
        kustomizations=kustomizations,
        readme=(K8S_DIR / "README.md").read_text(),
        stages=dockerfile_stages(K8S_DIR / "Dockerfile"),
        dockerignore=[line for line in ignore if line and not line.startswith("#")],
        lock=(ROOT / "requirements.lock").read_text(),
        config=config,
    )


# --------------------------------------------------------------------------- values

_SUFFIXES = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "P": 1e15, "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
             "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(
    r"([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?"
)


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity ("500m", "1Gi", "1e3", "2") as a number."""
    match = _QUANTITY.fullmatch(str(value))
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, exponent, suffix = match.groups()
    return float(number + (exponent or "")) * _SUFFIXES[suffix or ""]


def matches(selector: dict | None, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def declares_port(container: dict, port: str | int) -> bool:
    key = "name" if isinstance(port, str) else "containerPort"
    return any(p.get(key) == port for p in container.get("ports", []))


def python_minor() -> str:
    """The Python minor of pyproject.toml's requires-python, e.g. "3.11"."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    return re.search(r">=\s*(3\.\d+)", requires).group(1)


def created_by_hand(readme: str) -> dict[tuple[str, str, str], set[str]]:
    """(namespace, kind, name) -> keys of each Secret/ConfigMap a README command creates."""
    created = {}
    pattern = r"kubectl -n (\S+) create (secret generic|configmap) (\S+)((?: --from-\S+)+)"
    for ns, what, name, sources in re.findall(pattern, readme):
        values = [source.partition("=")[2] for source in sources.split()]
        keys = {v.partition("=")[0] if "=" in v else PurePosixPath(v).name for v in values}
        created[(ns, "ConfigMap" if what == "configmap" else "Secret", name)] = keys
    return created


def split_image(ref: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of an image reference; tag and digest may be empty."""
    name, _, digest = ref.partition("@")
    repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    return repo, tag, digest


def locked_version(lock: str, package: str) -> str | None:
    match = re.search(rf"^{re.escape(package)}==([^\s;\\]+)", lock, re.MULTILINE)
    return match.group(1) if match else None


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_stages(path: Path) -> list[dict]:
    """The build stages in order: comments dropped, continuation lines joined."""
    logical, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker drops comment lines inside a continuation as well
        if line.endswith("\\"):
            buf += line[:-1].strip() + " "
        else:
            logical.append(buf + line)
            buf = ""
    assert not buf, f"{path}: the last instruction ends with a line continuation"
    stages: list[dict] = []
    for text in logical:
        keyword, _, args = text.partition(" ")
        if keyword.upper() == "FROM":
            words = [w for w in shlex.split(args) if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) == 1 or name, f"unparsed FROM {args!r}"
            stages.append({"image": words[0], "name": name, "instructions": []})
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1]["instructions"].append((keyword.upper(), args.strip()))
    return stages


def walk(stage: dict):
    """(instruction, arguments, WORKDIR in effect) for each instruction of a stage."""
    workdir = PurePosixPath("/")
    for keyword, args in stage["instructions"]:
        if keyword == "WORKDIR":
            workdir = workdir / args
        yield keyword, args, workdir


def copies(stage: dict, *, from_context: bool = True):
    """(--from value or "", sources, absolute destination, destination as written) of COPYs."""
    for keyword, args, workdir in walk(stage):
        if keyword != "COPY":
            continue
        words = shlex.split(args)
        flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
        words = [w for w in words if not w.startswith("--")]
        if ("from" in flags) != from_context:
            yield flags.get("from", ""), words[:-1], workdir / words[-1], words[-1]


def dockerignored(rel: str, patterns: list[str]) -> bool:
    """True if a context path, or a folder above it, matches a .dockerignore pattern.

    Patterns are anchored at the context root, as Docker reads them; `**/` matches any depth.
    Exceptions (`!pattern`) are not used in this repository and are rejected.
    """
    parts = PurePosixPath(rel).parts
    for pattern in patterns:
        assert not pattern.startswith("!"), "exception patterns are not supported by this check"
        pattern = pattern.strip("/")
        for i in range(1, len(parts) + 1):
            if pattern.startswith("**/"):
                if fnmatch.fnmatchcase(parts[i - 1], pattern[3:]):
                    return True
            elif fnmatch.fnmatchcase("/".join(parts[:i]), pattern):
                return True
    return False


def rebuild_copied_tree(stages: list[dict], patterns: list[str], fs: Path) -> Path:
    """Copy what the Dockerfile copies from the context (minus .dockerignore) to where it goes.

    Returns the folder the project is installed from (`pip install -e .`), under `fs`.
    """
    def ignore(folder, names):
        rel = Path(folder).relative_to(ROOT)
        return [n for n in names if dockerignored((rel / n).as_posix(), patterns)]

    project_dir = None
    for stage in stages:
        for keyword, args, workdir in walk(stage):
            if keyword == "RUN" and re.search(r"pip install .*(--editable|-e) \.(\s|$)", args):
                project_dir = workdir
        for _, sources, dest, raw_dest in copies(stage):
            target = fs / dest.relative_to("/")
            for src in sources:
                path = ROOT / src
                if path.is_dir():
                    shutil.copytree(path, target, dirs_exist_ok=True, ignore=ignore)
                else:
                    into = raw_dest.endswith("/") or len(sources) > 1
                    to = target / path.name if into else target
                    to.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, to)
    assert project_dir is not None, "no `pip install -e .` in the Dockerfile"
    return fs / project_dir.relative_to("/")
