"""Debian packages the tests need (Chromium, MariaDB), installed on first use where possible.

Installing needs root and apt-get (the CI container, a fresh Debian 12). Elsewhere a test that
needs a missing service fails with what to install; it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def can_install() -> bool:
    """Whether Debian packages can be installed here: root, with apt-get."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_install(*packages: str) -> None:
    """``apt-get install`` the packages (after an update), quietly; fail the test if it fails."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"installing {' '.join(packages)} failed ({' '.join(command)}):\n"
                        f"{done.stderr[-2000:]}", pytrace=False)


def ensure_chromium() -> str:
    """The ``chromium`` executable; Debian's package is installed when missing and possible."""
    if not shutil.which("chromium") and can_install():
        apt_install("chromium")
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is missing and can't be installed here (needs root and apt-get): "
                    "install Debian's 'chromium' package for the report's browser tests",
                    pytrace=False)
    return exe
