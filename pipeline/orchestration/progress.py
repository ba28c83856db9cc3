"""A line per component (start, end, duration, cached) while TFX's own logs stay out of sight."""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from typing import TextIO

_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_CACHED = "A cached execution %d is used."


class ComponentProgress(logging.Handler):
    """Turns the local runner's log records into progress lines; drops every other record."""

    def __init__(self, total: int, stream: TextIO):
        super().__init__(level=logging.INFO)
        self.total = total
        self.stream = stream
        self.done = 0
        self.cached: set[str] = set()
        self.durations: dict[str, float] = {}
        self._current: str | None = None
        self._started = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        """Print a line when a component starts or ends."""
        if record.msg == _RUNNING and record.args:
            self._current = str(record.args[0])
            self._started = time.monotonic()
            self.stream.write(f"[{self.done + 1:2d}/{self.total}] {self._current:<32} ...\n")
        elif record.msg == _CACHED and self._current:
            self.cached.add(self._current)
        elif record.msg == _FINISHED and record.args:
            name = str(record.args[0])
            took = time.monotonic() - self._started
            self.durations[name] = took
            self.done += 1
            how = "cached" if name in self.cached else "done"
            self.stream.write(f"[{self.done:2d}/{self.total}] {name:<32} {how} in {took:.1f} s\n")
        self.stream.flush()


@contextmanager
def component_progress(total: int, verbose: bool, stream: TextIO = sys.stderr):
    """Show progress lines; unless ``verbose``, silence every other Python log record.

    The handler sits on the ``absl`` logger, where TFX logs: Beam and tf.Transform reconfigure the
    root logger while they run, which would otherwise drop it.
    """
    handler = ComponentProgress(total, stream)
    root = logging.getLogger()
    absl_logger = logging.getLogger("absl")
    tf_logger = logging.getLogger("tensorflow")
    saved = (
        list(root.handlers),
        root.level,
        absl_logger.level,
        absl_logger.propagate,
        tf_logger.level,
    )
    absl_logger.addHandler(handler)
    # Beam executors re-parse absl flags, which re-applies --verbosity to the absl logger; set the
    # flag itself so that keeps INFO (TFX's progress records) flowing to the handler.
    from absl import logging as absl_logging

    saved_verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger.setLevel(logging.INFO)
    if not verbose:
        absl_logger.propagate = False
        for h in saved[0]:
            root.removeHandler(h)
        root.setLevel(logging.ERROR)
        tf_logger.setLevel(logging.ERROR)
    try:
        yield handler
    finally:
        absl_logger.removeHandler(handler)
        absl_logging.set_verbosity(saved_verbosity)
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        absl_logger.setLevel(saved[2])
        absl_logger.propagate = saved[3]
        tf_logger.setLevel(saved[4])
