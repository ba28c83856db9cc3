"""Reading and writing the components' small files on any file system Beam reads.

The span store's index entries, a night's gzip JSON lines (statistics, ledger, predictions) and
the published summaries are read and written here, through Beam's ``FileSystems`` (local,
``gs://``, ``s3://``, HDFS) without TensorFlow. Beam is imported only when a function runs, so
importing this module stays cheap (the command line reads published predictions through it).
"""

from __future__ import annotations

import gzip
import hashlib
import json

CHUNK = 1 << 20  # bytes read at a time when hashing or copying


def read_bytes(path: str) -> bytes | None:
    """The file's bytes as stored (a ``.gz`` file is not decompressed), or None when absent."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def read_gzip_lines(path: str) -> list[str]:
    """The lines of a gzip text file the job wrote (a night's statistics, ledger...)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return gzip_lines(f.read())


def gzip_lines(data: bytes) -> list[str]:
    """The lines of a gzip text file's bytes."""
    return gzip.decompress(data).decode().splitlines()


def sha256_of(path: str) -> str | None:
    """The sha256 (hex) of a file's bytes, read in chunks; None when there is no file."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        return None
    digest = hashlib.sha256()
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_with_digest(source: str, destination: str) -> str | None:
    """Copy a file (to a temporary name, then renamed) and return the sha256 of what it copied.

    One read of the source serves the copy and its digest. None, and nothing written, when there
    is no source file.
    """
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(source):
        return None
    digest = hashlib.sha256()
    temporary = f"{destination}.incomplete"
    raw = CompressionTypes.UNCOMPRESSED
    with (
        FileSystems.open(source, compression_type=raw) as f,
        FileSystems.create(temporary, compression_type=raw) as out,
    ):
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if FileSystems.exists(destination):
        FileSystems.delete([destination])
    FileSystems.rename([temporary], [destination])
    return digest.hexdigest()


def read_jsonl(pattern: str) -> list[dict]:
    """Read every gzip JSON-lines file matching ``pattern``, in name order."""
    from apache_beam.io.filesystems import FileSystems

    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    return [json.loads(line) for path in paths for line in read_gzip_lines(path)]


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name, so readers see all of it or none.

    The rename replaces an earlier file in one step (POSIX rename; an object store's copy), so
    a crash at any point leaves the old file or the new one, never none. Only on a file system
    whose rename refuses an existing destination (HDFS) is the old one deleted first.
    """
    from apache_beam.io.filesystem import BeamIOError
    from apache_beam.io.filesystems import FileSystems

    temporary = f"{path}.incomplete"
    with FileSystems.create(temporary) as f:
        f.write(data)
    try:
        FileSystems.rename([temporary], [path])
    except BeamIOError:
        if not FileSystems.exists(path):
            raise
        FileSystems.delete([path])
        FileSystems.rename([temporary], [path])
