"""``cyclecast serve``: the answer service an app backend calls, one upload in, one answer out.

``POST /v1/users/{user}/nights/{YYYY-MM-DD}`` takes the night's raw upload (the gzipped CSV bytes,
as the phone uploads them) as its body, builds the request with the online path
(``pipeline.serving.online``: the feature job's own functions, the user's history from the span
store) and asks the model, in this process or through TF Serving (``predict.py``'s clients):

- 200 ``{"probability", "fertile", "model_version", "night"}`` (``answer.answer_body``, the dict
  ``cyclecast predict --upload --json`` prints);
- 400 ``{"reason", "detail"}`` for a bad user id (``bad_user_id``) or night (``bad_night``) in the
  path: the request names no user-night;
- 413 (``upload_too_large``) for a body over ``MAX_UPLOAD_BYTES``, refused before it is read whole;
- 422 for an upload that names a user-night but can't be scored, ``reason`` being the
  quarantine's (``corrupt_file``, ``truncated_file``, ``wrong_night``, ``feature_out_of_range``...)
  or the batch path's (``too_little_history``, ``no_cycle_logged``): the HTTP request was fine, its
  content is what the pipeline would have refused;
- 503 when no model is loaded yet (``model_unavailable``), TF Serving can't be reached, the span
  store's night is damaged (``store_damaged``, naming the backfill that repairs it), or the online
  store is not configured or does not answer (``no_online_store``); 502 when the
  model refuses the request or TF Serving can't be reached (``model_refused``, its words).

``GET /healthz`` answers while the process runs; ``GET /readyz`` only while a model version is
loaded (or TF Serving reports one), the span store is there and the online store answers.

Reload: a background task asks the model every ``poll_seconds`` which version is in service (the
serving directory's highest complete version, TF Serving's rule in ``components.serving_layout``,
or TF Serving's model status) and loads a new one beside the old before swapping the reference,
so an answer comes whole from one version, named in ``model_version``. TensorFlow and the request
builder block: they run in a thread pool of ``answer_threads``, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from typing import Protocol

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pipeline.serving.answer import answer_body, refusal_body
from pipeline.serving.online import BadUpload, UploadRefusal
from pipeline.serving.predict import Prediction, ServingError

# The default data's uploads (one night, a row per 10 seconds, gzipped) are at most 39,216 bytes
# (README.md, "The answer service"). 1 MiB leaves room for any honest upload and bounds what a
# caller can make the service decompress and parse.
MAX_UPLOAD_BYTES = 1 << 20
POLL_SECONDS = 5.0

ANSWER_PATH = "/v1/users/{user}/nights/{night}"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"

log = logging.getLogger(__name__)


class Refusal:
    """Machine reasons of refusals that are the service's own (the upload's are ``BadUpload``'s)."""

    TOO_LARGE = "upload_too_large"
    MODEL_UNAVAILABLE = "model_unavailable"
    MODEL_REFUSED = "model_refused"
    STORE_DAMAGED = "store_damaged"


class ModelUnavailable(RuntimeError):
    """No model version is loaded (or reachable) yet; the message says why."""


class RequestSource(Protocol):
    """What builds a night's request from an upload (``online.UploadSource``)."""

    def request(self, upload: bytes, user_id: str, night: dt.date):
        """The ``NightRequest`` for the upload (``BadUpload`` on refusal)."""

    def problem(self) -> str | None:
        """Why no request can be built now, or None."""


class Model(Protocol):
    """The model the service asks: in this process or behind TF Serving."""

    def refresh(self) -> str | None:
        """Take up the version in service if it changed; return the version now answering."""

    def predict(self, serialized: list[bytes]) -> list[Prediction]:
        """Answers to serialized requests, each naming its version (``ModelUnavailable``)."""

    def problem(self) -> str | None:
        """Why the model can't answer now, or None."""


class InProcessModel:
    """The newest pushed SavedModel under a TF Serving base path, loaded in this process.

    ``refresh`` loads a new version while the old one answers, then swaps one reference: a
    request in flight finishes on the version it started with. ``load``, ``latest`` and
    ``predict`` default to ``predict.py``'s and ``serving_layout``'s functions.
    """

    def __init__(
        self,
        model_base: str,
        load: Callable | None = None,
        latest: Callable[[str], str | None] | None = None,
        predict: Callable | None = None,
    ):
        from pipeline.serving import predict as p

        if latest is None:
            from components.serving_layout import latest_served_version as latest
        self.model_base = model_base
        self._load = load or p.load_model
        self._latest = latest
        self._predict = predict or p.predict_loaded
        self._current = None  # a predict.LoadedModel, replaced whole
        self._refreshing = threading.Lock()
        self._problem: str | None = f"no model loaded yet from {model_base}"

    @property
    def version(self) -> str | None:
        """The version answering now (None before the first load)."""
        current = self._current
        return current.version if current is not None else None

    def refresh(self) -> str | None:
        """Load the base path's version in service when it is not the one answering."""
        with self._refreshing:
            newest = self._latest(self.model_base)
            if newest is None:
                if self._current is None:
                    self._problem = f"no servable version under {self.model_base}"
                return self.version
            if newest != self.version:
                loaded = self._load(os.path.join(self.model_base, newest))
                self._current = loaded  # the swap: one reference
                log.info("answering with model version %s", loaded.version)
            self._problem = None
            return self.version

    def predict(self, serialized: list[bytes]) -> list[Prediction]:
        """``serving_default`` of the version loaded now."""
        current = self._current
        if current is None:
            raise ModelUnavailable(self._problem or "no model loaded")
        return self._predict(current, serialized)

    def problem(self) -> str | None:
        """Why no version answers, or None."""
        return None if self._current is not None else self._problem


