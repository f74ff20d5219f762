"""Model references (``name@alias``, ``name/3``, ``name``), version references, and history's pure helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from reprise.errors import ConfigError, RegistryError
from reprise.registry._mlflow import filter_literal
from reprise.registry.history import Actor, make_event, now_utc, parse_time
from reprise.registry.refs import ModelRef, parse_model_ref, parse_version_ref, version_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("obesity_classifier@champion", ModelRef("obesity_classifier", alias="champion")),
        ("obesity_classifier/3", ModelRef("obesity_classifier", version=3)),
        ("obesity_classifier", ModelRef("obesity_classifier")),
        ("models:/iris@production", ModelRef("iris", alias="production")),
        ("models:/iris/12", ModelRef("iris", version=12)),
        ("iris/latest", ModelRef("iris")),
        ("iris/Production", ModelRef("iris", alias="production")),
        ("iris/Staging", ModelRef("iris", alias="staging")),
        ("my-model.v2@challenger", ModelRef("my-model.v2", alias="challenger")),
    ],
    ids=str,
)
def test_parse_model_ref(text: str, expected: ModelRef) -> None:
    assert parse_model_ref(text) == expected


@pytest.mark.parametrize(
    "text", ["", "@champion", "iris@", "iris/", "iris/3/4", "iris/abc", "a:b", "iris@not an alias"]
)
def test_a_malformed_model_ref_is_a_registry_error_with_the_syntax(text: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_model_ref(text)
    assert "NAME@ALIAS" in (info.value.hint or "")


def test_a_ref_prints_as_it_is_written() -> None:
    assert [str(parse_model_ref(text)) for text in ("m@a", "m/2", "m")] == ["m@a", "m/2", "m"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", 3), ("v3", 3), ("V12", 12), (7, 7), ("@champion", "champion"), ("staging", "staging")],
)
def test_parse_version_ref(text: str | int, expected: int | str) -> None:
    assert parse_version_ref(text) == expected


def test_version_ref_reads_numbers_latest_and_aliases() -> None:
    assert version_ref("m", "v2") == ModelRef("m", version=2)
    assert version_ref("m", "latest") == ModelRef("m")
    assert version_ref("m", "@champion") == ModelRef("m", alias="champion")


@pytest.mark.parametrize("text", ["0", 0, -1, "no way", "@"])
def test_a_bad_version_ref_is_a_registry_error(text: str | int) -> None:
    with pytest.raises(RegistryError):
        parse_version_ref(text)


def test_parse_time_takes_naive_times_as_utc_and_converts_zones() -> None:
    assert parse_time("2026-11-01T12:00") == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert parse_time("2026-11-01T13:00+01:00") == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert parse_time("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="not an ISO time"):
        parse_time("yesterday")


def test_now_utc_uses_the_injected_clock() -> None:
    fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert now_utc(lambda: fixed) == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert now_utc().tzinfo is UTC


def test_the_current_actor_has_a_user_and_a_host() -> None:
    actor = Actor.current()
    assert actor.user
    assert actor.host
    assert str(actor) == f"{actor.user}@{actor.host}"


def test_events_describe_alias_moves_for_people() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    alice = Actor("alice", "build-01")
    move = make_event("alias_set", "m", actor=alice, at=at, alias="production", from_version=2, to_version=3)
    assert move.describe() == "production: v2 → v3"
    assert move.actor == "alice@build-01"
    first = make_event("alias_set", "m", actor=alice, at=at, alias="staging", to_version=1, details={"forced": True})
    assert first.describe() == "staging: nobody → v1 (forced past failed gates)"
    assert make_event("archived", "m", actor=alice, at=at, version=4).describe() == "v4 archived"


@pytest.mark.parametrize(
    ("value", "literal"),
    [("iris", "'iris'"), ("it's", '"it\'s"'), ('say "hi"', "'say \"hi\"'"), ('it\'s "x"', None), ("a\\b", None)],
    ids=["plain", "single-quote", "double-quote", "both", "backslash"],
)
def test_filter_literals_use_a_quoting_mlflow_parses_or_none(value: str, literal: str | None) -> None:
    assert filter_literal(value) == literal
