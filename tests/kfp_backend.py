"""KFP's open-source backend compiler (release 2.0.5), built once with Go and cached, for tests.

Which release, and why: the target is KFP 2.17.0 (commit 4a3592cb), but this machine's Go module
proxy refuses that commit for all three KFP modules (403 "This module version is not available"),
and it serves the release commit of 2.0.5 (``KFP_RELEASE``/``KFP_COMMIT`` below). 2.0.5's backend
refuses what the issue cares about exactly as 2.17's does, in the same words: any pipeline schema
but 2.1.0 (``backend/src/apiserver/template/v2_template.go:165-166`` at 2.0.5, ``:230-231`` at
2.17) and resolver executors (``backend/src/v2/compiler/visitor.go:128`` at 2.0.5, ``:134`` at
2.17; ``argocompiler/dag.go:250`` at 2.0.5). Where a newer proxy serves 2.17, change the pair
(and ``KFP_COMMIT_TIME``) and the Go main's calls back to 2.17's API (``git log`` of this file has
that version).

What the tests check is what the API server does when ``cyclecast submit`` sends a run with its
pipeline spec inline (``ResourceManager.CreateRun``, ``backend/src/apiserver/resource/
resource_manager.go:477-507`` at commit c5658f09): it reads the spec (``template.New``, :480 and
:1334), turns the run into an Argo Workflow (``V2Spec.RunWorkflow``, :499-503, which checks the
run-time parameters and calls ``argocompiler.Compile``) and validates that Workflow with Argo's
own validator (:507). ``COMPILE_MAIN`` below is a small ``main`` of our own, built inside the KFP
module, that calls those functions in that order: 2.0.5's ``backend/src/v2/cmd/compiler`` calls
``argocompiler.Compile`` directly (``cmd/compiler/main.go:67-72``), skipping the API server's
parameter checks and Argo's validation. A ``--condition`` mode evaluates a trigger condition
with the driver's own CEL evaluator (``backend/src/v2/expression``).

How it is built (``kfp_compiler``): the main module at the release commit comes from the Go
module proxy with ``go mod download`` (by its pseudo-version: this proxy answers a bare commit
hash with 403 but serves the pseudo-version); its tree is copied to a build directory and
``go build -mod=readonly`` builds with exactly the dependency versions the release's ``go.sum``
pins. Unlike 2.17's, 2.0.5's ``go.mod`` does not replace the nested ``api`` and
``kubernetes_platform`` modules with local directories; it requires them at pinned versions
(``go.mod:33-34``), which the build fetches like any other dependency. The binary is cached under
``.cyclecast/tools/`` (git-ignored), keyed by the release, the commit and our ``main``'s text. Go's
own module and build caches stay at Go's defaults (``go env GOMODCACHE``/``GOCACHE``): they are
content-addressed and shared, so a fresh clone (CI runs in one) rebuilds from them in seconds
(14 s measured on 2 cores) instead of downloading and compiling everything again (409 s measured
with 107 of the release's dependencies still to download).

``$CYCLECAST_KFP_COMPILER`` may name an already built binary of the same program instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import REPO_ROOT

KFP_RELEASE = "2.0.5"
KFP_COMMIT = "c5658f09ec38e82730a8eca0a1aabf0876087eec"
# The commit's time (UTC), which with the commit names its pseudo-version: the proxy here serves
# github.com/kubeflow/pipelines@v0.0.0-20231208180049-c5658f09ec38 but answers the bare commit
# hash with 403.
KFP_COMMIT_TIME = "20231208180049"
KFP_MODULE = "github.com/kubeflow/pipelines"
KFP_VERSION = f"v0.0.0-{KFP_COMMIT_TIME}-{KFP_COMMIT[:12]}"
# The nested modules our main imports; 2.0.5's go.mod requires them at pinned versions
# (go.mod:33-34) where 2.17's replaces them with ./api and ./kubernetes_platform.
NESTED_MODULES = (f"{KFP_MODULE}/api", f"{KFP_MODULE}/kubernetes_platform")
# 2.0.5's go.mod says "go 1.13"; the release's own images build the backend with Go 1.20.4
# (backend/Dockerfile:16), so 1.20 builds these packages. Tested here with Go 1.26.8.
GO_MINIMUM = (1, 20)
TOOLS_DIR = REPO_ROOT / ".cyclecast" / "tools"
BINARY_ENV = "CYCLECAST_KFP_COMPILER"
# Where our main goes inside the KFP tree: a package of the main module, so it may import the
# API server's packages.
MAIN_PACKAGE = "backend/src/v2/cmd/cyclecast-kfp-compile"
BINARY_NAME = "kfp-compile"
INSTALL_HINT = (
    f"install Go >= {GO_MINIMUM[0]}.{GO_MINIMUM[1]} (a distribution's golang package of that "
    "version, e.g. Debian's golang once it is that new, or the go.dev release tarball) and put "
    "`go` on PATH; the KFP backend compiler is then built from the Go module proxy on first use "
    f"and cached under {TOOLS_DIR}"
)

# Our main. Every step is the API server's, cited at commit c5658f09 (KFP 2.0.5).
COMPILE_MAIN = r"""// Built by cyclecast's tests (tests/kfp_backend.py): what KFP 2.0.5's API
// server does with a run whose pipeline spec is sent inline, up to the Workflow it would create
// (backend/src/apiserver/resource/resource_manager.go:477-507 at commit c5658f09).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kubeflow/pipelines/api/v2alpha1/go/pipelinespec"
	"github.com/kubeflow/pipelines/backend/src/apiserver/model"
	"github.com/kubeflow/pipelines/backend/src/apiserver/template"
	"github.com/kubeflow/pipelines/backend/src/v2/expression"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	pipeline := flag.String("pipeline", "", "pipeline spec file (YAML or JSON), as a run sends it")
	parameters := flag.String("parameters", "{}", "the run's parameter values, a JSON object")
	pipelineRoot := flag.String("pipeline_root", "", "the run's pipeline root")
	runName := flag.String("run_name", "cyclecast", "the run's display name")
	runID := flag.String("run_id", "00000000-0000-4000-8000-000000000000", "the run's id")
	condition := flag.String("condition", "", "instead: evaluate a condition as the driver does")
	executorInput := flag.String("executor_input", "", "with --condition: ExecutorInput JSON")
	flag.Parse()
	if *condition != "" {
		evaluate(*condition, *executorInput)
		return
	}
	if *pipeline == "" {
		fail("usage", fmt.Errorf("--pipeline is required"))
	}
	// No proxy config to initialize: 2.0.5's driver template takes no proxy settings
	// (argocompiler/container.go:109-157), unlike 2.17's (container.go:210 there).
	manifest, err := os.ReadFile(*pipeline)
	if err != nil {
		fail("read", err)
	}
	// resource/resource_manager.go:480 -> :1334, the run's inline manifest
	tmpl, err := template.New(manifest)
	if err != nil {
		fail("template", err)
	}
	run := &model.Run{
		UUID:        *runID,
		DisplayName: *runName,
		PipelineSpec: model.PipelineSpec{
			PipelineSpecManifest: string(manifest),
			RuntimeConfig: model.RuntimeConfig{
				Parameters:   *parameters,
				PipelineRoot: *pipelineRoot,
			},
		},
	}
	// resource/resource_manager.go:499-503 (template/v2_template.go:262-314: the parameter
	// checks at :330-415, then argocompiler.Compile at :288)
	spec, err := tmpl.RunWorkflow(run, template.RunWorkflowOptions{RunId: *runID, RunAt: 0})
	if err != nil {
		fail("compile", err)
	}
	// resource/resource_manager.go:507 (Argo's validate.ValidateWorkflow,
	// common/util/workflow.go:711-719)
	if err := spec.Validate(false, false); err != nil {
		fail("validate", err)
	}
	if _, err := os.Stdout.WriteString(spec.ToStringForStore()); err != nil {
		fail("write", err)
	}
}

