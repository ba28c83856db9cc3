"""The data a local run starts from: the default dataset, the nights that landed, the feature job.

The command line reaches the feature job and the generator through here, so the rules (where the
default data lives, what counts as a landed night) have one home outside the command line.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from pipeline.config import LocalConfig
from transforms.raw_format import CYCLES_FILE, RAW_SUFFIX, night_dir, night_files


class NightNotLanded(ValueError):
    """``--night`` names a night with no raw recordings under the data root."""


def ensure_default_data(config: LocalConfig, progress: bool = True) -> bool:
    """Generate the default synthetic dataset under ``config.data_root`` unless it is there.

    Returns True when it generated the data. The dataset is fixed by ``DefaultData`` (users,
    cycles, seed), so every clone generates the same bytes.
    """
    if (config.data_root / CYCLES_FILE).exists():
        return False
    from synthetic.generate import generate_dataset

    d = config.data
    print(
        f"generating the default dataset ({d.users} users x {d.cycles} cycles, seed {d.seed}) "
        f"in {config.data_root}",
        file=sys.stderr,
    )
    generate_dataset(
        config.data_root,
        users=d.users,
        cycles=d.cycles,
        seed=d.seed,
        overwrite=True,
        progress=progress,
    )
    return True


def check_night_landed(data_root: str | Path, night: str | None) -> None:
    """Raise ``NightNotLanded`` when ``night`` (YYYY-MM-DD) has no raw files; None passes."""
    if night is None:
        return
    folder = Path(data_root) / night_dir(night)
    if not any(Path(data_root).glob(night_files(night))):
        raise NightNotLanded(
            f"no raw recordings for night {night}: {folder} has no *{RAW_SUFFIX} files"
        )


def extract_features(
    input_root: str, out: str, salt_file: str | None, beam_args: list[str], config: LocalConfig
) -> dict:
    """Run the nightly-feature Beam job standalone on ``input_root``; return its summary.

    The salt comes from ``salt_file``, the environment, or the local work directory's salt
    (created once). Raises ``InputError`` or ``SaltError`` with a message a person can act on.
    """
    from components.nightly_features.job import run_feature_job
    from components.nightly_features.salt import load_salt

    salt = load_salt(salt_file, create_local=config.salt_file)
    return run_feature_job(input_root, out, salt, beam_args)


def backfill_nights(
    config: LocalConfig,
    data_root: str | None,
    first: str,
    last: str,
    salt_file: str | None,
    beam_args: list[str],
    progress=lambda _: None,
) -> dict:
    """Re-ingest nights ``first``..``last`` of a data root into the local run's span store.

    The default data root is generated on first use, as ``run`` does. The span store and the
    feature code's fingerprint are the ones a local run of the pipeline uses, so later nightly
    runs read what this writes.
    """
    from components.nightly_features.job import run_backfill
    from components.nightly_features.salt import load_salt
    from components.spans.dates import parse_night
    from pipeline.code_version import code_fingerprints

    if parse_night(first) > parse_night(last):
        raise ValueError(f"--from {first} is after --to {last}")
    if data_root is None:
        ensure_default_data(config)
    cfg = config.pipeline_config(Path(data_root) if data_root else None)
    salt = load_salt(salt_file, create_local=config.salt_file)
    return run_backfill(
        cfg.data_root,
        cfg.span_store,
        first,
        last,
        salt,
        beam_args,
        code_fingerprints()["NightlyFeatureGen"],
        progress=progress,
        online_store=cfg.online_store or None,
    )


def run_salt_file(config: LocalConfig) -> str | None:
    """The salt file a local run hands its executors (None: they read the environment's salt)."""
    from components.nightly_features.salt import local_salt_file

    return local_salt_file(config.salt_file)


def input_errors() -> tuple[type[Exception], ...]:
    """The exceptions ``extract_features`` raises for bad input or configuration."""
    from components.nightly_features.job import InputError
    from components.nightly_features.salt import SaltError

    return InputError, SaltError


# Nights are named for their evening in the user's time zone; the furthest ahead of UTC is +14 h.
AHEAD_OF_UTC = 14


def latest_possible_night(now: dt.datetime | None = None) -> dt.date:
    """The latest night any upload can exist for: today's date where the day has begun first.

    ``now``: an aware ``datetime`` (default: the current time).
    """
    now = now or dt.datetime.now(dt.UTC)
    return (now.astimezone(dt.UTC) + dt.timedelta(hours=AHEAD_OF_UTC)).date()


def check_backfill_range(first: str, last: str, now: dt.datetime | None = None) -> None:
    """Refuse (``ValueError``) a backfill range that isn't two dates or ends in the future.

    The future: after ``latest_possible_night``. A night whose evening has not begun anywhere
    has no uploads yet: ingesting it would commit an empty index entry that the nightly run
    would then take as the night, already done.
    """
    from components.spans.dates import parse_night

    parse_night(first)
    latest = latest_possible_night(now)
    if parse_night(last) > latest:
        raise ValueError(
            f"--to {last} is in the future: no night after {latest} can have uploads yet "
            "(a backfill of it would record it as an empty night); backfill up to "
            f"{latest} at most"
        )


def backfill_errors() -> tuple[type[Exception], type[Exception]]:
    """The errors ``backfill_nights`` refuses with: (another writer, a damaged stored file).

    ``StoreBusy``: another run or backfill holds the span store's writer lock;
    ``StoredFileError``: a history night's stored file is missing or damaged.
    """
    from components.spans.store import StoredFileError
    from components.spans.writer_lock import StoreBusy

    return StoreBusy, StoredFileError