class ServedModel:
    """TF Serving's model, over REST (``--rest URL``) or gRPC (``--grpc HOST:PORT``).

    gRPC answers name the version that gave them; REST answers don't, so they carry the version
    TF Serving's status reported at the last refresh (at most ``poll_seconds`` old during a swap).
    """

    def __init__(self, rest: str | None, grpc: str | None, model_name: str, timeout: float):
        if (rest is None) == (grpc is None):
            raise ValueError("give exactly one of rest and grpc")
        self.rest, self.grpc, self.model_name, self.timeout = rest, grpc, model_name, timeout
        self.version: str | None = None
        self._problem: str | None = "TF Serving not asked yet"

    def refresh(self) -> str | None:
        """Ask TF Serving which version it serves (a failure makes the service unready)."""
        from pipeline.serving import predict as p

        try:
            if self.rest:
                self.version = p.rest_model_version(self.rest, self.model_name, self.timeout)
            else:
                self.version = p.grpc_model_version(self.grpc, self.model_name, self.timeout)
            self._problem = None
        except ServingError as e:
            self._problem = str(e)
        return self.version

    def predict(self, serialized: list[bytes]) -> list[Prediction]:
        """TF Serving's answers (``ServingError`` naming a refusal or an unreachable server)."""
        from pipeline.serving import predict as p

        if self.rest:
            answers = p.predict_rest(self.rest, self.model_name, serialized, self.timeout)
        else:
            answers = p.predict_grpc(self.grpc, self.model_name, serialized, self.timeout)
        for answer in answers:
            answer.model_version = answer.model_version or self.version
        return answers

    def problem(self) -> str | None:
        """Why TF Serving can't answer (as of the last refresh), or None."""
        return self._problem


def answer_upload(source: RequestSource, model: Model, upload: bytes, user: str,
                  night: dt.date) -> dict:
    """One upload to the answer's dict (blocking: the request builder and the model)."""
    request = source.request(upload, user, night)
    (prediction,) = model.predict([request.serialized])
    return answer_body(prediction.probability, prediction.fertile, prediction.model_version,
                       request.night)


def _refuse(status: int, reason: str, detail: str) -> JSONResponse:
    return JSONResponse(refusal_body(reason, detail), status_code=status)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(
    source: RequestSource,
    model: Model,
    poll_seconds: float | None = POLL_SECONDS,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    answer_threads: int | None = None,
) -> FastAPI:
    """The answer service's ASGI app (nothing starts until a server runs it).

    On start-up the model is refreshed once (a failure leaves the service unready, not dead),
    then every ``poll_seconds`` (None: never again; tests call ``model.refresh`` themselves).
    At most ``answer_threads`` answers (default: the machine's cores) are computed at once; the
    others wait their turn. In a container ``os.cpu_count`` counts the node's cores, not the
    pod's CPU limit, so a deployment passes its limit (``BENCHMARKS.md`` compares pool sizes).
    """
    from components.spans.dates import parse_night
    from components.spans.store import StoredFileError
    from transforms.raw_format import USER_ID_PATTERN

    async def refresh() -> None:
        try:
            await run_in_threadpool(model.refresh)
        except Exception:  # a half-copied or broken push must not stop the poller
            log.exception("model refresh failed; the version answering stays")

    async def poll() -> None:
        while True:
            await asyncio.sleep(poll_seconds)
            await refresh()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        await refresh()
        poller = asyncio.create_task(poll()) if poll_seconds else None
        yield
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    app = FastAPI(title="cyclecast answers", lifespan=lifespan)
    answering = anyio.CapacityLimiter(answer_threads or os.cpu_count() or 1)

    @app.get(HEALTH_PATH)
    async def healthz() -> dict:
        return {"status": "alive"}

    @app.get(READY_PATH)
    async def readyz():
        problems = [p for p in (model.problem(), source.problem()) if p]
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return {"status": "ready", "model_version": getattr(model, "version", None)}

    @app.post(ANSWER_PATH)
    async def answer(user: str, night: str, request: Request):
        if not USER_ID_PATTERN.match(user):
            return _refuse(400, UploadRefusal.BAD_USER_ID,
                           f"bad user id {user!r}: letters, digits, '_' and '-', 1 to 64")
        try:
            date = parse_night(night)
        except ValueError as e:
            return _refuse(400, UploadRefusal.BAD_NIGHT, str(e))
        upload = await _read_limited(request, max_upload_bytes)
        if upload is None:
            return _refuse(413, Refusal.TOO_LARGE,
                           f"the upload is larger than {max_upload_bytes} bytes")
        try:
            return await anyio.to_thread.run_sync(
                answer_upload, source, model, upload, user, date, limiter=answering
            )
        except BadUpload as e:  # the upload's fault, unless the store behind it is gone
            status = 503 if e.reason == UploadRefusal.NO_ONLINE_STORE else 422
            return _refuse(status, e.reason, str(e))
        except ModelUnavailable as e:
            return _refuse(503, Refusal.MODEL_UNAVAILABLE, str(e))
        except StoredFileError as e:
            return _refuse(503, Refusal.STORE_DAMAGED, str(e))
        except ServingError as e:
            return _refuse(502, Refusal.MODEL_REFUSED, str(e))

    return app
