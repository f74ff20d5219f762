r"""Nondeterminism suspects in Python code, named from the code's structure (``ast``): calls, keywords, assignments.

A reproduction or an audit that finds differences points at the lines that usually cause them. The code is parsed,
never matched as text, so strings, comments and docstrings that mention ``n_jobs=2`` are not suspects, and names
are resolved through the file's imports (``import numpy as xp``, ``from numpy.random import permutation``).

What is a suspect:

- a draw from a **global generator the file never seeds**: NumPy's legacy functions (``np.random.permutation``,
  ``shuffle``, ``rand``, ``randn``, ``randint``, ``choice``, ``normal``, ``uniform``...), the ``random`` module's
  (``random.shuffle``, ``random.random``...), torch's (``torch.rand``, ``torch.randn``, ``torch.randperm``...).
  *The rule is per file*: a generator counts as seeded when the same file calls, anywhere, its seeding function with
  a value (``np.random.seed(0)``, ``random.seed(0)``, ``torch.manual_seed(0)``) or ``reprise.ensure_reproducibility``
  or ``reprise.start_run`` (which seed them all). A seed set in another module is not seen, and a seed placed after
  the draw still counts: the rule names likely lines, it does not prove anything;
- a generator made without a seed: ``default_rng()``, ``RandomState()``, ``Generator()``, a bit generator such as
  ``PCG64()`` (a ``None`` seed is no seed), ``random.Random()``, ``random.SystemRandom()``;
- a seeding call without a value: ``random.seed()``, ``np.random.seed()`` (they seed from the OS or the clock);
- a call given ``random_state=None``;
- a call given ``n_jobs=-1`` (any negative number) or an integer above 1: parallel sums in thread completion order;
- ``torch.backends.cudnn.benchmark = True``: cuDNN picks its kernels by timing them.

Example:
    >>> find_suspects("import numpy as xp\norder = xp.random.permutation(10)\n")
    [Suspect(line=2, what="NumPy's global generator, never seeded in this file")]
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Suspect", "find_suspects", "scan_sources"]

_MAX_SOURCE_FILES: Final = 400
#: A bigger ``.py`` file is generated code, not the training script.
_MAX_FILE_BYTES: Final = 1 << 20
#: Folders of tools, environments and run state: not the project's code.
_SKIP_DIRS: Final = frozenset(
    {"__pycache__", "node_modules", "venv", "site-packages", "mlruns", "mlartifacts", "build", "dist"}
)
_SHOWN_CHARS: Final = 100

#: NumPy's legacy functions that draw from the global ``RandomState``.
_NUMPY_GLOBAL: Final = frozenset(
    {
        "beta", "binomial", "bytes", "chisquare", "choice", "dirichlet", "exponential", "f", "gamma", "geometric",
        "gumbel", "hypergeometric", "laplace", "logistic", "lognormal", "logseries", "multinomial",
        "multivariate_normal", "negative_binomial", "noncentral_chisquare", "noncentral_f", "normal", "pareto",
        "permutation", "poisson", "power", "rand", "randint", "randn", "random", "random_integers", "random_sample",
        "ranf", "rayleigh", "sample", "shuffle", "standard_cauchy", "standard_exponential", "standard_gamma",
        "standard_normal", "standard_t", "triangular", "uniform", "vonmises", "wald", "weibull", "zipf",
    }
)  # fmt: skip
#: The ``random`` module's functions that draw from its hidden global ``Random``.
_RANDOM_GLOBAL: Final = frozenset(
    {
        "betavariate", "binomialvariate", "choice", "choices", "expovariate", "gammavariate", "gauss",
        "getrandbits", "lognormvariate", "normalvariate", "paretovariate", "randbytes", "randint", "random",
        "randrange", "sample", "shuffle", "triangular", "uniform", "vonmisesvariate", "weibullvariate",
    }
)  # fmt: skip
#: torch's functions that draw from its default generator (when not given ``generator=``).
_TORCH_GLOBAL: Final = frozenset(
    {"bernoulli", "multinomial", "normal", "poisson", "rand", "rand_like", "randint", "randint_like", "randn",
     "randn_like", "randperm"}
)  # fmt: skip
#: Where each global generator's draws live: ``{library: (module, functions)}``.
_GLOBAL_DRAWS: Final = {
    "numpy": ("numpy.random", _NUMPY_GLOBAL),
    "random": ("random", _RANDOM_GLOBAL),
    "torch": ("torch", _TORCH_GLOBAL),
}
_BIT_GENERATORS: Final = frozenset({"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"})
#: Calls that seed every global generator (random, NumPy, and torch when imported).
_SEED_EVERYTHING: Final = frozenset(
    {
        "reprise.ensure_reproducibility",
        "reprise.seeding.ensure_reproducibility",
        "reprise.start_run",
        "reprise.tracking.runs.start_run",
    }
)
#: The call that seeds each global generator, by the module whose draws it makes repeatable.
_SEEDERS: Final = {
    "numpy": ("numpy.random.seed",),
    "random": ("random.seed",),
    "torch": ("torch.manual_seed", "torch.random.manual_seed"),
}
_UNSEEDED_GLOBAL: Final = {
    "numpy": "NumPy's global generator, never seeded in this file",
    "random": "the random module's global generator, never seeded in this file",
    "torch": "torch's global generator, never seeded in this file",
}
_NO_SEED: Final = {
    "numpy.random.default_rng": "a NumPy Generator created without a seed",
    "numpy.random.Generator": "a NumPy Generator created without a seed",
    "numpy.random.RandomState": "a NumPy RandomState created without a seed",
    "random.Random": "a random.Random created without a seed",
    "numpy.random.seed": "np.random.seed() without a value (seeds from the OS)",
    "random.seed": "random.seed() without a value (seeds from the clock)",
}
_PARALLEL: Final = "parallel work (n_jobs > 1): sums in thread completion order"
_RANDOM_STATE_NONE: Final = "an estimator given random_state=None"
_CUDNN_BENCHMARK: Final = "cuDNN benchmark mode picks kernels by timing"


class Suspect(NamedTuple):
    """One suspect line: its number (1-based) and what makes it a suspect."""

    line: int
    what: str


def find_suspects(source: str | bytes) -> list[Suspect]:
    r"""Find the usual suspects of nondeterminism in one Python file's source (the rules are in the module docstring).

    Args:
        source: The file's text (bytes honour a ``# coding:`` line).

    Returns:
        The suspects, by line; one per line and kind.

    Raises:
        SyntaxError: The source is not Python.
        ValueError: The source holds null bytes.

    Example:
        >>> find_suspects("import numpy as np\nnp.random.seed(0)\nx = np.random.rand(3)\n")
        []
    """
    tree = ast.parse(source)
    names = _imported_names(tree)
    calls = [(node, _qualname(node.func, names)) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    seeded = _seeded_modules(calls)
    found: set[Suspect] = set()
    for node, name in calls:
        what = _call_suspect(node, name, seeded) if name else None
        if what:
            found.add(Suspect(node.lineno, what))
        for keyword in node.keywords:
            what = _keyword_suspect(keyword)
            if what:
                found.add(Suspect(keyword.value.lineno, what))
    for statement in ast.walk(tree):
        if (
            isinstance(statement, ast.Assign)
            and _is_true(statement.value)
            and any(_qualname(target, names) == "torch.backends.cudnn.benchmark" for target in statement.targets)
        ):
            found.add(Suspect(statement.lineno, _CUDNN_BENCHMARK))
    return sorted(found)


def scan_sources(root: Path, *, limit: int = _MAX_SOURCE_FILES) -> list[str]:
    r"""Find the usual suspects of nondeterminism in the Python files under ``root``, as ``file:line: what: code``.

    Every ``.py`` file is parsed (files that are not Python are skipped) and checked by :func:`find_suspects`.
    Hidden folders, virtual environments and tool folders are not searched.

    Args:
        root: The code folder (the reproduction's worktree or the project).
        limit: Stop after this many files.

    Returns:
        One line per finding, sorted by file and line, e.g.
        ``src/train.py:12: parallel work (n_jobs > 1): sums in thread completion order: model = RF(n_jobs=4)``.

    Example:
        >>> scan_sources(Path("."))  # doctest: +SKIP
        ["train.py:8: NumPy's global generator, never seeded in this file: order = np.random.permutation(n)"]
    """
    findings: list[tuple[str, int, str, str]] = []
    for count, path in enumerate(_python_files(root)):
        if count >= limit:
            break
        try:
            if path.stat().st_size > _MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
            suspects = find_suspects(data)
        except (OSError, SyntaxError, ValueError, RecursionError):
            continue
        lines = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        relative = path.relative_to(root).as_posix()
        for line, what in suspects:
            code = lines[line - 1].strip()[:_SHOWN_CHARS] if line <= len(lines) else ""
            findings.append((relative, line, what, f"{relative}:{line}: {what}: {code}"))
    return [text for *_, text in sorted(findings)]


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """``{local name: dotted name}`` for every absolute import in the file (``xp -> numpy``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:  # `import numpy.random` binds `numpy`
                    top = alias.name.split(".", 1)[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualname(node: ast.expr, names: dict[str, str]) -> str | None:
    """The dotted name an expression refers to through the imports (``xp.random.rand -> numpy.random.rand``)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in names:
        return None
    return ".".join([names[node.id], *reversed(parts)])


def _seeded_modules(calls: list[tuple[ast.Call, str | None]]) -> set[str]:
    """The modules whose global generator some call in the file seeds with a value."""
    seeded: set[str] = set()
    for node, name in calls:
        # ensure_reproducibility(None) draws a fresh seed each time; start_run(seed=None) uses the project's.
        if name in _SEED_EVERYTHING and (name.endswith("start_run") or not node.args or _has_value(node)):
            seeded |= set(_SEEDERS)
        seeded |= {module for module, seeders in _SEEDERS.items() if name in seeders and _has_value(node)}
    return seeded


def _call_suspect(node: ast.Call, name: str, seeded: set[str]) -> str | None:
    module, _, function = name.rpartition(".")
    draws = (lib for lib, (home, functions) in _GLOBAL_DRAWS.items() if module == home and function in functions)
    library = next(draws, None)
    if library is not None:
        own_generator = any(keyword.arg == "generator" for keyword in node.keywords)  # torch.rand(3, generator=g)
        return None if library in seeded or own_generator else _UNSEEDED_GLOBAL[library]
    if name == "random.SystemRandom":
        return "random.SystemRandom draws from the OS: never repeatable"
    if module == "numpy.random" and function in _BIT_GENERATORS:
        what: str | None = f"a NumPy bit generator ({function}) created without a seed"
    else:
        what = _NO_SEED.get(name)
    return None if what is None or _has_value(node) else what


def _keyword_suspect(keyword: ast.keyword) -> str | None:
    if keyword.arg == "random_state" and isinstance(keyword.value, ast.Constant) and keyword.value.value is None:
        return _RANDOM_STATE_NONE
    if keyword.arg == "n_jobs":
        jobs = _int_literal(keyword.value)
        if jobs is not None and (jobs > 1 or jobs < 0):
            return _PARALLEL
    return None


def _has_value(node: ast.Call) -> bool:
    """The call is given something other than a literal ``None`` (a starred argument may hold a seed)."""
    values = [*node.args, *(keyword.value for keyword in node.keywords)]
    return any(not (isinstance(value, ast.Constant) and value.value is None) for value in values)


def _int_literal(node: ast.expr) -> int | None:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return sign * node.value
    return None


def _is_true(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _python_files(root: Path) -> Iterator[Path]:
    """The ``.py`` files under ``root`` in path order, outside hidden, tool and virtual-environment folders."""
    stack = [root] if root.is_dir() else []
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        if folder != root and any(entry.name == "pyvenv.cfg" for entry in entries):
            continue  # a virtual environment, whatever its name
        folders = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in _SKIP_DIRS and not entry.name.startswith("."):
                        folders.append(Path(entry.path))
                elif entry.name.endswith(".py") and entry.is_file():
                    yield Path(entry.path)
            except OSError:
                continue
        stack.extend(reversed(folders))