// The driver's evaluation of a task's triggerPolicy.condition against the inputs it resolved
// (driver/driver.go:242-262, expression/expression.go:130-164); prints true or false.
func evaluate(condition string, executorInputFile string) {
	text, err := os.ReadFile(executorInputFile)
	if err != nil {
		fail("read", err)
	}
	input := &pipelinespec.ExecutorInput{}
	if err := protojson.Unmarshal(text, input); err != nil {
		fail("executor input", err)
	}
	expr, err := expression.New()
	if err != nil {
		fail("expression", err)
	}
	willTrigger, err := expr.Condition(input, condition)
	if err != nil {
		fail("condition", err)
	}
	fmt.Println(willTrigger)
}

func fail(stage string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", stage, err)
	os.Exit(1)
}
"""


class KfpBuildError(RuntimeError):
    """The KFP backend compiler could not be built (no Go, an old Go, a module not served...)."""


class KfpCompileError(RuntimeError):
    """KFP's backend refused the pipeline or the run; the message is the compiler's own."""


def _log(message: str) -> None:
    print(f"kfp-compiler: {message}", file=sys.stderr, flush=True)


def cache_key() -> str:
    """The cache directory's name: the release, its commit and a digest of our ``main``."""
    digest = hashlib.sha256(COMPILE_MAIN.encode()).hexdigest()[:10]
    return f"kfp-compiler-{KFP_RELEASE}-{KFP_COMMIT[:12]}-{digest}"


