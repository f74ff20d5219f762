"""Micro-batching and hot reload, with stand-in models: no MLflow, no HTTP, no subprocess."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from reprise.errors import NotFoundError, NotReadyError, PredictionError
from reprise.registry.refs import ModelRef
from reprise.serve.batching import MicroBatcher, Served
from reprise.serve.loader import ModelSlot, Prepared
from reprise.serve.metrics import ServiceMetrics
from reprise.tracking.serving import ColumnSpec, ModelSpec, Predictions, ServedVersion

SPEC = ModelSpec(inputs=(ColumnSpec("x", "double"),), output_type="double", signature={}, flavors=())


class Doubler:
    """Answers 2x (+ offset); raises on a negative x; records the rows of every call."""

    def __init__(self, offset: float = 0.0, delay: float = 0.0, spec: ModelSpec = SPEC) -> None:
        self.offset = offset
        self.delay = delay
        self.spec = spec
        self.classes = None
        self.model_class = "Doubler"
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def predict_rows(self, rows: list[dict[str, Any]]) -> Predictions:
        with self.lock:
            self.calls.append(len(rows))
        time.sleep(self.delay)
        if any(row["x"] < 0 for row in rows):
            raise ValueError("negative x")
        return Predictions(
            values=[2 * row["x"] + self.offset for row in rows],
            probabilities=[{"x": float(row["x"])} for row in rows],
        )


def _version(number: int) -> ServedVersion:
    return ServedVersion(name="m", version=number, alias="champion", run_id=f"run{number}", source="s")


def _served(model: Doubler, number: int = 1) -> Served:
    return Served(version=_version(number), model=model, loaded_at=datetime.now(UTC))  # type: ignore[arg-type]


async def _with_batcher(current: Any, body: Any, **kwargs: Any) -> Any:
    batcher = MicroBatcher(current, **kwargs)
    await batcher.start()
    try:
        return await body(batcher)
    finally:
        await batcher.stop()


def test_concurrent_requests_share_model_calls_and_get_their_own_rows_back() -> None:
    model = Doubler(delay=0.02)
    served = _served(model)

    async def body(batcher: MicroBatcher) -> list[Any]:
        return await asyncio.gather(*(batcher.predict([{"x": float(i)}]) for i in range(16)))

    answers = asyncio.run(_with_batcher(lambda: served, body))
    assert [answer.predictions.values for answer in answers] == [[2.0 * i] for i in range(16)]
    assert [answer.predictions.probabilities for answer in answers] == [[{"x": float(i)}] for i in range(16)]
    assert sum(model.calls) == 16
    assert len(model.calls) <= 2, model.calls


def test_batched_answers_equal_one_call_per_request() -> None:
    rows = [[{"x": float(i)}, {"x": float(i) / 3}] for i in range(10)]

    async def body(batcher: MicroBatcher) -> list[Any]:
        return await asyncio.gather(*(batcher.predict(chunk) for chunk in rows))

    batched = asyncio.run(_with_batcher(lambda: _served(Doubler(delay=0.01)), body))
    alone = asyncio.run(_with_batcher(lambda: _served(Doubler()), body, batching=False))
    assert [a.predictions for a in batched] == [b.predictions for b in alone]


def test_a_failing_record_fails_only_its_own_request(caplog: pytest.LogCaptureFixture) -> None:
    model = Doubler(delay=0.01)
    served = _served(model)

    async def body(batcher: MicroBatcher) -> list[Any]:
        xs = [1.0, 2.0, -1.0, 3.0, 4.0]
        return await asyncio.gather(*(batcher.predict([{"x": x}]) for x in xs), return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="reprise.serve"):
        answers = asyncio.run(_with_batcher(lambda: served, body))
    failed = answers[2]
    assert isinstance(failed, PredictionError)
    assert failed.served is served
    assert [a.predictions.values for i, a in enumerate(answers) if i != 2] == [[2.0], [4.0], [6.0], [8.0]]
    assert failed.error_id in caplog.text
    assert "negative x" in caplog.text


def test_a_call_finishes_on_the_model_it_started_with_and_later_calls_use_the_new_one() -> None:
    old, new = Doubler(delay=0.1), Doubler(offset=100.0)
    holder = {"served": _served(old, 1)}

    async def body(batcher: MicroBatcher) -> tuple[Any, Any]:
        first = asyncio.create_task(batcher.predict([{"x": 1.0}]))
        await asyncio.sleep(0.03)  # the first call is running on v1
        holder["served"] = _served(new, 2)
        second = await batcher.predict([{"x": 1.0}])
        return await first, second

    first, second = asyncio.run(_with_batcher(lambda: holder["served"], body))
    assert (first.served.version.version, first.predictions.values) == (1, [2.0])
    assert (second.served.version.version, second.predictions.values) == (2, [102.0])


def test_under_light_load_nobody_waits_for_company() -> None:
    served = _served(Doubler())

    async def body(batcher: MicroBatcher) -> float:
        start = time.perf_counter()
        for i in range(20):
            await batcher.predict([{"x": float(i)}])
        return time.perf_counter() - start

    # A 5 s budget to wait for others: twenty one-at-a-time requests must not spend it even once (a loaded machine
    # makes twenty model calls slower, but not 5 s slower).
    elapsed = asyncio.run(_with_batcher(lambda: served, body, max_wait=5.0))
    assert elapsed < 5.0, elapsed


def test_a_call_never_exceeds_max_rows() -> None:
    model = Doubler(delay=0.01)
    served = _served(model)

    async def body(batcher: MicroBatcher) -> list[Any]:
        return await asyncio.gather(*(batcher.predict([{"x": 1.0}] * 3) for _ in range(4)))

    asyncio.run(_with_batcher(lambda: served, body, max_rows=7))
    assert sum(model.calls) == 12
    assert max(model.calls) <= 7


def test_without_batching_each_request_is_its_own_call() -> None:
    model = Doubler(delay=0.005)
    served = _served(model)

    async def body(batcher: MicroBatcher) -> list[Any]:
        return await asyncio.gather(*(batcher.predict([{"x": 1.0}]) for _ in range(5)))

    asyncio.run(_with_batcher(lambda: served, body, batching=False))
    assert model.calls == [1, 1, 1, 1, 1]


@pytest.mark.parametrize("batching", [True, False], ids=["batching", "direct"])
def test_no_model_yet_is_not_ready(batching: bool) -> None:
    async def body(batcher: MicroBatcher) -> None:
        with pytest.raises(NotReadyError):
            await batcher.predict([{"x": 1.0}])

    asyncio.run(_with_batcher(lambda: None, body, batching=batching))


def test_model_calls_are_counted_in_the_metrics() -> None:
    metrics = ServiceMetrics()
    served = _served(Doubler())

    async def body(batcher: MicroBatcher) -> None:
        await batcher.predict([{"x": 1.0}, {"x": 2.0}])
        with pytest.raises(PredictionError):
            await batcher.predict([{"x": -1.0}])

    asyncio.run(_with_batcher(lambda: served, body, metrics=metrics))
    text = metrics.render()
    assert 'reprise_predictions_total{version="1"} 2' in text
    assert "reprise_model_call_errors_total 1" in text
    assert "reprise_model_batch_rows_count 2" in text


# ---- the model slot: loads, swaps and refuses, with injected registry functions ----------------------------------


class Registry:
    """Where the alias points, and what each version loads as (an exception: it fails to load)."""

    def __init__(self, models: dict[int, Doubler | Exception], target: int = 1) -> None:
        self.models = models
        self.target: int | Exception = target
        self.loads: list[int] = []

    def locate(self, settings: Any, name: str, alias: str | None) -> int:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target

    def describe(self, settings: Any, name: str, number: int, *, alias: str | None = None) -> ServedVersion:
        return _version(number)

    def load(self, settings: Any, version: ServedVersion) -> Doubler:
        self.loads.append(version.version)
        model = self.models[version.version]
        if isinstance(model, Exception):
            raise model
        return model


def _slot(registry: Registry, interval: float = 1.0) -> ModelSlot:
    prepared = Prepared(ref=ModelRef(name="m", alias="champion"), version=_version(1), spec=SPEC)
    return ModelSlot(
        None,  # type: ignore[arg-type]  # the injected functions ignore it
        prepared,
        reload_interval=interval,
        metrics=ServiceMetrics(),
        load=registry.load,  # type: ignore[arg-type]
        locate=registry.locate,
        describe=registry.describe,
    )


async def _started(slot: ModelSlot) -> None:
    slot.start()
    for _ in range(200):
        if slot.status().state != "loading":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the slot never finished loading")


def test_the_slot_loads_in_the_background_then_swaps_when_the_alias_moves() -> None:
    v1, v2 = Doubler(), Doubler(offset=1.0)
    registry = Registry({1: v1, 2: v2})
    slot = _slot(registry)

    async def body() -> list[Any]:
        assert slot.status().state == "loading"
        await _started(slot)
        seen = [slot.current.model if slot.current else None, await slot.check()]
        registry.target = 2
        seen += [await slot.check(), slot.current.model if slot.current else None]
        await slot.stop()
        return seen

    assert asyncio.run(body()) == [v1, False, True, v2]
    assert slot.status().state == "ready"
    assert registry.loads == [1, 2]


def test_a_version_that_fails_to_load_leaves_the_old_one_serving_and_is_retried_later() -> None:
    v1 = Doubler()
    registry = Registry({1: v1, 2: RuntimeError("corrupt model file")})
    slot = _slot(registry, interval=60.0)

    async def body() -> None:
        await _started(slot)
        registry.target = 2
        assert not await slot.check()
        assert not await slot.check()  # backing off: not tried again at once
        await slot.stop()

    asyncio.run(body())
    status = slot.status()
    assert status.state == "degraded"
    assert status.served is not None and status.served.model is v1
    assert status.error_version == 2
    assert status.error is not None and "corrupt model file" in status.error
    assert registry.loads == [1, 2]


def test_a_version_with_other_inputs_is_refused() -> None:
    other = ModelSpec(inputs=(ColumnSpec("y", "double"),), output_type="double", signature={}, flavors=())
    registry = Registry({1: Doubler(), 2: Doubler(spec=other)})
    slot = _slot(registry)

    async def body() -> bool:
        await _started(slot)
        registry.target = 2
        swapped = await slot.check()
        await slot.stop()
        return swapped

    assert not asyncio.run(body())
    status = slot.status()
    assert status.served is not None and status.served.version.version == 1
    assert status.error is not None and "different inputs" in status.error


def test_a_registry_outage_is_reported_and_clears_when_it_answers_again() -> None:
    registry = Registry({1: Doubler()})
    slot = _slot(registry)

    async def body() -> tuple[str, str]:
        await _started(slot)
        registry.target = NotFoundError("no registered model 'm'")
        await slot.check()
        during = slot.status().state
        registry.target = 1
        await slot.check()
        await slot.stop()
        return during, slot.status().state

    assert asyncio.run(body()) == ("degraded", "ready")


def test_a_startup_version_that_fails_to_load_leaves_the_slot_failed() -> None:
    slot = _slot(Registry({1: RuntimeError("boom")}), interval=0)

    async def body() -> None:
        await _started(slot)
        await slot.stop()

    asyncio.run(body())
    status = slot.status()
    assert (status.state, status.served, status.error_version) == ("failed", None, 1)


def test_a_failed_version_is_forgotten_when_the_alias_moves_back() -> None:
    registry = Registry({1: Doubler(), 2: RuntimeError("corrupt")})
    slot = _slot(registry)

    async def body() -> tuple[str, str]:
        await _started(slot)
        registry.target = 2
        await slot.check()
        failed = slot.status().state
        registry.target = 1
        await slot.check()
        await slot.stop()
        return failed, slot.status().state

    assert asyncio.run(body()) == ("degraded", "ready")
