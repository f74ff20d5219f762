"""Making a folder a Reprise project: git, DVC, ``reprise.toml``, a git-ignored ``.reprise/`` and (asked) its stores.

``init_project`` is idempotent: it does only what is missing, touches nothing it does not own, and reports each
action it took. With ``create_stores=True`` (what ``reprise init`` does) it also creates and migrates the MLflow
tracking store and the metadata store, each under its inter-process lock, so the first commands of a new project do
not race to create them (they would manage anyway: every first use in a process does the same under the same lock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reprise._canonical import write_atomic
from reprise._git import run_git
from reprise.config import CONFIG_FILE, STATE_DIR, find_project
from reprise.data.dvc import init_dvc, is_dvc_repo
from reprise.errors import ConfigError, NotAProjectError, RepriseError

__all__ = ["InitReport", "init_project"]

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


@dataclass(frozen=True)
class InitReport:
    """What ``init_project`` found and did.

    Attributes:
        project_dir: The project root.
        actions: One line per change made, in order; empty when the folder was already a project.
    """

    project_dir: Path
    actions: list[str] = field(default_factory=list)


def init_project(directory: Path, *, create_stores: bool = False) -> InitReport:
    """Make ``directory`` a Reprise project, doing only what is missing.

    Args:
        directory: The folder to initialise; created if absent.
        create_stores: Also create (or repair) the tracking and metadata stores the settings point at.

    Returns:
        The actions taken.

    Raises:
        CaptureError: git is not installed or ``git init`` failed.
        ConfigError: ``directory`` is a file, or it (or a file in it) cannot be created or written.
        DataError: ``dvc init`` failed.
        StoreError: ``create_stores`` and the metadata store cannot be created or reached.
        TrackingError: ``create_stores`` and the tracking store cannot be created or reached.

    Example:
        >>> init_project(Path("my-project"), create_stores=True).actions   # doctest: +SKIP
        ['created /abs/my-project', 'initialised a git repository', ...]
    """
    root = directory.resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{directory} is a file, not a folder", hint="reprise init <folder>")
    try:
        report = _init(root)
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
