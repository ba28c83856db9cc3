"""Refresh the golden compiled pipeline spec: ``./dev golden`` (review the diff, then commit)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from pipeline.orchestration.kubeflow import compile_pipeline, load_kubeflow_config, stable_spec

GOLDEN = Path(__file__).with_name("kfp_pipeline.json")


def main() -> int:
    """Compile the default Kubeflow config and write its stable fields to the golden file."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = compile_pipeline(load_kubeflow_config(), Path(tmp) / "cyclecast.json")
        stable = stable_spec(json.loads(spec.read_text()))
    GOLDEN.write_text(json.dumps(stable, indent=2, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
