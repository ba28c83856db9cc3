"""The user-id salt: a secret read at run time from a file or the environment, never from code."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SALT_ENV = "CYCLECAST_ID_SALT"
SALT_FILE_ENV = "CYCLECAST_ID_SALT_FILE"


class SaltError(RuntimeError):
    """The user-id salt is not configured correctly."""


def load_salt(salt_file: str | Path | None = None, create_local: Path | None = None) -> bytes:
    """Return the salt that pseudonymises user ids.

    Looked up in order: the ``--salt-file`` given, ``$CYCLECAST_ID_SALT``,
    ``$CYCLECAST_ID_SALT_FILE`` (e.g. a mounted Kubernetes secret), and finally ``create_local``:
    a file created once with a random salt, so repeated local runs give the same pseudonyms.
    The salt never lives in code or in the repository.
    """
    path = salt_file or os.environ.get(SALT_FILE_ENV)
    if path is None and os.environ.get(SALT_ENV):
        return os.environ[SALT_ENV].encode()
    if path is None and create_local is not None:
        path = create_local
        if not Path(path).exists():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(secrets.token_hex(32) + "\n")
            os.chmod(path, 0o600)
    if path is None:
        raise SaltError(
            f"no user-id salt: pass --salt-file, or set ${SALT_ENV} or ${SALT_FILE_ENV}"
        )
    try:
        salt = Path(path).read_text().strip().encode()
    except OSError as e:
        raise SaltError(f"cannot read the salt file {path}: {e}") from e
    if len(salt) < 16:
        raise SaltError(f"the salt in {path} is shorter than 16 characters")
    return salt


def local_salt_file(local: Path) -> str | None:
    """The salt file a local run passes to its executors.

    None when the environment provides the salt (the executors read it there); otherwise
    ``local``, created once with a random salt.
    """
    if os.environ.get(SALT_ENV) or os.environ.get(SALT_FILE_ENV):
        return None
    load_salt(None, create_local=local)
    return str(Path(local).resolve())
