"""Seeding: one root seed in, every random number generator of a run seeded from it.

A run records exactly one root seed. :func:`ensure_reproducibility` seeds the process-wide generators a training
script is likely to touch (Python's :mod:`random`, NumPy's legacy global state, and PyTorch / TensorFlow when the
script has already imported them) and returns a :class:`SeedConfig`: the seed plus ready-made keyword sets for
scikit-learn, XGBoost and LightGBM, whose estimators take their own seed instead of reading a global one.
:func:`derive_seed` gives stable, independent child seeds (one per fold, per model, per worker) from the root.

Library code never draws from a global generator; seeding the global generators is this module's whole purpose and
it only does so when asked. PyTorch and TensorFlow are never imported here: seeding a framework the script does not
use would cost seconds and change nothing.

Example:
    >>> cfg = ensure_reproducibility(42)                    # doctest: +SKIP
    >>> RandomForestClassifier(n_estimators=100, **cfg.sklearn)   # doctest: +SKIP
    >>> derive_seed(42, "fold-0")
    81420265
"""

from __future__ import annotations

import hashlib
import numbers
import os
import random
import secrets
import sys
from dataclasses import dataclass
from typing import Any, Final

from reprise.config import DEFAULT_SEED
from reprise.errors import ConfigError

__all__ = ["DEFAULT_SEED", "SeedConfig", "derive_seed", "ensure_reproducibility"]

#: Largest root seed: the range NumPy's legacy seeding and ``PYTHONHASHSEED`` both accept.
_MAX_SEED: Final = 2**32 - 1
#: Child seeds and drawn seeds stay below 2**31 so that every library (LightGBM and torch included) takes them as is.
_CHILD_SEED_MASK: Final = 2**31 - 1
#: The keys of a :class:`SeedConfig` in mapping style, in declaration order.
_KEYS: Final = ("seed", "split", "model", "sklearn", "xgboost", "lightgbm", "seeded", "pythonhashseed")


