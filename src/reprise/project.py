"""Making a folder a Reprise project: git, DVC, ``reprise.toml``, a git-ignored ``.reprise/`` and (asked) its stores.

``init_project`` is idempotent: it does only what is missing, touches nothing it does not own, and reports each
action it took. With ``create_stores=True`` (what ``reprise init`` does) it also creates and migrates the MLflow
tracking store and the metadata store, each under its inter-process lock, so the first commands of a new project do
not race to create them (they would manage anyway: every first use in a process does the same under the same lock).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from reprise._canonical import write_atomic
from reprise._git import run_git
from reprise.config import CONFIG_FILE, STATE_DIR, find_project
from reprise.data.dvc import init_dvc, is_dvc_repo, set_default_remote
from reprise.errors import ConfigError, NotAProjectError, RepriseError

__all__ = ["InitReport", "TeamLink", "init_project"]

_IGNORE_LINE = f"/{STATE_DIR}/"

_CONFIG_TEMPLATE = """\
# Reprise settings. Precedence: these < REPRISE_* environment variables < command-line flags.

# Root seed of every captured run (child seeds are derived from it).
seed = 42

# MLflow experiment that `reprise run` and `reprise.start_run()` log to.
experiment = "{experiment}"

# Extra environment variables to record with each run (globs). Secret-looking values are stored as ***.
capture_env_vars = []

