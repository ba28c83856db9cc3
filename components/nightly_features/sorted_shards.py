"""Write serialized examples as gzip TFRecord shards whose bytes depend only on the examples.

Beam's ``WriteToTFRecord`` spreads elements over shards in whatever order a bundle delivers them,
so two runs over the same input write the same examples in different files and orders. Here each
element is ``(night, order_key, record)``: each night gets its own shards (so the span store can
point at one night's files), a record's shard is a hash of its key, each shard is sorted by key
(then record), and every shard file is written even when empty. Re-running a night gives
byte-identical files, and a retried bundle rewrites the same file with the same bytes. Each shard
is written to a temporary name and renamed when complete.

The caller chooses the key so that the order carries no secret: the feature job keys an example
by its content without the salted user pseudonym, so the training order (and so the trained
model) is the same whatever salt a deployment uses.
"""

from __future__ import annotations

import struct
import zlib

import apache_beam as beam
import crcmod.predefined
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

SHARD_PREFIX = "data_tfrecord"
_crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")


def _masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data``."""
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_frame(record: bytes) -> bytes:
    """Return one record in TFRecord framing (length, its CRC, the bytes, their CRC)."""
    length = struct.pack("<Q", len(record))
    return (
        length
        + struct.pack("<I", _masked_crc(length))
        + record
        + struct.pack("<I", _masked_crc(record))
    )


def shard_of(key: bytes, num_shards: int) -> int:
    """Return the shard a record goes to: a stable hash of its order key."""
    return zlib.crc32(key) % num_shards


def shard_path(directory: str, night: str, index: int, num_shards: int) -> str:
    """Return the file name of one night's shard: the night leads, so a night's files glob."""
    return f"{directory}/{night}-{SHARD_PREFIX}-{index:05d}-of-{num_shards:05d}.gz"


def write_gzip_file(path: str, chunks: list[bytes]) -> None:
    """Write gzip ``chunks`` to a temporary name and rename it to ``path`` once complete."""
    temporary = f"{path}.incomplete"
    with FileSystems.create(temporary, compression_type=CompressionTypes.GZIP) as f:
        for chunk in chunks:
            f.write(chunk)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])


class _WriteShardFn(beam.DoFn):
    def __init__(self, directory: str, num_shards: int):
        self._directory = directory
        self._num_shards = num_shards

    def process(self, element):
        (night, index), grouped = element
        records = [record for _, record in sorted(grouped["records"])]
        final = shard_path(self._directory, night, index, self._num_shards)
        write_gzip_file(final, [tfrecord_frame(r) for r in records])
        yield final, len(records)


class WriteSortedTFRecords(beam.PTransform):
    """PCollection[(night, order key, record)] -> gzip TFRecord shards per night in ``directory``.

    ``nights`` (a PCollection of night strings) names every night that gets files, so a night
    with no records still gets its (empty) shards. Yields (path, count) per shard. Keys are
    bytes; records with equal keys are ordered by bytes.
    """

    def __init__(self, directory: str, nights, num_shards: int = 1):
        super().__init__()
        if num_shards < 1:
            raise ValueError(f"num_shards must be at least 1, got {num_shards}")
        self._directory = directory.rstrip("/")
        self._nights = nights
        self._num_shards = num_shards

    def expand(self, records):
        """Key by night and shard, group (every shard, even an empty one), sort, write each."""
        n = self._num_shards
        keyed = records | "KeyByShard" >> beam.Map(
            lambda nkr: ((nkr[0], shard_of(nkr[1], n)), (nkr[1], nkr[2]))
        )
        every_shard = self._nights | "ShardIndexes" >> beam.FlatMap(
            lambda night: [((night, i), None) for i in range(n)]
        )
        return (
            {"records": keyed, "shards": every_shard}
            | "GroupShards" >> beam.CoGroupByKey()
            | "WriteShards" >> beam.ParDo(_WriteShardFn(self._directory, n))
        )