def go_version(go: str) -> tuple[int, int]:
    """``go``'s (major, minor) version, from ``go env GOVERSION`` (``go1.26.8`` -> (1, 26))."""
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    match = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if out.returncode != 0 or not match:
        raise KfpBuildError(f"cannot tell the version of {go}: {out.stderr.strip() or out.stdout}")
    return int(match.group(1)), int(match.group(2))


def find_go() -> str:
    """The ``go`` on PATH, checked to be new enough for KFP's ``go.mod``; else a clear error."""
    go = shutil.which("go")
    if go is None:
        raise KfpBuildError(f"Go is not installed: {INSTALL_HINT}")
    version = go_version(go)
    if version < GO_MINIMUM:
        raise KfpBuildError(
            f"Go {version[0]}.{version[1]} at {go} is too old for KFP {KFP_RELEASE} "
            f"(its go.mod says go {GO_MINIMUM[0]}.{GO_MINIMUM[1]}): {INSTALL_HINT}"
        )
    return go


def kfp_compiler(tools_dir: Path = TOOLS_DIR) -> Path:
    """The KFP backend compiler binary: ``$CYCLECAST_KFP_COMPILER``, the cached build, or a new one.

    A build takes minutes on a cold Go cache (progress goes to stderr). Two processes starting at
    once build once: the second waits on a lock file and then finds the binary.
    Raises ``KfpBuildError`` with what to do when it cannot be built.
    """
    given = os.environ.get(BINARY_ENV)
    if given:
        if not os.access(given, os.X_OK):
            raise KfpBuildError(f"${BINARY_ENV}={given} is not an executable file")
        return Path(given)
    target = tools_dir / cache_key() / BINARY_NAME
    if target.is_file():
        return target
    go = find_go()
    tools_dir.mkdir(parents=True, exist_ok=True)
    with _locked(tools_dir / f"{cache_key()}.lock"):
        if target.is_file():  # built by another process while this one waited
            return target
        _build(go, target)
    return target


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log(f"another process is building the compiler; waiting for {path}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(go: str, target: Path) -> None:
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    # A build directory beside the cache (same file system, so the final rename is atomic),
    # removed afterwards whatever happens.
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as tmp:
        work = Path(tmp)
        _log(f"building KFP {KFP_RELEASE}'s backend compiler ({KFP_COMMIT[:12]}) with "
             f"{go}; this takes minutes on a cold Go cache")
        src = work / "src"
        _copy_writable(_download(go, work), src)
        nested = nested_requirements((src / "go.mod").read_text())
        (src / MAIN_PACKAGE).mkdir(parents=True)
        (src / MAIN_PACKAGE / "main.go").write_text(COMPILE_MAIN)
        binary = work / BINARY_NAME
        command = [go, "build", "-mod=readonly", "-trimpath", "-o", str(binary),
                   f"./{MAIN_PACKAGE}"]
        _log(f"{' '.join(command[1:])} (in the module tree, {time.monotonic() - started:.0f} s "
             "so far)")
        _run(command, cwd=src, what="go build")
        os.replace(binary, target)
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout
    (target.parent / "build.json").write_text(json.dumps({
        "release": KFP_RELEASE, "commit": KFP_COMMIT, "go": version.strip(),
        "seconds": round(time.monotonic() - started, 1),
        "versions": {KFP_MODULE: KFP_VERSION, **nested},
    }, indent=2) + "\n")
    _log(f"built {target} in {time.monotonic() - started:.0f} s")


def _download(go: str, work: Path) -> Path:
    """``go mod download`` the main module at the release commit; its extracted tree."""
    wanted = f"{KFP_MODULE}@{KFP_VERSION}"
    _log(f"go mod download {wanted}")
    # Outside any module (an empty directory): a plain download into Go's module cache.
    out = subprocess.run([go, "mod", "download", "-json", wanted],
                         cwd=work, capture_output=True, text=True, check=False)
    try:
        info = json.loads(out.stdout)
    except json.JSONDecodeError:
        info = {}
    if out.returncode != 0 or info.get("Error") or not info.get("Dir"):
        proxy = subprocess.run([go, "env", "GOPROXY"], capture_output=True, text=True).stdout
        raise KfpBuildError(
            f"cannot download {wanted} (KFP {KFP_RELEASE}, commit {KFP_COMMIT}) through the Go "
            f"module proxy (GOPROXY={proxy.strip()}):\n"
            + (info.get("Error") or out.stderr.strip() or out.stdout.strip())
            + f"\nWhere the proxy does not serve this version, set ${BINARY_ENV} to a "
            "binary this module built on a machine whose proxy does."
        )
    return Path(info["Dir"])


def nested_requirements(go_mod: str) -> dict[str, str]:
    """The versions ``go.mod`` requires of the nested KFP modules our main imports.

    2.0.5's go.mod requires them at pinned versions (go.mod:33-34), so ``go build`` fetches them
    like any dependency. A go.mod that replaces them with local directories (2.17's layout) needs
    them placed at the same commit first, which this build does not do: that is an error here.
    """
    found: dict[str, str] = {}
    for module in NESTED_MODULES:
        if re.search(rf"^\s*{re.escape(module)}\s*=>\s*\./", go_mod, re.M):
            raise KfpBuildError(f"KFP {KFP_RELEASE}'s go.mod replaces {module} with a local "
                                "directory; this build expects it required at a version")
        match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod, re.M)
        if not match:
            raise KfpBuildError(f"KFP {KFP_RELEASE}'s go.mod does not require {module}")
        found[module] = match.group(1)
    return found