# Stores. Defaults: the embedded SQLite stores under .reprise/ (no server needed).
# tracking_uri = "http://127.0.0.1:5000"
# store_uri = "postgresql://postgres@127.0.0.1:5432/reprise"
"""


#: The name of the shared DVC remote ``init --team`` sets as the project's default.
_TEAM_REMOTE = "team"


@dataclass(frozen=True)
class TeamLink:
    """Where a team's shared stores are (what ``reprise team serve`` prints), for ``reprise init --team``.

    Credentials are never part of it: MLflow's come from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``
    (or ``~/.mlflow/credentials``), PostgreSQL's from ``PGPASSWORD`` (or ``~/.pgpass``).

    Attributes:
        tracking_uri: The team's MLflow server (``http(s)://host:port``).
        store_uri: The team's metadata store (``postgresql://user@host:5432/db``), if it is shared.
        dvc_remote: The shared DVC remote (a folder or any DVC remote URL), if any.
    """

    tracking_uri: str
    store_uri: str | None = None
    dvc_remote: str | None = None


@dataclass(frozen=True)
class InitReport:
    """What ``init_project`` found and did.

    Attributes:
        project_dir: The project root.
        actions: One line per change made, in order; empty when the folder was already a project.
    """

    project_dir: Path
    actions: list[str] = field(default_factory=list)


def init_project(directory: Path, *, create_stores: bool = False, team: TeamLink | None = None) -> InitReport:
    """Make ``directory`` a Reprise project, doing only what is missing.

    Args:
        directory: The folder to initialise; created if absent.
        create_stores: Also create (or repair) the tracking and metadata stores the settings point at.
        team: Point the project at a team's server, metadata store and DVC remote (written to ``reprise.toml``
            and ``.dvc/config``; safe to run again, and on an existing project).

    Returns:
        The actions taken.

    Raises:
        CaptureError: git is not installed or ``git init`` failed.
        ConfigError: ``directory`` is a file, or it (or a file in it) cannot be created or written; or ``team``
            holds a credential or a URI of the wrong kind.
        DataError: ``dvc init`` failed.
        StoreError: ``create_stores`` and the metadata store cannot be created or reached.
        TrackingError: ``create_stores`` and the tracking store cannot be created or reached.

    Example:
        >>> init_project(Path("my-project"), create_stores=True).actions   # doctest: +SKIP
        ['created /abs/my-project', 'initialised a git repository', ...]
    """
    root = directory.resolve()
    if team is not None:
        _check_team(team)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{directory} is a file, not a folder", hint="reprise init <folder>")
    try:
        report = _init(root)
        if team is not None:
            report.actions.extend(_link_team(root, team))
    except RepriseError:
        raise
    except OSError as exc:
        where = exc.filename or root
        raise ConfigError(
            f"cannot create the project in {directory}: {exc.strerror} ({where})",
            hint="pick a folder you can write: reprise init <folder>",
        ) from exc
    if create_stores:
        report.actions.extend(_create_stores(root))
    return report


def _create_stores(root: Path) -> list[str]:
    from reprise.config import load_settings
    from reprise.store.db import prepare_store
    from reprise.tracking._client import prepare_tracking_store

    settings = load_settings(root)
    return [*prepare_tracking_store(settings), *prepare_store(settings)]


def _init(root: Path) -> InitReport:
    actions: list[str] = []
    if not root.exists():
        root.mkdir(parents=True)
        actions.append(f"created {root}")
    top = _git_toplevel(root)
    if top is None:
        run_git(root, ["init", "-q"])
        top = root
        actions.append("initialised a git repository")
    if not is_dvc_repo(root):
        init_dvc(root, subdir=top != root)
        actions.append("initialised DVC (analytics and update checks off)")
    if not _is_project(root):
        write_atomic(root / CONFIG_FILE, _CONFIG_TEMPLATE.format(experiment=root.name))
        actions.append(f"wrote {CONFIG_FILE}")
    if _ensure_ignored(root / ".gitignore"):
        actions.append(f"git-ignored {_IGNORE_LINE} (local state)")
    (root / STATE_DIR).mkdir(exist_ok=True)
    return InitReport(project_dir=root, actions=actions)


def _check_team(team: TeamLink) -> None:
    parts = urllib.parse.urlsplit(team.tracking_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--team {team.tracking_uri!r} is not the URL of an MLflow server",
            hint="reprise init --team http://HOST:PORT (what `reprise team serve` printed)",
        )
    if parts.username or parts.password:
        raise _credential_error("--team", "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or ~/.mlflow/credentials")
    if team.store_uri is not None and urllib.parse.urlsplit(team.store_uri).password:
        raise _credential_error("--team-store", "PGPASSWORD or ~/.pgpass")


def _credential_error(flag: str, where: str) -> ConfigError:
    return ConfigError(
        f"{flag} carries a credential, and {CONFIG_FILE} is shared through git: it must hold none",
        hint=f"drop it from the URL and put it in {where}",
    )


def _link_team(root: Path, team: TeamLink) -> list[str]:
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{root} keeps its settings in pyproject.toml [tool.reprise]; init --team writes only {CONFIG_FILE}",
            hint=f'set tracking_uri = "{team.tracking_uri}" (and store_uri) in [tool.reprise] yourself',
        )
    text = path.read_text(encoding="utf-8")
    settings = {"tracking_uri": team.tracking_uri, "store_uri": team.store_uri}
    new = text
    for key, value in settings.items():
        if value is not None:
            new = _set_top_level(new, key, value)
    actions = []
    if new != text:
        write_atomic(path, new)
        actions.append(f"pointed {CONFIG_FILE} at the team's stores ({team.tracking_uri})")
    if team.dvc_remote is not None and set_default_remote(root, _TEAM_REMOTE, team.dvc_remote):
        actions.append(f"set the shared DVC remote '{_TEAM_REMOTE}' ({team.dvc_remote}) as the default")
    return actions


def _set_top_level(text: str, key: str, value: str) -> str:
    """``text`` with the top-level ``key = "value"`` set: its (possibly commented-out) line replaced, or one added."""
    line = f"{key} = {json.dumps(value)}"  # a JSON string is a valid TOML basic string
    head, table, tail = text.partition("\n[")
    pattern = re.compile(rf"^(?:#\s*)?{key}\s*=.*$", re.MULTILINE)
    found = list(pattern.finditer(head))
    live = [match for match in found if not match.group().startswith("#")]
    target = (live or found)[0] if found else None
    if target is None:
        head = f"{head.rstrip()}\n{line}\n" if head.strip() else f"{line}\n"
    else:
        head = head[: target.start()] + line + head[target.end() :]
    return head + table + tail


def _is_project(root: Path) -> bool:
    try:
        return find_project(root) == root
    except NotAProjectError:
        return False


def _ensure_ignored(gitignore: Path) -> bool:
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if any(line.strip() in (_IGNORE_LINE, f"{STATE_DIR}/", STATE_DIR) for line in text.splitlines()):
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    write_atomic(gitignore, f"{text}{separator}# Reprise local state (stores, caches)\n{_IGNORE_LINE}\n")
    return True


def _git_toplevel(root: Path) -> Path | None:
    result = run_git(root, ["rev-parse", "--show-toplevel"], check=False)
    return Path(result.stdout.decode("utf-8", "surrogateescape").strip()).resolve() if result.returncode == 0 else None
