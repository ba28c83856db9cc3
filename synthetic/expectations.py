"""The verdict the raw-format rules give on what the generator writes (the manifest's ground truth).

The rules are ``transforms.raw_format``'s own code, the same the feature extraction runs: this
applies them to the quantised rows the generator writes (the table the extraction parses back,
since every written row is parseable) and to the compressed bytes, so the manifest states exactly
what the extraction finds. The rows' verdicts are ``raw_format.row_reject_codes`` of the written
table (the generator only writes parseable rows, so ``unparseable`` never occurs).
"""

from __future__ import annotations

import gzip
import io

import numpy as np

from transforms import raw_format
from transforms.raw_format import ACCEPTED, RowReject, UnreadableFile

# file_reject_reason when the two gzip readers disagree (the generator never writes such a file).
AMBIGUOUS = "ambiguous"


def count_row_rejects(codes: np.ndarray) -> dict[str, int]:
    """Return ``{reason: count}`` of the rejected rows (reasons with a zero count left out)."""
    counts = np.bincount(codes[codes != ACCEPTED], minlength=len(RowReject.ALL))
    return {reason: int(c) for reason, c in zip(RowReject.ALL, counts, strict=True) if c}


def night_invalid_reason(
    table: np.ndarray, codes: np.ndarray, rules: raw_format.NightRules | None = None
) -> str | None:
    """Return the ``NightInvalid`` reason for a readable night's accepted rows, or ``None``."""
    accepted = table[codes == ACCEPTED]
    columns = {name: accepted[:, j] for name, j in raw_format.COLUMN_INDEX.items()}
    outside = int((codes == RowReject.ALL.index(RowReject.OUTSIDE_NIGHT)).sum())
    return raw_format.assess_night(
        columns, rules or raw_format.NightRules(), rows_total=len(codes), rows_outside=outside
    ).invalid_reason


def file_reject_reason(data: bytes) -> str | None:
    """Return the ``FileReject`` reason ``raw_format.decode_raw`` gives ``data``, or ``None``.

    Both ``gzip.decompress`` and streaming ``gzip.GzipFile`` reads are tried, and a file only gets
    a reason when both readers give it.
    """
    reasons = set()
    for reader in (gzip.decompress, _stream_read):
        try:
            raw_format.decode_raw(data, reader)
        except UnreadableFile as e:
            reasons.add(e.reason)
        else:
            reasons.add(None)
    if len(reasons) != 1:
        return AMBIGUOUS
    return reasons.pop()


def _stream_read(data: bytes) -> bytes:
    """Decompress ``data`` with a streaming ``gzip.GzipFile`` read."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        return stream.read()