def _copy_writable(source: Path, target: Path) -> None:
    # Go's module cache is read-only; the build tree must be writable (and removable).
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    for root, dirs, _ in os.walk(target):
        for name in dirs:
            os.chmod(Path(root, name), 0o755)
    os.chmod(target, 0o755)


def _run(command: list[str], cwd: Path, what: str) -> None:
    """Run ``command``, passing its lines on to stderr as progress; the tail goes in the error."""
    lines: list[str] = []
    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            _log(line.rstrip())
    if process.returncode != 0:
        raise KfpBuildError(f"{what} failed ({process.returncode}):\n{''.join(lines[-60:])}")


def compile_to_workflow(spec_json_path: str | Path, out_dir: str | Path, *,
                        parameters: Mapping[str, Any] | None = None,
                        compiler: Path | None = None) -> dict[str, Any]:
    """Compile a ``cyclecast compile`` spec file into the Argo Workflow KFP's backend would run.

    As ``cyclecast submit`` sends it: the inner ``pipelineSpec`` (or a bare PipelineSpec file),
    the pipeline root from ``runtimeConfig.gcsOutputDirectory``, and as the run's parameters
    ``runtimeConfig.parameterValues`` updated with ``parameters``. Writes ``pipeline.json`` and
    ``workflow.json`` to ``out_dir`` and returns the Workflow; raises ``KfpCompileError`` with
    the backend's message when it refuses the pipeline or the run.
    """
    doc = json.loads(Path(spec_json_path).read_text())
    spec = doc.get("pipelineSpec", doc)
    runtime = doc.get("runtimeConfig") or {}
    values = {**(runtime.get("parameterValues") or {}), **(parameters or {})}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(spec, indent=1, sort_keys=True))
    command = [str(compiler or kfp_compiler()), "--pipeline", str(out / "pipeline.json"),
               "--parameters", json.dumps(values)]
    if runtime.get("gcsOutputDirectory"):
        command += ["--pipeline_root", runtime["gcsOutputDirectory"]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise KfpCompileError(result.stderr.strip() or f"exit status {result.returncode}")
    (out / "workflow.json").write_text(result.stdout)
    return json.loads(result.stdout)


def driver_condition(condition: str, executor_input: Mapping[str, Any],
                     compiler: Path | None = None) -> bool:
    """Whether KFP's driver runs a task with trigger ``condition`` on ``executor_input``.

    ``executor_input`` is an ExecutorInput as JSON (``{"inputs": {"artifacts": {...}}}``), what
    the driver resolved from the upstream tasks' outputs. Raises ``KfpCompileError`` with the
    driver's message when the condition does not compile or evaluate.
    """
    with tempfile.TemporaryDirectory(prefix="cyclecast-condition-") as tmp:
        path = Path(tmp) / "executor_input.json"
        path.write_text(json.dumps(executor_input))
        result = subprocess.run(
            [str(compiler or kfp_compiler()), "--condition", condition,
             "--executor_input", str(path)],
            capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise KfpCompileError(result.stderr.strip() or f"exit status {result.returncode}")
    return {"true": True, "false": False}[result.stdout.strip()]


@pytest.fixture(scope="session")
def kfp_backend_compiler() -> Path:
    """The KFP backend compiler, built on first use in the session; fails the test without Go."""
    try:
        return kfp_compiler()
    except KfpBuildError as e:
        pytest.fail(str(e), pytrace=False)
