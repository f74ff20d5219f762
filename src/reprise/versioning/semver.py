"""Semantic versions (semver.org 2.0.0): strict parsing, precedence and bumps, for pipeline versions and releases.

Parsing is strict: three numeric parts without leading zeros, then optional pre-release identifiers (``-rc.1``) and
build metadata (``+build.5``). A leading ``v`` (``v1.2.0``) is accepted, as tags are often written, and dropped.
Precedence follows section 11 of the specification: numeric parts compare numerically; a pre-release sorts below its
release; pre-release identifiers compare one by one, numeric ones numerically and below alphanumeric ones, which
compare in ASCII order; a shorter list of equal identifiers sorts first. Build metadata plays no part in precedence
or equality: ``1.0.0+a == 1.0.0+b`` (it is kept and printed, and two versions that differ only in it are the same
version).

Example:
    >>> parse_semver("v1.2.0-rc.1") < parse_semver("1.2.0")
    True
    >>> str(parse_semver("1.2.3").bump("minor"))
    '1.3.0'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Final, Literal

from reprise.errors import VersioningError

__all__ = ["Part", "SemVer", "parse_semver"]

#: Which number a bump raises.
Part = Literal["major", "minor", "patch"]

_NUMBER: Final = r"0|[1-9][0-9]*"
_PRE_ID: Final = rf"(?:{_NUMBER}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID: Final = r"[0-9A-Za-z-]+"
# The regular expression of semver.org, with the optional ``v``.
_SEMVER: Final = re.compile(
    rf"v?(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?"
)


@functools.total_ordering
@dataclass(frozen=True)
class SemVer:
    """A semantic version; ordered by semver precedence, equal and hashed without its build metadata.

    Attributes:
        major: Incompatible changes.
        minor: Compatible additions.
        patch: Compatible fixes.
        prerelease: Pre-release identifiers (``("rc", "1")`` for ``-rc.1``); empty for a release.
        build: Build metadata identifiers (``("build", "5")`` for ``+build.5``); ignored by comparisons.
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() < other._key()

    @property
    def core(self) -> str:
        """The version without build metadata (``1.2.0-rc.1``): what tells versions apart."""
        return str(SemVer(self.major, self.minor, self.patch, self.prerelease))

    @property
    def is_prerelease(self) -> bool:
        """True for ``1.0.0-rc.1``, False for ``1.0.0``."""
        return bool(self.prerelease)

    def bump(self, part: Part) -> SemVer:
        """The next version that raises ``part``; always above this one, always a release.

        A pre-release bumps to its own release when that raises ``part`` already (as npm does):
        ``1.3.0-rc.1`` bumped ``minor`` is ``1.3.0``, ``1.2.3-rc.1`` bumped ``minor`` is ``1.3.0``.

        Args:
            part: ``major``, ``minor`` or ``patch``.

        Returns:
            The bumped version, without pre-release or build metadata.

        Raises:
            VersioningError: ``part`` is not one of the three.
        """
        pre = self.is_prerelease
        if part == "major":
            keep = pre and self.minor == 0 and self.patch == 0
            return SemVer(self.major if keep else self.major + 1, 0, 0)
        if part == "minor":
            keep = pre and self.patch == 0
            return SemVer(self.major, self.minor if keep else self.minor + 1, 0)
        if part == "patch":
            return SemVer(self.major, self.minor, self.patch if pre else self.patch + 1)
        raise VersioningError(f"cannot bump {part!r} of a version", hint="bump one of: major, minor, patch")

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release (no identifiers) sorts above every pre-release of the same numbers.
        identifiers = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, identifiers)


def parse_semver(text: str) -> SemVer:
    """Parse a semantic version strictly (semver.org 2.0.0; a leading ``v`` is accepted).

    Args:
        text: ``1.2.0``, ``v1.2.0``, ``1.0.0-rc.1+build.5``...

    Returns:
        The version.

    Raises:
        VersioningError: ``text`` is not a semantic version (the message names it and the form expected).

    Example:
        >>> parse_semver("1.0.0-alpha.1").prerelease
        ('alpha', '1')
    """
    match = _SEMVER.fullmatch(text)
    if match is None:
        raise VersioningError(
            f"{text!r} is not a semantic version",
            hint="write MAJOR.MINOR.PATCH with optional -PRERELEASE and +BUILD, e.g. 1.2.0 or 2.0.0-rc.1 (semver.org)",
        )
    pre, build = match["pre"], match["build"]
    return SemVer(
        major=int(match["major"]),
        minor=int(match["minor"]),
        patch=int(match["patch"]),
        prerelease=tuple(pre.split(".")) if pre else (),
        build=tuple(build.split(".")) if build else (),
    )