@dataclass(frozen=True)
class SeedConfig:
    """The seed of a run and the keyword arguments that hand it to each library.

    Read it as attributes (``cfg.sklearn``) or as a mapping (``cfg["sklearn"]``); both give the same values. The
    keyword sets are fresh ``dict`` copies on every access, so an estimator (or a caller) that keeps and changes one
    cannot change the config. Building a ``SeedConfig`` directly seeds nothing: library code that must leave the
    global generators alone can use ``SeedConfig(seed).sklearn``.

    Attributes:
        seed: The root seed.
        seeded: The libraries whose global generators were seeded, e.g. ``("random", "numpy", "torch")``.
        pythonhashseed: The ``PYTHONHASHSEED`` of the run's child processes; ``str(seed)`` when not given.

    Raises:
        ConfigError: ``seed`` is not an integer in ``0..2**32-1``, or ``pythonhashseed`` is neither ``"random"`` nor
            such an integer.

    Example:
        >>> cfg = SeedConfig(7)
        >>> cfg.xgboost == cfg["xgboost"] == {"random_state": 7}
        True
    """

    seed: int
    seeded: tuple[str, ...] = ()
    pythonhashseed: str = ""

    def __post_init__(self) -> None:
        """Check the values; store the seed as a plain ``int`` (numpy integers too), so the config stays JSON-able."""
        seed = _check_seed(self.seed)
        object.__setattr__(self, "seed", seed)
        hashseed = self.pythonhashseed or str(seed)
        # Python refuses to start with any other value, so a bad one would only surface in a child process.
        if hashseed != "random" and not (hashseed.isascii() and hashseed.isdecimal() and int(hashseed) <= _MAX_SEED):
            raise ConfigError(
                f"pythonhashseed {hashseed!r} is neither 'random' nor an integer in 0..{_MAX_SEED}",
                hint=f'leave it out to use the seed, or pass pythonhashseed="{seed}"',
            )
        object.__setattr__(self, "pythonhashseed", hashseed)

    @property
    def split(self) -> dict[str, Any]:
        """Keywords for ``train_test_split``, ``KFold(shuffle=True)`` and other data splitters."""
        return {"random_state": self.seed}

    @property
    def model(self) -> dict[str, Any]:
        """Keywords for any estimator that follows the scikit-learn ``random_state`` convention."""
        return {"random_state": self.seed}

    @property
    def sklearn(self) -> dict[str, Any]:
        """Keywords for scikit-learn estimators."""
        return {"random_state": self.seed}

    @property
    def xgboost(self) -> dict[str, Any]:
        """Keywords for XGBoost's scikit-learn estimators.

        Only the seed: XGBoost 2+ builds trees with ``hist`` by default, which gives bitwise-identical models across
        processes and thread counts, and a caller's own ``tree_method=...`` beside ``**seeds.xgboost`` must not clash.
        """
        return {"random_state": self.seed}

    @property
    def lightgbm(self) -> dict[str, Any]:
        """Keywords for LightGBM's scikit-learn estimators.

        ``seed`` is LightGBM's master seed (it derives the bagging, feature-fraction and data seeds);
        ``deterministic`` needs ``force_row_wise`` to hold across runs; ``verbose=-1`` keeps its log quiet.
        """
        return {"seed": self.seed, "deterministic": True, "force_row_wise": True, "verbose": -1}

    def keys(self) -> tuple[str, ...]:
        """Return the names readable as ``cfg[name]``, so ``dict(cfg)`` works too."""
        return _KEYS

    def __getitem__(self, key: str) -> Any:
        """Return the value of ``key``, as the attribute of the same name does.

        Raises:
            KeyError: ``key`` is not one of :meth:`keys`; the message lists them.
        """
        if key not in _KEYS:
            raise KeyError(f"{key!r} is not a SeedConfig key; known keys: {', '.join(_KEYS)}")
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        """Return whether ``cfg[key]`` would succeed."""
        return key in _KEYS

    def to_dict(self) -> dict[str, Any]:
        """Return the randomness part of a run record: plain JSON data.

        Example:
            >>> SeedConfig(7).to_dict()
            {'seed': 7, 'seeded': [], 'pythonhashseed': '7'}
        """
        return {"seed": self.seed, "seeded": list(self.seeded), "pythonhashseed": self.pythonhashseed}


def derive_seed(root: int, name: str) -> int:
    """Return a child seed for ``name``, fixed by ``root`` and ``name`` alone.

    The child is the first four bytes (big endian) of ``sha256(f"{root}:{name}")`` with the top bit cleared, so it is
    the same in every process, Python version and ``PYTHONHASHSEED`` (``hash()`` is never used) and lies in
    ``0..2**31-1``, a valid seed for NumPy, scikit-learn, XGBoost, LightGBM and torch.

    Args:
        root: The root seed, an integer in ``0..2**32-1``.
        name: What the child seed is for, e.g. ``"fold-3"`` or ``"bootstrap"``.

    Returns:
        The child seed.

    Raises:
        ConfigError: ``root`` is not an integer in ``0..2**32-1`` or ``name`` is not a string.

    Example:
        >>> derive_seed(42, "fold-0")
        81420265
    """
    root = _check_seed(root, what="root seed")
    if not isinstance(name, str):
        raise ConfigError(
            f"derive_seed name must be a string, got {type(name).__name__} {name!r}",
            hint=f'derive_seed({root}, "fold-0")',
        )
    data = f"{root}:{name}".encode("utf-8", errors="surrogatepass")
    head = hashlib.sha256(data, usedforsecurity=False).digest()[:4]
    return int.from_bytes(head, "big") & _CHILD_SEED_MASK


