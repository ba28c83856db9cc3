"""KFP's open-source backend compiler (release 2.17.0), built once with Go and cached, for tests.

What the tests check is what Kubeflow Pipelines' API server does when ``cyclecast submit`` sends a
run: it reads the pipeline spec (``template.New``), turns the run into an Argo Workflow
(``V2Spec.RunWorkflow``, which validates the run-time parameters and calls
``argocompiler.Compile``) and validates that Workflow with Argo's own validator
(``backend/src/apiserver/resource/resource_manager.go:1942, 669, 673`` at commit 4a3592cb).

Why not the release's ``backend/src/v2/cmd/compiler``: at this commit it panics on any container
task ("Attempt to use a non-initialized proxy config"): it never initializes the proxy settings
(``cmd/compiler/main.go:68-75`` calls ``argocompiler.Compile`` directly), which the driver template
reads (``backend/src/v2/compiler/argocompiler/container.go:210``); only the API server initializes
them (``backend/src/apiserver/main.go:653``). So a small ``main`` of our own (``COMPILE_MAIN``
below) is built inside the KFP module and calls the API server's own functions, in its order.

How it is built (``kfp_compiler``): the three modules at the release commit come from the Go
module proxy with ``go mod download`` (the main module, and the nested ``api`` and
``kubernetes_platform`` modules that the main ``go.mod`` replaces with ``./api`` and
``./kubernetes_platform``); the main module's tree is copied to a build directory, the nested
ones placed where the ``replace`` lines point, and ``go build -mod=readonly`` builds with exactly
the dependency versions the release's ``go.sum`` pins. The binary is cached under
``.cyclecast/tools/`` (git-ignored), keyed by the commit and by our ``main``'s text. Go's own
module and build caches stay at Go's defaults (``go env GOMODCACHE``/``GOCACHE``): they are
content-addressed and shared, so a fresh clone (CI runs in one) rebuilds from them in under a
minute (13-44 s measured on 2 cores) instead of downloading and compiling everything again
(about 10 minutes with empty Go caches).

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

KFP_RELEASE = "2.17.0"
KFP_COMMIT = "4a3592cb2dd0a91a4652ab93893ec8beda1f3158"
KFP_MODULE = "github.com/kubeflow/pipelines"
# The nested modules the main go.mod replaces with local directories (go.mod:266-268).
NESTED_MODULES = {"api": f"{KFP_MODULE}/api",
                  "kubernetes_platform": f"{KFP_MODULE}/kubernetes_platform"}
# go.mod:3 says "go 1.26"; an older Go refuses the module (or, with GOTOOLCHAIN=auto, fetches
# a newer toolchain first).
GO_MINIMUM = (1, 26)
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

# Our main. Every step is the API server's, cited at commit 4a3592cb.
COMPILE_MAIN = r"""// Built by cyclecast's tests (tests/kfp_backend.py): what KFP's API server
// does with a run whose pipeline spec is sent inline, up to the Workflow it would create.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kubeflow/pipelines/api/v2alpha1/go/pipelinespec"
	"github.com/kubeflow/pipelines/backend/src/apiserver/config/proxy"
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
	// apiserver/main.go:653; without it the driver template panics (argocompiler/container.go:210)
	proxy.InitializeConfigWithEnv()
	manifest, err := os.ReadFile(*pipeline)
	if err != nil {
		fail("read", err)
	}
	// resource/resource_manager.go:1942 (the API server's default template options)
	tmpl, err := template.New(manifest, template.TemplateOptions{})
	if err != nil {
		fail("template", err)
	}
	run := &model.Run{
		DisplayName: *runName,
		PipelineSpec: model.PipelineSpec{
			PipelineSpecManifest: model.LargeText(manifest),
			RuntimeConfig: model.RuntimeConfig{
				Parameters:   model.LargeText(*parameters),
				PipelineRoot: model.LargeText(*pipelineRoot),
			},
		},
	}
	// resource/resource_manager.go:665-673
	spec, err := tmpl.RunWorkflow(run, template.RunWorkflowOptions{RunID: *runID, RunAt: 0})
	if err != nil {
		fail("compile", err)
	}
	if err := spec.Validate(false, false); err != nil {
		fail("validate", err)
	}
	if _, err := os.Stdout.WriteString(spec.ToStringForStore()); err != nil {
		fail("write", err)
	}
}

// The driver's evaluation of a task's triggerPolicy.condition against the inputs it resolved
// (driver/container.go:75-94, expression/expression.go:134-165); prints true or false.
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
        modules = _download(go, work)
        src = work / "src"
        _copy_writable(modules[KFP_MODULE], src)
        _check_replaces(src / "go.mod")
        for directory, module in NESTED_MODULES.items():
            if (src / directory).exists():
                raise KfpBuildError(f"{KFP_MODULE}'s module tree already has {directory}/")
            _copy_writable(modules[module], src / directory)
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
        "versions": {m: d.name.split("@", 1)[-1] for m, d in modules.items()},
    }, indent=2) + "\n")
    _log(f"built {target} in {time.monotonic() - started:.0f} s")


def _download(go: str, work: Path) -> dict[str, Path]:
    """``go mod download`` the three modules at the release commit; their extracted trees."""
    wanted = [KFP_MODULE, *NESTED_MODULES.values()]
    _log("go mod download " + " ".join(f"{m}@{KFP_COMMIT[:12]}" for m in wanted))
    # Outside any module (an empty directory): a plain download into Go's module cache.
    out = subprocess.run([go, "mod", "download", "-json", *(f"{m}@{KFP_COMMIT}" for m in wanted)],
                         cwd=work, capture_output=True, text=True, check=False)
    found: dict[str, Path] = {}
    errors: list[str] = []
    decoder = json.JSONDecoder()
    text, pos = out.stdout, 0
    while pos < len(text.rstrip()):
        while text[pos].isspace():
            pos += 1
        info, pos = decoder.raw_decode(text, pos)
        if info.get("Error"):
            errors.append(info["Error"])
        elif info.get("Dir"):
            found[info["Path"]] = Path(info["Dir"])
    missing = [m for m in wanted if m not in found]
    if missing or out.returncode != 0:
        proxy = subprocess.run([go, "env", "GOPROXY"], capture_output=True, text=True).stdout
        raise KfpBuildError(
            f"cannot download {', '.join(missing) or 'the KFP modules'} at {KFP_COMMIT} (KFP "
            f"{KFP_RELEASE}) through the Go module proxy (GOPROXY={proxy.strip()}):\n"
            + "\n".join(errors or [out.stderr.strip()])
            + f"\nWhere the proxy does not serve these versions, set ${BINARY_ENV} to a "
            "binary this module built on a machine whose proxy does."
        )
    return found


def _check_replaces(go_mod: Path) -> None:
    text = go_mod.read_text()
    for directory, module in NESTED_MODULES.items():
        if not re.search(rf"^\s*{re.escape(module)}\s*=>\s*\./{directory}\s*$", text, re.M):
            raise KfpBuildError(f"{go_mod} no longer replaces {module} with ./{directory}")


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
