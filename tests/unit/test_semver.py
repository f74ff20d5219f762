"""Semantic versions: strict parsing, semver.org precedence, build metadata ignored, bumps always go up."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprise.errors import VersioningError
from reprise.versioning.semver import SemVer, parse_semver

_numbers = st.integers(min_value=0, max_value=10**6)
_numeric_id = _numbers.map(str)
_alnum_id = st.from_regex(r"[0-9A-Za-z-]*[A-Za-z-][0-9A-Za-z-]*", fullmatch=True).filter(lambda s: len(s) <= 12)
_pre_ids = st.lists(st.one_of(_numeric_id, _alnum_id), max_size=4).map(tuple)
_build_ids = st.lists(st.from_regex(r"[0-9A-Za-z-]{1,8}", fullmatch=True), max_size=3).map(tuple)
versions = st.builds(SemVer, _numbers, _numbers, _numbers, _pre_ids, _build_ids)


def test_the_precedence_example_of_the_specification() -> None:
    # semver.org section 11, in order.
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ]
    shuffled = ordered[:]
    random.Random(0).shuffle(shuffled)
    assert [str(v) for v in sorted(parse_semver(text) for text in shuffled)] == ordered


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("0.0.0", SemVer(0, 0, 0)),
        ("v1.2.3", SemVer(1, 2, 3)),
        ("10.20.30", SemVer(10, 20, 30)),
        ("1.0.0-0A.is.legal", SemVer(1, 0, 0, ("0A", "is", "legal"))),
        ("1.0.0-alpha-a.b-c", SemVer(1, 0, 0, ("alpha-a", "b-c"))),
        ("1.0.0+0.build.1-rc.10000aaa-kk-0.1", SemVer(1, 0, 0, (), ("0", "build", "1-rc", "10000aaa-kk-0", "1"))),
        ("2.0.0-rc.1+build.123", SemVer(2, 0, 0, ("rc", "1"), ("build", "123"))),
    ],
    ids=str,
)
def test_valid_versions_parse(text: str, parsed: SemVer) -> None:
    version = parse_semver(text)
    assert (version, version.build) == (parsed, parsed.build)
    assert str(version) == text.removeprefix("v")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "01.1.1",
        "1.01.1",
        "1.1.01",
        "1.2.3-0123",
        "1.2.3-",
        "1.2.3-alpha..1",
        "1.2.3+",
        "1.2.3+a..b",
        "1.2.3-al_pha",
        "V1.2.3",
        "vv1.2.3",
        " 1.2.3",
        "1.2.3\n",
        "1.2.٣",
        "-1.2.3",
    ],
    ids=repr,
)
def test_invalid_versions_are_one_line_errors_with_the_form(text: str) -> None:
    with pytest.raises(VersioningError) as caught:
        parse_semver(text)
    assert "\n" not in caught.value.message
    assert "MAJOR.MINOR.PATCH" in (caught.value.hint or "")


@given(versions)
def test_a_version_round_trips_through_its_text(version: SemVer) -> None:
    parsed = parse_semver(str(version))
    assert (parsed, parsed.build) == (version, version.build)


@given(versions, _build_ids)
def test_build_metadata_plays_no_part_in_equality_order_or_hash(version: SemVer, other_build: tuple[str, ...]) -> None:
    other = SemVer(version.major, version.minor, version.patch, version.prerelease, other_build)
    assert version == other
    assert hash(version) == hash(other)
    assert not version < other
    assert not other < version
    assert parse_semver(version.core) == version


@given(versions, versions, versions)
def test_precedence_is_a_total_order(a: SemVer, b: SemVer, c: SemVer) -> None:
    assert sum([a < b, a == b, b < a]) == 1
    if a <= b and b <= c:
        assert a <= c


@given(versions)
def test_a_pre_release_sorts_below_its_release(version: SemVer) -> None:
    release = SemVer(version.major, version.minor, version.patch)
    assert (version < release) == version.is_prerelease


@given(versions, st.sampled_from(["major", "minor", "patch"]))
def test_a_bump_goes_up_to_a_release(version: SemVer, part: str) -> None:
    bumped = version.bump(part)  # type: ignore[arg-type]
    assert bumped > version
    assert not bumped.is_prerelease
    assert not bumped.build


@pytest.mark.parametrize(
    ("text", "part", "expected"),
    [
        ("1.2.3", "patch", "1.2.4"),
        ("1.2.3", "minor", "1.3.0"),
        ("1.2.3", "major", "2.0.0"),
        ("1.2.3-rc.1", "patch", "1.2.3"),
        ("1.2.3-rc.1", "minor", "1.3.0"),
        ("1.3.0-rc.1", "minor", "1.3.0"),
        ("2.0.0-rc.1", "major", "2.0.0"),
        ("2.1.0-rc.1", "major", "3.0.0"),
        ("1.2.3+build.7", "patch", "1.2.4"),
    ],
)
def test_bump(text: str, part: str, expected: str) -> None:
    assert str(parse_semver(text).bump(part)) == expected  # type: ignore[arg-type]


def test_an_unknown_part_is_refused() -> None:
    with pytest.raises(VersioningError, match="cannot bump 'micro'"):
        parse_semver("1.0.0").bump("micro")  # type: ignore[arg-type]


def test_numeric_identifiers_compare_as_numbers_and_below_alphanumeric_ones() -> None:
    assert parse_semver("1.0.0-2") < parse_semver("1.0.0-10")
    assert parse_semver("1.0.0-999") < parse_semver("1.0.0-a")
    assert parse_semver("1.0.0-B") < parse_semver("1.0.0-a")  # ASCII order
    assert parse_semver("1.0.0-a") < parse_semver("1.0.0-a.0")
    assert parse_semver("1.10.0") > parse_semver("1.9.0")
