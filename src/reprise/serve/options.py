"""What a prediction service can be tuned with; every option has a ``REPRISE_SERVE_*`` variable in the CLI."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

from reprise.errors import ConfigError

__all__ = ["DEFAULT_OPTIONS", "ServeOptions"]


@dataclass(frozen=True)
class ServeOptions:
    """Limits and behaviour of a prediction service.

    Attributes:
        reload_interval: Seconds between checks that the alias still points at the served version; 0 turns hot
            reload off.
        max_batch_records: Most records one ``POST /predict/batch`` may carry.
        max_body_bytes: Largest request body accepted; a larger one is answered 413.
        batching: Gather concurrent requests into one model call (adaptive micro-batching).
        batch_wait_ms: Longest a request waits for others to join its model call, when traffic suggests they will.
        max_batch_rows: Most rows in one model call (a batch request larger than this runs alone).
        model_threads: Threads that run model calls (the event loop never runs the model itself).
        freeze_gc: After each model load, collect garbage once and freeze the live heap (``gc.freeze``), so that
            full collections stay short; turn off when the app is mounted in a process that relies on collecting
            cycles among objects created before the load.
        allow_pickle: Serve models whose loading runs code from their files (pickle, cloudpickle, custom
            ``python_function`` models, shipped code). Off: such a model is refused before anything of it is loaded.
        require_attestation: Load only a version whose files a trusted signed release attestation vouches for,
            checked before every load (:mod:`reprise.serve.attested`).
    """

    reload_interval: float = 30.0
    max_batch_records: int = 1000
    max_body_bytes: int = 1_048_576
    batching: bool = True
    batch_wait_ms: float = 5.0
    max_batch_rows: int = 2048
    model_threads: int = 1
    freeze_gc: bool = True
    allow_pickle: bool = False
    require_attestation: bool = False

    def __post_init__(self) -> None:
        checks = {
            "reload_interval": self.reload_interval >= 0,
            "max_batch_records": self.max_batch_records >= 1,
            "max_body_bytes": self.max_body_bytes >= 1,
            "batch_wait_ms": 0 <= self.batch_wait_ms <= 1000,
            "max_batch_rows": self.max_batch_rows >= 1,
            "model_threads": self.model_threads >= 1,
        }
        for name, valid in checks.items():
            if not valid:
                raise ConfigError(
                    f"serve option {name}={getattr(self, name)!r} is out of range",
                    hint="reprise serve --help lists the options and their defaults",
                )

    def to_json(self) -> str:
        """The options as JSON (how ``reprise serve --workers N`` hands them to each worker)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        """Read options written by :meth:`to_json`.

        Raises:
            ConfigError: The text is not JSON or holds unknown options.
        """
        try:
            data: Any = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"serve options are not JSON: {exc}") from exc
        known = {item.name for item in fields(cls)}
        if not isinstance(data, dict) or set(data) - known:
            raise ConfigError(f"unknown serve options: {sorted(set(data) - known) if isinstance(data, dict) else data}")
        return cls(**data)


DEFAULT_OPTIONS: Final = ServeOptions()
