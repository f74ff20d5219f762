"""Adaptive micro-batching: concurrent requests gathered into one model call, run off the event loop.

A model's fixed cost per call dominates small requests (a 100-tree random forest: ~9-18 ms whether it answers 1
row or 100), so answering eight concurrent requests in one call is nearly eight times the throughput. Requests
queue; a dispatcher takes what is queued (up to ``max_rows`` rows) into one DataFrame and one model call in a worker
thread. Whenever a call is running, new requests queue behind it and the next call takes them all, so batches grow
with load by themselves. When the model is free, the queued requests wait for the others that recent traffic says
are coming (as many as were recently in the system at once), at most ``max_wait`` and at most half a model call;
under light load nobody waits. Without that wait, eight clients settle into two alternating calls of four: the
clients answered by one call come back while the other four are already being answered.

Each call runs on the model that was current when it started (hot reload swaps models between calls), and every
request learns which version answered it. When a call raises, each of its requests is retried alone, so one bad
record fails only its own request.

Example:
    >>> batcher = MicroBatcher(current=lambda: served, max_rows=2048, max_wait=0.005)  # doctest: +SKIP
    >>> await batcher.start()                                                          # doctest: +SKIP
    >>> answer = await batcher.predict([{"age": 41}])                                  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import NotReadyError, PredictionError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

    from reprise.serve.metrics import ServiceMetrics
    from reprise.tracking.serving import Predictions, ServableModel, ServedVersion

__all__ = ["Answer", "MicroBatcher", "Served"]

_LOG = logging.getLogger("reprise.serve")
#: How much of the concurrency estimate survives a wait that ended before that many requests came: it follows a
#: rise at once and a fall within a few batches.
_DECAY: Final = 0.7
#: Weight of the newest call in the running mean of model-call durations.
_SMOOTHING: Final = 0.2
#: A request never waits longer for company than this share of a model call: a second call would cost more.
_WAIT_SHARE: Final = 0.5


@dataclass(frozen=True)
class Served:
    """A loaded model and the registry version it is: swapped as one reference on hot reload.

    Attributes:
        version: The registry version and its provenance.
        model: The loaded model.
        loaded_at: When it was loaded (UTC).
        release: The release it came from (``release:NAME@VERSION``), if a release ships it.
    """

    version: ServedVersion
    model: ServableModel
    loaded_at: datetime
    release: str | None = None


@dataclass(frozen=True)
class Answer:
    """Predictions for one request's rows, and the model that made them."""

    predictions: Predictions
    served: Served


class _BatchFailedError(Exception):
    """A call of several requests failed; each is retried alone."""


@dataclass
class _Request:
    rows: Sequence[Mapping[str, Any]]
    future: asyncio.Future[Answer]


