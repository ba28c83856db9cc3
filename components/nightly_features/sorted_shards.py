"""Write serialized examples as gzip TFRecord shards whose bytes depend only on the examples.

Beam's ``WriteToTFRecord`` spreads elements over shards in whatever order a bundle delivers them,
so two runs over the same input write the same examples in different files and orders. Here each
element is ``(order_key, record)``: its shard is a hash of the key, each shard is sorted by key
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


def shard_path(directory: str, index: int, num_shards: int) -> str:
    """Return the file name of one shard."""
    return f"{directory}/{SHARD_PREFIX}-{index:05d}-of-{num_shards:05d}.gz"


class _WriteShardFn(beam.DoFn):
    def __init__(self, directory: str, num_shards: int):
        self._directory = directory
        self._num_shards = num_shards

    def process(self, element):
        index, grouped = element
        records = [record for _, record in sorted(grouped["records"])]
        final = shard_path(self._directory, index, self._num_shards)
        temporary = f"{final}.incomplete"
        with FileSystems.create(temporary, compression_type=CompressionTypes.GZIP) as f:
            for record in records:
                f.write(tfrecord_frame(record))
        if FileSystems.exists(final):
            FileSystems.delete([final])
        FileSystems.rename([temporary], [final])
        yield final, len(records)


class WriteSortedTFRecords(beam.PTransform):
    """PCollection[(order key, record)] -> gzip TFRecord shards under ``directory``.

    Yields (path, count) per shard. Keys are bytes; records with equal keys are ordered by bytes.
    """

    def __init__(self, directory: str, num_shards: int = 1):
        super().__init__()
        if num_shards < 1:
            raise ValueError(f"num_shards must be at least 1, got {num_shards}")
        self._directory = directory.rstrip("/")
        self._num_shards = num_shards

    def expand(self, records):
        """Key by shard, group (every shard, even an empty one), sort and write each shard."""
        n = self._num_shards
        keyed = records | "KeyByShard" >> beam.Map(lambda kr: (shard_of(kr[0], n), kr))
        every_shard = records.pipeline | "ShardIndexes" >> beam.Create(
            [(i, None) for i in range(n)]
        )
        return (
            {"records": keyed, "shards": every_shard}
            | "GroupShards" >> beam.CoGroupByKey()
            | "WriteShards" >> beam.ParDo(_WriteShardFn(self._directory, n))
        )
