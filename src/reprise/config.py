"""Settings: where a project's stores live and how runs are captured.

Precedence, lowest first: built-in defaults < ``reprise.toml`` (or ``[tool.reprise]`` in ``pyproject.toml``) <
``REPRISE_*`` environment variables < explicit overrides (CLI flags). Settings are one frozen object passed
explicitly; nothing here holds module-level state.

Example:
    >>> settings = load_settings(Path("my-project"))   # doctest: +SKIP
    >>> settings.tracking_uri                            # doctest: +SKIP
    'sqlite:////abs/my-project/.reprise/mlflow.db'
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import ConfigError, NotAProjectError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_ENVIRONMENTS",
    "DEFAULT_SEED",
    "ENV_VARS",
    "STATE_DIR",
    "Settings",
    "find_project",
    "load_settings",
    "read_table",
]

CONFIG_FILE: Final = "reprise.toml"
STATE_DIR: Final = ".reprise"
DEFAULT_SEED: Final = 42
#: The environments a release moves through when ``environments`` is not set, first to last.
DEFAULT_ENVIRONMENTS: Final = ("dev", "staging", "production")


@dataclass(frozen=True)
class _Key:
    """One setting: its type, its environment variable and what it means."""

    kind: type
    env: str
    doc: str


#: Every setting, declared once: file key -> type, env var, meaning.
_KEYS: Final[dict[str, _Key]] = {
    "tracking_uri": _Key(str, "REPRISE_TRACKING_URI", "MLflow tracking URI (default: .reprise/mlflow.db)"),
    "artifact_location": _Key(str, "REPRISE_ARTIFACT_LOCATION", "where new experiments store artifacts"),
    "store_uri": _Key(str, "REPRISE_STORE_URI", "SQLAlchemy URI of the Reprise metadata store"),
    "seed": _Key(int, "REPRISE_SEED", "root random seed of every run"),
    "experiment": _Key(str, "REPRISE_EXPERIMENT", "MLflow experiment name for runs"),
    "capture_env_vars": _Key(list, "REPRISE_CAPTURE_ENV_VARS", "extra env-var globs to capture (secrets redacted)"),
    "environments": _Key(list, "REPRISE_ENVIRONMENTS", "environments releases move through, first to last"),
    "keys_dir": _Key(str, "REPRISE_KEYS_DIR", "folder of private signing keys, outside any repository"),
}

#: The tables (``[name]`` sections) a config file may hold; each is read and checked by the feature that owns it.
_TABLES: Final = frozenset({"gates"})

#: Settings that say where a store lives: an empty one is a mistake, never "the default".
_LOCATIONS: Final = frozenset({"tracking_uri", "artifact_location", "store_uri"})

#: The environment variables Reprise reads, by setting key.
ENV_VARS: Final[dict[str, str]] = {key: spec.env for key, spec in _KEYS.items()}


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where to read and write.

    Attributes:
        project_dir: Absolute path of the project root (the folder holding ``reprise.toml``).
        tracking_uri: MLflow tracking URI.
        artifact_location: Artifact root given to experiments Reprise creates.
        store_uri: SQLAlchemy URI of the Reprise metadata store.
        seed: Root seed for runs.
        experiment: Default MLflow experiment name.
        capture_env_vars: Extra environment-variable globs recorded with each run.
        environments: The environments releases are promoted through, in order (the last one is production).
        keys_dir: Where private signing keys are kept (default: ``$XDG_CONFIG_HOME/reprise/keys``), never in a repo.
        config_file: The file the settings were read from, if any.
    """

    project_dir: Path
    tracking_uri: str
    artifact_location: str
    store_uri: str
    seed: int = DEFAULT_SEED
    experiment: str = "default"
    capture_env_vars: tuple[str, ...] = ()
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    keys_dir: Path | None = None
    config_file: Path | None = None

    @property
    def state_dir(self) -> Path:
        """The git-ignored folder of local state (``<project>/.reprise``)."""
        return self.project_dir / STATE_DIR