def ensure_reproducibility(seed: int | None = DEFAULT_SEED, *, verbose: bool = False) -> SeedConfig:
    """Seed every global random number generator of this process and return the keywords for the rest.

    Seeds :func:`random.seed` and NumPy's legacy global state (``numpy.random.seed``). PyTorch and TensorFlow are
    seeded only if the script has already imported them: torch gets ``manual_seed``, ``cuda.manual_seed_all``,
    deterministic algorithms (``warn_only=True``), deterministic cuDNN without benchmarking, and
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless already set; TensorFlow gets ``random.set_seed`` and op determinism.

    ``REPRISE_SEED`` is set in ``os.environ``, so a later ``reprise.start_run()`` records this seed rather than the
    project's default. ``PYTHONHASHSEED`` is set so that child processes hash strings the same way in every run. The
    hash seed of the *current* process was fixed when it started and cannot change: to make ``hash()`` (and so set
    iteration order) reproducible here, start Python with ``PYTHONHASHSEED`` already set, e.g. through ``reprise run``.

    Estimators that take their own seed (scikit-learn, XGBoost, LightGBM) do not read the global state: pass them
    the returned keywords, e.g. ``RandomForestClassifier(**cfg.sklearn)``.

    Args:
        seed: The root seed, an integer in ``0..2**32-1``. ``None`` draws a fresh one from :mod:`secrets`; it is
            returned in the config, so the run can still be repeated exactly.
        verbose: Print one line per seeded library to stderr.

    Returns:
        The seed, the libraries that were seeded and the keyword sets for each library.

    Raises:
        ConfigError: ``seed`` is not ``None`` nor an integer in ``0..2**32-1``.

    Example:
        >>> cfg = ensure_reproducibility(42)       # doctest: +SKIP
        >>> cfg["split"]                           # doctest: +SKIP
        {'random_state': 42}
    """
    seed = secrets.randbelow(_CHILD_SEED_MASK + 1) if seed is None else _check_seed(seed)
    seeded = ["random", "numpy"]
    random.seed(seed)

    import numpy as np  # here, not at the top: `import reprise` stays light

    np.random.seed(seed)  # the legacy global state: what unseeded np.random.* calls in user code draw from

    hashseed = str(seed)
    os.environ["PYTHONHASHSEED"] = hashseed
    # The seed a later reprise.start_run() records when it is given none: the one the script chose here.
    os.environ["REPRISE_SEED"] = str(seed)

    torch = sys.modules.get("torch")
    if torch is not None:
        _seed_torch(torch, seed)
        seeded.append("torch")
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None:
        _seed_tensorflow(tensorflow, seed)
        seeded.append("tensorflow")

    if verbose:
        for library in seeded:
            print(f"reprise: seeded {library} with {seed}", file=sys.stderr)
        print(f"reprise: PYTHONHASHSEED={hashseed} for child processes", file=sys.stderr)
    return SeedConfig(seed=seed, seeded=tuple(seeded), pythonhashseed=hashseed)


def _check_seed(value: object, *, what: str = "seed") -> int:
    # bool is an int subclass, and numpy integers are not int but are Integral: accept those, refuse True/False.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(
            f"{what} must be an integer in 0..{_MAX_SEED}, got {type(value).__name__} {value!r}",
            hint=f"pass an integer such as {DEFAULT_SEED}, or set seed = {DEFAULT_SEED} in reprise.toml",
        )
    number = int(value)
    if not 0 <= number <= _MAX_SEED:
        raise ConfigError(
            f"{what} {number} is out of range 0..{_MAX_SEED}",
            hint=f"pass an integer such as {DEFAULT_SEED}, or derive_seed({DEFAULT_SEED}, name) for several seeds",
        )
    return number


def _seed_torch(torch: Any, seed: int) -> None:
    # cuBLAS reads this when its first handle is created: it must be in place before any deterministic CUDA matmul.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    # warn_only: an op without a deterministic kernel should warn, not stop a training run.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _seed_tensorflow(tf: Any, seed: int) -> None:
    tf.random.set_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except AttributeError:
        # TensorFlow < 2.8 has no enable_op_determinism; it reads this variable instead.
        os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
