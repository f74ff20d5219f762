"""The results of checking files against a manifest, and of comparing two manifests.

Validation finds missing, extra and changed files; a diff finds files added, removed and changed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from reprise.errors import ManifestMismatchError

__all__ = ["HashMismatch", "ManifestDiff", "ManifestValidation"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HashMismatch(_Frozen):
    """A file whose content differs from its manifest entry."""

    path: str
    algorithm: str
    expected: str
    actual: str
    expected_size: int
    actual_size: int


class ManifestValidation(_Frozen):
    """The outcome of :meth:`Manifest.validate`: every problem found, none hidden.

    Attributes:
        missing: Files in the manifest that are not on disk.
        extra: Files on disk (matching the manifest's include/exclude) that are not in the manifest.
        mismatched: Files whose size or content hash differs.
        checked: Files compared.
        files_read: Files read (the others were answered by the stat cache).
        seconds: Wall time.
    """

    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    mismatched: tuple[HashMismatch, ...] = ()
    checked: int = 0
    files_read: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing is missing, extra or changed."""
        return not (self.missing or self.extra or self.mismatched)

    def problems(self) -> list[str]:
        """One line per problem, in a stable order."""
        lines = [f"missing: {path}" for path in self.missing]
        lines += [f"extra: {path}" for path in self.extra]
        for item in self.mismatched:
            if item.expected_size != item.actual_size:
                lines.append(f"changed: {item.path} (size {item.expected_size} -> {item.actual_size})")
            else:
                lines.append(f"changed: {item.path} ({item.algorithm} {item.expected[:12]} -> {item.actual[:12]})")
        return lines

    def raise_for_problems(self, where: str) -> None:
        """Raise when anything differs.

        Args:
            where: The path or version named in the message.

        Raises:
            ManifestMismatchError: Something is missing, extra or changed.
        """
        if self.ok:
            return
        counts = f"{len(self.missing)} missing, {len(self.extra)} extra, {len(self.mismatched)} changed"
        first = "; ".join(self.problems()[:3])
        raise ManifestMismatchError(
            f"{where} differs from its manifest ({counts}): {first}",
            hint=f"reprise data verify {where} --rehash  (or check the data out again)",
        )


class ManifestDiff(_Frozen):
    """Files added, removed and changed from one manifest to another (paths relative to each base)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        """True when both manifests list the same files with the same content."""
        return not (self.added or self.removed or self.changed)