def find_project(start: Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` that is a Reprise project.

    A project is a folder with ``reprise.toml`` or a ``pyproject.toml`` holding ``[tool.reprise]``.

    Raises:
        NotAProjectError: No such folder up to the filesystem root.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file() or _has_tool_table(folder / "pyproject.toml"):
            return folder
    raise NotAProjectError(f"{here} is not inside a Reprise project (no {CONFIG_FILE} found)")


def load_settings(
    project_dir: Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load the settings of the project at or above ``project_dir`` (default: the working directory).

    Args:
        project_dir: A folder inside the project.
        overrides: Values that win over everything else (CLI flags); ``None`` values are ignored.
        environ: The environment to read ``REPRISE_*`` from (default: ``os.environ``).

    Raises:
        NotAProjectError: No project was found.
        ConfigError: A key is unknown or a value malformed; the message names the file or variable.
    """
    root = find_project(project_dir)
    config_file, values = _read_file(root)
    values.update(_read_env(os.environ if environ is None else environ))
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    for key in values:
        if key not in _KEYS:
            raise _unknown_key(key, "overrides")
    state = root / STATE_DIR
    tracking_uri = _resolve_sqlite(values.get("tracking_uri", f"sqlite:///{state / 'mlflow.db'}"), root)
    return Settings(
        project_dir=root,
        tracking_uri=tracking_uri,
        artifact_location=values.get("artifact_location", (state / "mlartifacts").as_uri()),
        store_uri=_resolve_sqlite(values.get("store_uri", f"sqlite:///{state / 'reprise.db'}"), root),
        seed=values.get("seed", DEFAULT_SEED),
        experiment=values.get("experiment", root.name or "default"),
        capture_env_vars=tuple(values.get("capture_env_vars", ())),
        environments=_environments(values.get("environments", DEFAULT_ENVIRONMENTS)),
        keys_dir=Path(values["keys_dir"]).expanduser().resolve() if "keys_dir" in values else None,
        config_file=config_file,
    )


def read_table(project_dir: Path, name: str) -> tuple[Path, dict[str, Any]]:
    """Return the project's config file and its table ``name`` (``[name]`` or ``[tool.reprise.name]``).

    Tables are not settings: the feature that owns one (``[gates]`` for the registry) reads and validates it.

    Args:
        project_dir: A folder inside the project.
        name: The table's name.

    Returns:
        The config file and the table, empty when the file has no such table.

    Raises:
        NotAProjectError: No project was found.
        ConfigError: The file is not valid TOML, or ``name`` is not a table.
    """
    root = find_project(project_dir)
    path = root / CONFIG_FILE
    if path.is_file():
        table, where = _parse_toml(path), f"[{name}]"
    else:
        path = root / "pyproject.toml"
        table, where = _parse_toml(path).get("tool", {}).get("reprise", {}), f"[tool.reprise.{name}]"
    value = table.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: '{name}' must be a table", hint=f"write it as a {where} table")
    return path, value


def _has_tool_table(pyproject: Path) -> bool:
    if not pyproject.is_file():
        return False
    try:
        return "reprise" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def _read_file(root: Path) -> tuple[Path | None, dict[str, Any]]:
    path = root / CONFIG_FILE
    if path.is_file():
        table = _parse_toml(path)
    else:
        path = root / "pyproject.toml"
        table = _parse_toml(path).get("tool", {}).get("reprise", {})
    values: dict[str, Any] = {}
    where = path.name if path.name == CONFIG_FILE else f"{path.name} [tool.reprise]"
    for key, value in table.items():
        if isinstance(value, dict):
            if key not in _TABLES:
                raise _unknown_key(key, f"{path} ({where})", table=True)
            continue  # read and checked by the feature that owns it (read_table)
        if key not in _KEYS:
            raise _unknown_key(key, f"{path} ({where})")
        values[key] = _check_type(key, value, f"{path}: key '{key}'")
    return path, values


def _parse_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint=f"fix the syntax of {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", hint=f"check the permissions of {path}") from exc


def _read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, spec in _KEYS.items():
        raw = environ.get(spec.env)
        if raw is None or raw == "":
            continue
        if spec.kind is int:
            try:
                values[key] = int(raw)
            except ValueError as exc:
                raise ConfigError(
                    f"environment variable {spec.env}={raw!r} is not an integer", hint=f"export {spec.env}=42"
                ) from exc
        elif spec.kind is list:
            values[key] = [item.strip() for item in raw.split(",") if item.strip()]
        else:
            values[key] = raw
    return values


def _check_type(key: str, value: Any, where: str) -> Any:
    kind = _KEYS[key].kind
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where} must be a list of strings", hint=f'write {key} = ["MY_VAR", "MY_PREFIX_*"]')
        return value
    # bool is an int subclass; a seed of `true` is a mistake, not 1.
    if not isinstance(value, kind) or isinstance(value, bool):
        example = "42" if kind is int else '"..."'
        raise ConfigError(f"{where} must be {kind.__name__}, got {value!r}", hint=f"write {key} = {example}")
    if key in _LOCATIONS and not str(value).strip():
        # MLflow would take an empty tracking URI as "./mlflow.db in whatever folder the command runs in".
        raise ConfigError(f"{where} is empty", hint=f'remove the line to use the default, or write {key} = "..."')
    return value


def _environments(names: Any) -> tuple[str, ...]:
    """The ordered environments: at least one, each named once (each becomes a registry alias)."""
    ordered = tuple(str(name).strip() for name in names)
    if not ordered or any(not name for name in ordered) or len(set(ordered)) != len(ordered):
        raise ConfigError(
            f"environments {list(ordered)!r} must name at least one environment, each once",
            hint='write environments = ["dev", "staging", "production"] (first to last)',
        )
    return ordered


def _unknown_key(key: str, where: str, *, table: bool = False) -> ConfigError:
    known = _TABLES if table else _KEYS
    close = difflib.get_close_matches(key, list(known), n=1)
    kind = "sections" if table else "keys"
    hint = f"did you mean '{close[0]}'?" if close else f"known {kind}: {', '.join(sorted(known))}"
    what = f"section [{key}]" if table else f"setting '{key}'"
    return ConfigError(f"unknown {what} in {where}", hint=hint)


def _resolve_sqlite(uri: str, root: Path) -> str:
    """Make a relative ``sqlite:///path`` absolute against the project root, so any working directory works."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and uri != prefix + ":memory:":
        return prefix + str(root / uri[len(prefix) :])
    return uri
