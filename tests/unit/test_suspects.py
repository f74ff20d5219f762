"""Nondeterminism suspects are named from the code's structure: calls and keywords, never strings or comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprise.reproduce.suspects import Suspect, find_suspects, scan_sources

UNSEEDED_NUMPY = "NumPy's global generator, never seeded in this file"
PARALLEL = "parallel work (n_jobs > 1): sums in thread completion order"


def _whats(source: str) -> list[tuple[int, str]]:
    return [(suspect.line, suspect.what) for suspect in find_suspects(source)]


def test_scan_names_file_line_what_and_code_in_path_order(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(
        "from sklearn.ensemble import RandomForestRegressor\n"
        "model = RandomForestRegressor(n_estimators=50, n_jobs=4)\n"
        "import numpy as np\n"
        "rng = np.random.default_rng()  \n"
        "# n_jobs=8 in a comment is no suspect\n"
    )
    (tmp_path / "a.py").write_text("import random\nrandom.seed()\n")
    assert scan_sources(tmp_path) == [
        "a.py:2: random.seed() without a value (seeds from the clock): random.seed()",
        f"src/train.py:2: {PARALLEL}: model = RandomForestRegressor(n_estimators=50, n_jobs=4)",
        "src/train.py:4: a NumPy Generator created without a seed: rng = np.random.default_rng()",
    ]


def test_a_docstring_or_string_mentioning_parallel_work_is_not_flagged(tmp_path: Path) -> None:
    (tmp_path / "fit.py").write_text(
        '"""Fit the forest with n_jobs=2 and random_state=None, like np.random.permutation(10)."""\n'
        "def fit(X, y, random_state=None):  # a default is a parameter, not a call given None\n"
        "    '''Call RandomForest(n_jobs=-1) for speed.'''\n"
        "    text = 'torch.backends.cudnn.benchmark = True'\n"
        "    return text\n"
    )
    assert scan_sources(tmp_path) == []


def test_an_unseeded_numpy_permutation_is_flagged_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "split.py").write_text(
        "import numpy as np\n\nX = np.arange(100)\norder = np.random.permutation(len(X))\n"
    )
    assert scan_sources(tmp_path) == [f"split.py:4: {UNSEEDED_NUMPY}: order = np.random.permutation(len(X))"]


@pytest.mark.parametrize(
    "seeding",
    [
        "np.random.seed(0)",
        "np.random.seed(seed=int(os.environ['REPRISE_SEED']))",
        "reprise.ensure_reproducibility(42)",
        "reprise.ensure_reproducibility()",
        "ensure_reproducibility(7)",
        "with reprise.start_run() as run:\n    pass",
        "with start_run(params={'a': 1}):\n    pass",
    ],
    ids=["np-seed", "np-seed-keyword", "ensure", "ensure-default", "ensure-imported", "start-run", "start-run-from"],
)
def test_a_seeded_file_is_not_flagged(seeding: str) -> None:
    source = (
        "import os\nimport numpy as np\nimport reprise\n"
        "from reprise import ensure_reproducibility, start_run\n"
        f"{seeding}\n"
        "order = np.random.permutation(10)\nnoise = np.random.normal(size=3)\n"
    )
    assert find_suspects(source) == []


@pytest.mark.parametrize(
    ("seeding", "what"),
    [
        ("np.random.seed()", "np.random.seed() without a value (seeds from the OS)"),
        ("np.random.seed(None)", "np.random.seed() without a value (seeds from the OS)"),
        ("reprise.ensure_reproducibility(None)", None),
        ("random.seed(0)", None),  # the stdlib generator is not NumPy's
    ],
    ids=["no-value", "none", "ensure-none", "other-generator"],
)
def test_a_seed_without_a_value_does_not_seed(seeding: str, what: str | None) -> None:
    source = f"import random\nimport numpy as np\nimport reprise\n{seeding}\nx = np.random.rand(3)\n"
    expected = [(5, UNSEEDED_NUMPY)] + ([(4, what)] if what else [])
    assert _whats(source) == sorted(expected)


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as xp\norder = xp.random.permutation(10)\n",
        "import numpy\norder = numpy.random.permutation(10)\n",
        "import numpy.random\norder = numpy.random.permutation(10)\n",
        "import numpy.random as npr\norder = npr.permutation(10)\n",
        "from numpy import random\norder = random.permutation(10)\n",
        "from numpy import random as nr\norder = nr.permutation(10)\n",
        "from numpy.random import permutation\norder = permutation(10)\n",
        "from numpy.random import permutation as perm\norder = perm(10)\n",
    ],
    ids=["alias", "plain", "submodule", "submodule-alias", "from-numpy", "from-numpy-alias", "from-random", "renamed"],
)
def test_numpy_is_recognised_under_any_import(source: str) -> None:
    assert find_suspects(source) == [Suspect(2, UNSEEDED_NUMPY)]


def test_names_not_imported_from_numpy_are_not_numpy() -> None:
    source = (
        "import numpy as np\n"
        "rng = np.random.default_rng(3)\n"
        "order = rng.permutation(10)\n"  # a seeded Generator's method
        "def permutation(n):\n    return list(range(n))\n"
        "order = permutation(10)\n"
        "x = np.random.Generator(np.random.PCG64(5)).random()\n"
    )
    assert find_suspects(source) == []


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("rng = np.random.default_rng()", "a NumPy Generator created without a seed"),
        ("rng = np.random.default_rng(seed=None)", "a NumPy Generator created without a seed"),
        ("rng = default_rng(None)", "a NumPy Generator created without a seed"),
        ("rs = np.random.RandomState()", "a NumPy RandomState created without a seed"),
        ("g = np.random.Generator(np.random.PCG64())", "a NumPy bit generator (PCG64) created without a seed"),
        ("r = random.Random()", "a random.Random created without a seed"),
        ("r = random.SystemRandom(42)", "random.SystemRandom draws from the OS: never repeatable"),
        ("random.seed()", "random.seed() without a value (seeds from the clock)"),
        ("x = random.choice([1, 2])", "the random module's global generator, never seeded in this file"),
        ("random.shuffle(items)", "the random module's global generator, never seeded in this file"),
        ("x = torch.randn(3)", "torch's global generator, never seeded in this file"),
        ("m = RandomForestClassifier(random_state=None)", "an estimator given random_state=None"),
        ("m = RandomForestClassifier(n_jobs=-1)", PARALLEL),
        ("m = RandomForestClassifier(n_jobs=2)", PARALLEL),
        ("torch.backends.cudnn.benchmark = True", "cuDNN benchmark mode picks kernels by timing"),
        ("cudnn.benchmark = True", "cuDNN benchmark mode picks kernels by timing"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None,
)
def test_each_kind_of_suspect(line: str, what: str) -> None:
    header = (
        "import random\nimport numpy as np\nimport torch\nfrom numpy.random import default_rng\n"
        "from torch.backends import cudnn\n"
    )
    assert find_suspects(header + line + "\n") == [Suspect(6, what)]


@pytest.mark.parametrize(
    "line",
    [
        "m = RandomForestClassifier(n_jobs=1)",
        "m = RandomForestClassifier(n_jobs=None)",
        "m = RandomForestClassifier(random_state=0)",
        "torch.backends.cudnn.benchmark = False",
        "r = random.Random(3)",
        "random.seed(3)\nx = random.random()",
        "torch.manual_seed(3)\nx = torch.rand(2)",
        "g = torch.Generator().manual_seed(1)\nx = torch.rand(2, generator=g)",
    ],
)
def test_innocent_calls_are_not_flagged(line: str) -> None:
    assert find_suspects("import random\nimport torch\n" + line + "\n") == []


def test_files_that_are_not_python_and_tool_folders_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def (:\n  n_jobs=4\n")
    (tmp_path / "nul.py").write_bytes(b"x = 1\x00\n")
    for folder in (".venv", "env", "node_modules", ".hidden"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "lib.py").write_text("f(n_jobs=4)\n")
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "ok.py").write_text("f(n_jobs=4)\n")
    assert scan_sources(tmp_path) == [f"ok.py:1: {PARALLEL}: f(n_jobs=4)"]
    assert scan_sources(tmp_path / "missing") == []


def test_the_limit_stops_after_that_many_files(tmp_path: Path) -> None:
    for name in "abc":
        (tmp_path / f"{name}.py").write_text("f(n_jobs=4)\n")
    assert [hint.split(":", 1)[0] for hint in scan_sources(tmp_path, limit=2)] == ["a.py", "b.py"]
