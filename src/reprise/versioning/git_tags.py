"""Git tags in the format git-tag model registries use, so CI that reads those tags keeps working.

A release ``churn@1.2.0`` is tagged ``churn@v1.2.0`` (an annotated tag on the release's commit); its N-th promotion
to an environment is tagged ``churn#production#N`` on the same commit. That is the format of GTO, the git-tag model
registry (``NAME@vX.Y.Z`` registers a version, ``NAME#STAGE#N`` assigns a stage, the highest N being the current
assignment). The tags are written only when asked for (``--git-tag``); the store stays the truth, the tags a mirror.
:func:`parse_tag` reads such a tag back.

Example:
    >>> parse_tag("churn#production#3")
    GitTag(name='churn', version=None, environment='production', number=3)
    >>> parse_tag("churn@v1.2.0").version
    '1.2.0'
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, NamedTuple

from reprise.errors import VersioningError

if TYPE_CHECKING:
    from reprise.config import Settings
    from reprise.versioning.releases import Release

__all__ = ["GitTag", "parse_tag", "tag_promotion", "tag_release"]

_VERSION_TAG: Final = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)@v(?P<version>\S+)$")
_STAGE_TAG: Final = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)#(?P<environment>[^#\s]+)#(?P<number>[0-9]+)$")


class GitTag(NamedTuple):
    """A registry tag read back: a version (``version``) or the ``number``-th assignment to ``environment``."""

    name: str
    version: str | None
    environment: str | None
    number: int | None


def parse_tag(text: str) -> GitTag | None:
    """Read ``NAME@vX.Y.Z`` or ``NAME#ENV#N``; None for any other tag."""
    if (match := _VERSION_TAG.match(text)) is not None:
        return GitTag(match["name"], match["version"], None, None)
    if (match := _STAGE_TAG.match(text)) is not None:
        return GitTag(match["name"], None, match["environment"], int(match["number"]))
    return None


def tag_release(settings: Settings, release: Release) -> str:
    """Tag the release's commit ``NAME@vVERSION`` (annotated); the tag's name.

    Raises:
        VersioningError: The release has no commit, or the tag exists already (on another commit).
        GitError: git refused.
    """
    tag = f"{release.name}@v{release.version}"
    _tag(settings, tag, _commit(release), f"Registering {release.name} version v{release.version} ({release.ref})")
    return tag


def tag_promotion(settings: Settings, release: Release, environment: str) -> str:
    """Tag the release's commit ``NAME#ENVIRONMENT#N``, N one more than the environment's highest tag; the name.

    Raises:
        VersioningError: The release has no commit.
        GitError: git refused.
    """
    from reprise._git import run_git

    listed = run_git(settings.project_dir, ["tag", "--list", f"{release.name}#{environment}#*"]).stdout.decode()
    numbers = [found.number for line in listed.split() if (found := parse_tag(line)) and found.number is not None]
    tag = f"{release.name}#{environment}#{max(numbers, default=0) + 1}"
    _tag(settings, tag, _commit(release), f"Promoting {release.name} v{release.version} to {environment}")
    return tag


def _commit(release: Release) -> str:
    commit = next((c.digest for c in release.components if c.ref.startswith("commit:")), None)
    if not commit:
        raise VersioningError(f"{release.ref} names no commit to tag", hint="release a unified version made in git")
    return commit


def _tag(settings: Settings, tag: str, commit: str, message: str) -> None:
    from reprise._git import last_line, run_git

    done = run_git(settings.project_dir, ["tag", "-a", tag, "-m", message, commit], check=False)
    if done.returncode != 0:
        raise VersioningError(
            f"cannot write git tag {tag}: {last_line(done.stderr)}",
            hint="tags are immutable: delete the stale one by hand if it was a mistake (git tag -d TAG)",
        )
