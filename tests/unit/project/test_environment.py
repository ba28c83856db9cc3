"""The installed environment is consistent: what the lock installs satisfies every requirement."""

from __future__ import annotations

import subprocess
import sys


def test_pip_check_passes():
    # kubernetes/Dockerfile runs the same check while building the component image: a package
    # whose metadata pip can't parse (mlflow-skinny 1.27's `scikit-learn (>=1.0.*)`) or a broken
    # requirement fails the image build, so it fails here first.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No broken requirements found" in proc.stdout
