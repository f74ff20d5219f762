from __future__ import annotations

from pathlib import Path

import pytest

from reprise.config import DEFAULT_SEED, ENV_VARS, find_project, load_settings
from reprise.errors import ConfigError, NotAProjectError


def _project(tmp_path: Path, text: str = "", name: str = "reprise.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_defaults_use_the_embedded_stores_under_dot_reprise(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path), environ={})
    state = tmp_path.resolve() / ".reprise"
    assert settings.tracking_uri == f"sqlite:///{state / 'mlflow.db'}"
    assert settings.store_uri == f"sqlite:///{state / 'reprise.db'}"
    assert settings.artifact_location == (state / "mlartifacts").as_uri()
    assert settings.seed == DEFAULT_SEED
    assert settings.experiment == tmp_path.name
    assert settings.config_file == tmp_path.resolve() / "reprise.toml"


def test_precedence_is_defaults_then_file_then_env_then_flags(tmp_path: Path) -> None:
    root = _project(tmp_path, 'seed = 1\nexperiment = "file"\ntracking_uri = "sqlite:///from-file.db"\n')
    assert load_settings(root, environ={}).seed == 1
    env = {"REPRISE_SEED": "2", "REPRISE_EXPERIMENT": "env"}
    settings = load_settings(root, environ=env)
    assert (settings.seed, settings.experiment) == (2, "env")
    settings = load_settings(root, environ=env, overrides={"seed": 3, "experiment": None})
    assert (settings.seed, settings.experiment) == (3, "env")
    # A relative SQLite path is anchored at the project root, whatever the working directory.
    assert settings.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'from-file.db'}"


def test_pyproject_tool_table_makes_a_project(tmp_path: Path) -> None:
    root = _project(tmp_path, '[project]\nname = "x"\n\n[tool.reprise]\nseed = 7\n', name="pyproject.toml")
    assert load_settings(root, environ={}).seed == 7
    (root / "sub").mkdir()
    assert find_project(root / "sub") == root.resolve()


def test_project_is_found_from_a_subfolder(tmp_path: Path) -> None:
    root = _project(tmp_path)
    deep = root / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project(deep) == root.resolve()


def test_outside_a_project_the_hint_is_reprise_init(tmp_path: Path) -> None:
    with pytest.raises(NotAProjectError) as info:
        find_project(tmp_path)
    assert info.value.hint == "reprise init"
    assert str(tmp_path.resolve()) in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sead = 1\n", "unknown setting 'sead'"),
        ("seed = 'x'\n", "key 'seed' must be int"),
        ("seed = true\n", "key 'seed' must be int"),
        ("capture_env_vars = 'A'\n", "key 'capture_env_vars' must be a list of strings"),
        ("seed = \n", "is not valid TOML"),
    ],
    ids=["unknown-key", "wrong-type", "bool-is-not-int", "list-expected", "bad-toml"],
)
def test_bad_file_gives_a_config_error_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    root = _project(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(root, environ={})
    assert expected in info.value.message
    assert "reprise.toml" in info.value.message
    assert info.value.hint


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_project(tmp_path, "sead = 1\n"), environ={})
    assert info.value.hint == "did you mean 'seed'?"


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_project(tmp_path), environ={"REPRISE_SEED": "forty-two"})
    assert "REPRISE_SEED" in info.value.message


def test_env_list_is_comma_separated(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path), environ={"REPRISE_CAPTURE_ENV_VARS": "A_*, B ,"})
    assert settings.capture_env_vars == ("A_*", "B")


def test_every_setting_has_one_env_var() -> None:
    assert all(name.startswith("REPRISE_") for name in ENV_VARS.values())
    assert len(set(ENV_VARS.values())) == len(ENV_VARS)


def test_later_feature_tables_are_left_to_their_owners(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path, "seed = 5\n[gates]\naccuracy = '>= 0.85'\n"), environ={})
    assert settings.seed == 5
