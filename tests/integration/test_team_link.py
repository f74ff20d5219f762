"""``reprise init --team``: pointing a project at a team's stores, on real git and DVC, without any server."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from reprise.config import load_settings
from reprise.errors import ConfigError
from reprise.project import TeamLink, init_project


@pytest.mark.parametrize(
    ("link", "flag"),
    [
        (TeamLink("http://alice:s3cret-pw@team.example:5000"), "--team"),
        (TeamLink("http://ghp_tokenlike@team.example:5000"), "--team"),
        (TeamLink("http://team.example:5000", store_uri="postgresql://u:s3cret-pw@db/x"), "--team-store"),
        (TeamLink("file:///srv/mlruns"), "--team"),
    ],
    ids=["password-in-url", "token-in-url", "password-in-store", "not-a-server"],
)
def test_a_credential_or_a_non_server_url_is_refused_before_anything_is_written(
    tmp_path: Path, link: TeamLink, flag: str
) -> None:
    with pytest.raises(ConfigError, match=flag) as caught:
        init_project(tmp_path / "p", team=link)
    assert "s3cret-pw" not in str(caught.value)
    assert not (tmp_path / "p").exists()


def test_init_team_rewrites_its_settings_in_place_and_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "p"
    init_project(root)
    remote = str(tmp_path / "remote")
    first = init_project(root, team=TeamLink("http://127.0.0.1:5000", "postgresql://team@127.0.0.1/db", remote))
    assert len(first.actions) == 2
    again = init_project(root, team=TeamLink("http://127.0.0.1:5000", "postgresql://team@127.0.0.1/db", remote))
    assert again.actions == []
    init_project(root, team=TeamLink("https://mlflow.team.example"))
    text = (root / "reprise.toml").read_text()
    table = tomllib.loads(text)
    assert table["tracking_uri"] == "https://mlflow.team.example"
    assert table["store_uri"] == "postgresql://team@127.0.0.1/db"
    assert text.count("tracking_uri") == 1  # the template's commented line was replaced, then the live one
    settings = load_settings(root, environ={})
    assert settings.tracking_uri == "https://mlflow.team.example"
    assert "remote = team" in (root / ".dvc" / "config").read_text()
