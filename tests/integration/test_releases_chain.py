"""The release history's hash chain under concurrent writers, on SQLite and on the real PostgreSQL: every append gets
its own position, none is lost, and the chain verifies; a relinked event is caught."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import update

from reprise.store.db import open_store, writing
from reprise.store.release_events import ReleaseEventRow, chain_problems, list_release_events
from reprise.store.releases import record_release_event
from reprise.store.tables import release_events

WRITERS = 4
EACH = 15


def _event(name: str, writer: int, index: int) -> ReleaseEventRow:
    return ReleaseEventRow(
        event_id=uuid.uuid4().hex,
        name=name,
        version=f"1.{writer}.{index}",
        kind="verified",
        environment=None,
        from_version=None,
        to_version=None,
        actor=f"writer-{writer}@test",
        at=datetime.now(UTC),
        reason="",
        forced=False,
        details={"writer": writer, "index": index},
    )


def test_concurrent_appends_each_take_a_position_and_the_chain_verifies(store_url: str) -> None:
    engine = open_store(store_url)

    def write(writer: int) -> None:
        for index in range(EACH):
            record_release_event(engine, _event("busy", writer, index))

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))
    events = list_release_events(engine, "busy")
    assert [event.position for event in events] == list(range(1, WRITERS * EACH + 1))
    assert {(event.details["writer"], event.details["index"]) for event in events} == {
        (writer, index) for writer in range(WRITERS) for index in range(EACH)
    }
    assert chain_problems(engine, "busy") == []

    middle = events[len(events) // 2]
    with writing(engine) as conn:  # point an event at another predecessor: its content and hash still agree
        conn.execute(
            update(release_events).where(release_events.c.event_id == middle.event_id).values(prev_hash=events[0].hash)
        )
    problems = chain_problems(engine, "busy")
    assert any(f"event {middle.position} of busy does not follow" in problem for problem in problems), problems
