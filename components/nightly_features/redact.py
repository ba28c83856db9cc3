"""How the quarantine names a raw file without its raw user id or a local path.

A raw file's name is a user id (``<user_id>.csv.gz``), or something near one (a re-sent copy,
``<user_id> (1).csv.gz``), and its absolute path holds the data root's local folders: neither may
be written out (README, "Privacy"). ``file_reference`` names a file by its night folder and a
salted pseudonym of the rest, which a person holding the salt matches against the folder's
listing; ``scrub`` replaces every raw form of a file's path and id in a message by those
references.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from components.nightly_features.records import name_user_id
from components.nightly_features.user_history import pseudonymise
from transforms import raw_format as rf


def file_reference(rel_path: str, salt: bytes) -> str:
    """``nights/<date>/file-<pseudonym of the name>``; a folder that is no date is pseudonymised."""
    folder, _, name = rel_path.replace("\\", "/").rpartition("/")
    night = rf.night_in_path(rel_path)
    shown = rf.night_dir(night.isoformat()) if night else f"folder-{pseudonymise(folder, salt)}"
    return f"{shown}/file-{pseudonymise(name, salt)}"


def owner_key(rel_path: str, salt: bytes) -> str | None:
    """The pseudonym of the user a file's name stands for (``records.name_user_id``), or None."""
    user_id = name_user_id(rel_path)
    return pseudonymise(user_id, salt) if user_id else None


def file_replacements(path: str, rel_path: str, salt: bytes) -> dict[str, str]:
    """Each raw form of one file's identity mapped to what ``scrub`` writes in its place.

    The absolute and relative paths and the name become the file's reference, the user id its
    name stands for becomes ``user-<pseudonym>``.
    """
    reference = file_reference(rel_path, salt)
    name = rel_path.replace("\\", "/").rsplit("/", 1)[-1]
    out = {path: reference, rel_path: reference, name: reference.rsplit("/", 1)[-1]}
    user_id = name_user_id(rel_path)
    if user_id:
        out[user_id] = f"user-{pseudonymise(user_id, salt)}"
    return out


def scrub(text: str | None, replacements: Mapping[str, str]) -> str | None:
    """``text`` with every key of ``replacements`` replaced by its value, in one pass.

    A key is replaced where it stands alone (not inside a longer word: user id ``u1`` is not
    replaced in ``u10``); the longest key wins where keys overlap (a path before the name in
    it), and what a replacement writes is never searched again.
    """
    keys = sorted((r for r in replacements if r), key=len, reverse=True)
    if text is None or not keys:
        return text
    alternatives = "|".join(re.escape(k) for k in keys)
    pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")
    return pattern.sub(lambda m: replacements[m.group(0)], text)