class MicroBatcher:
    """Run prediction requests on the current model, gathering concurrent ones into single model calls.

    Args:
        current: Returns the model to use now (None while none is loaded).
        metrics: Where model calls are counted, if anywhere.
        batching: False: one model call per request (still off the event loop).
        max_rows: Most rows in one model call.
        max_wait: Longest (seconds) queued requests wait for the others traffic says are coming.
        threads: Worker threads for model calls.
    """

    def __init__(
        self,
        current: Callable[[], Served | None],
        *,
        metrics: ServiceMetrics | None = None,
        batching: bool = True,
        max_rows: int = 2048,
        max_wait: float = 0.005,
        threads: int = 1,
    ) -> None:
        self._current = current
        self._metrics = metrics
        self.batching = batching
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._threads = threads
        self._queue: collections.deque[_Request] = collections.deque()
        self._queued_rows = 0
        self._arrived: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        #: How many requests are usually in the system at once (queued or in a call): how many to wait for.
        self._expected = 1.0
        self._in_calls = 0
        #: Running mean of a model call's duration (s): the wait for company stays below half of it.
        self._call_seconds = 0.0

    async def start(self) -> None:
        """Start the worker threads and the dispatcher (call from the event loop that will serve)."""
        self._executor = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="reprise-model")
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(self._threads)
        if self.batching:
            self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="reprise-batcher")

    async def stop(self) -> None:
        """Stop dispatching, fail what is still queued (503), and let running model calls finish."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        while self._queue:
            request = self._queue.popleft()
            if not request.future.done():
                request.future.set_exception(NotReadyError("the service is stopping"))
        self._queued_rows = 0
        if self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def predict(self, rows: Sequence[Mapping[str, Any]]) -> Answer:
        """Predict ``rows`` (validated dicts keyed by feature name) on the current model.

        Raises:
            NotReadyError: No model is loaded yet, or the service is stopping.
            PredictionError: The model raised on these rows (logged with the error id).
        """
        if self._executor is None:
            raise NotReadyError("the service is not started")
        if not self.batching:
            served = self._served()
            async with self._slot():
                predictions = await self._call(served, rows)
            return Answer(predictions, served)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(rows, future))
        self._queued_rows += len(rows)
        self._expected = max(self._expected, float(len(self._queue) + self._in_calls))
        assert self._arrived is not None
        self._arrived.set()
        return await future

    def _served(self) -> Served:
        served = self._current()
        if served is None:
            raise NotReadyError("no model is loaded yet")
        return served

    @contextlib.asynccontextmanager
    async def _slot(self) -> Any:
        assert self._slots is not None
        async with self._slots:
            yield

    async def _call(self, served: Served, rows: Sequence[Mapping[str, Any]], *, alone: bool = True) -> Predictions:
        """One model call in a worker thread; a failure is logged with an error id and raised as PredictionError.

        A failed call of several requests (``alone=False``) is only noted: its requests are retried one by one.
        """
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            predictions = await loop.run_in_executor(self._executor, served.model.predict_rows, rows)
        except Exception as exc:
            if not alone:
                _LOG.warning("a model call of %d rows failed (%r); retrying its requests one by one", len(rows), exc)
                self._observe(len(rows), time.perf_counter() - start, served, failed=True)
                raise _BatchFailedError from exc
            error_id = uuid.uuid4().hex[:16]
            version = served.version
            _LOG.error(
                "model error %s: %s v%s on %d row(s): %r",
                error_id,
                version.name,
                version.version,
                len(rows),
                exc,
                exc_info=exc,
            )
            self._observe(len(rows), time.perf_counter() - start, served, failed=True)
            raise PredictionError(error_id, served) from exc
        self._observe(len(rows), time.perf_counter() - start, served)
        return predictions

    def _observe(self, rows: int, seconds: float, served: Served, *, failed: bool = False) -> None:
        self._call_seconds += _SMOOTHING * (seconds - self._call_seconds)
        if self._metrics is not None:
            self._metrics.observe_model_call(rows, seconds, served.version.version, failed=failed)

    async def _dispatch_forever(self) -> None:
        assert self._arrived is not None and self._slots is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            # The model is free once the slot is ours: only then is waiting for company worth anything (while a
            # call runs, new requests queue anyway), and the requests queued meanwhile count towards it.
            await self._slots.acquire()
            await self._gather(loop)
            if not self._queue:  # only stop() empties the queue; never call the model with nothing
                self._slots.release()
                continue
            batch = self._take()
            self._in_calls += len(batch)
            task = asyncio.create_task(self._run_batch(batch))
            self._calls.add(task)
            task.add_done_callback(functools.partial(self._finished, len(batch)))

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """With the model free, wait for the requests recent traffic says are coming.

        The wait ends when as many requests are queued as were recently in the system at once, or after
        ``max_wait``, or after half a model call (waiting longer would cost more than a second call).
        """
        assert self._arrived is not None
        if self._max_wait <= 0:
            return
        wait = self._max_wait if self._call_seconds <= 0 else min(self._max_wait, _WAIT_SHARE * self._call_seconds)
        deadline = loop.time() + wait
        while len(self._queue) < round(self._expected) and self._queued_rows < self._max_rows:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        else:
            return
        # They did not all come: expect fewer next time.
        self._expected = max(1.0, self._expected * _DECAY)

    def _take(self) -> list[_Request]:
        batch = [self._queue.popleft()]
        rows = len(batch[0].rows)
        while self._queue and rows + len(self._queue[0].rows) <= self._max_rows:
            request = self._queue.popleft()
            batch.append(request)
            rows += len(request.rows)
        self._queued_rows -= rows
        return batch

    def _finished(self, requests: int, task: asyncio.Task[None]) -> None:
        self._calls.discard(task)
        self._in_calls -= requests
        assert self._slots is not None
        self._slots.release()

    async def _run_batch(self, batch: list[_Request]) -> None:
        live = [request for request in batch if not request.future.done()]
        if not live:
            return
        try:
            served = self._served()
        except NotReadyError as exc:
            for request in live:
                request.future.set_exception(NotReadyError(str(exc)))
            return
        if len(live) == 1:
            await self._run_alone(live[0], served)
            return
        try:
            predictions = await self._call(served, [row for request in live for row in request.rows], alone=False)
        except _BatchFailedError:
            # Retried one request at a time, on the same model: only the bad request(s) fail.
            for request in live:
                await self._run_alone(request, served)
            return
        start = 0
        for request in live:
            end = start + len(request.rows)
            if not request.future.done():
                request.future.set_result(Answer(_slice(predictions, start, end), served))
            start = end

    async def _run_alone(self, request: _Request, served: Served) -> None:
        try:
            predictions = await self._call(served, request.rows)
        except PredictionError as exc:
            if not request.future.done():
                request.future.set_exception(exc)
            return
        if not request.future.done():
            request.future.set_result(Answer(predictions, served))


def _slice(predictions: Predictions, start: int, end: int) -> Predictions:
    from reprise.tracking.serving import Predictions

    probabilities = predictions.probabilities
    return Predictions(
        values=predictions.values[start:end],
        probabilities=None if probabilities is None else probabilities[start:end],
    )
