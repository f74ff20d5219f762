from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprise.capture import redact
from reprise.capture.redact import REDACTED, is_secret_name, redact_argv, redact_env, redact_uri


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GITHUB_TOKEN", True),
        ("aws_secret_access_key", True),
        ("DB_PASSWORD", True),
        ("PGPASSWD", True),
        ("api-key", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("HTTP_AUTHORIZATION", True),
        ("SSH_PRIVATE", True),
        ("OMP_NUM_THREADS", False),
        ("CUDA_VISIBLE_DEVICES", False),
        ("MLFLOW_TRACKING_URI", False),
        ("PYTHONHASHSEED", False),
    ],
    ids=str,
)
def test_is_secret_name(name: str, expected: bool) -> None:
    assert is_secret_name(name) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:hunter2@example.com/r.git", "https://user:***@example.com/r.git"),
        ("https://ghp_abc123@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("postgresql://u:p@ss@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("https://example.com/a?x=1&password=p&token=t#frag", "https://example.com/a?x=1&password=***&token=***#frag"),
        (
            "https://acct.blob.core.windows.net/c?sv=2020&sig=abc",
            "https://acct.blob.core.windows.net/c?sv=2020&sig=***",
        ),
        ("see mysql://root:toor@h/db and http://a:b@c", "see mysql://root:***@h/db and http://a:***@c"),
        ("no uri here", "no uri here"),
        ("http://example.com/path", "http://example.com/path"),
    ],
    ids=[
        "user-password",
        "token-userinfo",
        "at-in-password",
        "empty-user",
        "ssh-login-kept",
        "scp-form-untouched",
        "query-params",
        "azure-sas-sig",
        "two-uris-in-text",
        "plain-text",
        "no-credentials",
    ],
)
def test_redact_uri(text: str, expected: str) -> None:
    assert redact_uri(text) == expected


_USER = st.text(st.characters(blacklist_characters=":@/?#\"'<>` ", blacklist_categories=["Cs", "Cc", "Z"]), min_size=1)
_PASSWORD = st.text(
    st.characters(blacklist_characters="/?#\"'<>` ", blacklist_categories=["Cs", "Cc", "Z"]), min_size=1
)


@given(user=_USER, password=_PASSWORD)
def test_redact_uri_never_outputs_the_password(user: str, password: str) -> None:
    out = redact_uri(f"postgresql://{user}:{password}@db.example.com:5432/app")
    assert out == f"postgresql://{user}:{REDACTED}@db.example.com:5432/app"


def test_redact_env_selects_defaults_and_patterns_and_redacts() -> None:
    environ = {
        "OMP_NUM_THREADS": "4",
        "MLFLOW_TRACKING_TOKEN": "t0k3n",
        "MLFLOW_TRACKING_URI": "https://u:pw@mlflow.example.com",
        "HOME": "/root",
        "MY_API_TOKEN": "s3cr3t",
        "MY_SETTING": "on",
        "my_setting": "case matters",
        "PYTHONHASHSEED": "0",
    }
    assert redact_env(environ, ["MY_*"]) == {
        "MLFLOW_TRACKING_TOKEN": REDACTED,
        "MLFLOW_TRACKING_URI": "https://u:***@mlflow.example.com",
        "MY_API_TOKEN": REDACTED,
        "MY_SETTING": "on",
        "OMP_NUM_THREADS": "4",
        "PYTHONHASHSEED": "0",
    }


def test_redact_env_is_sorted() -> None:
    assert list(redact_env({"OMP_B": "1", "CUDA_A": "2", "MKL_C": "3"})) == ["CUDA_A", "MKL_C", "OMP_B"]


def test_default_globs_cover_the_documented_families() -> None:
    assert set(redact.DEFAULT_ENV_GLOBS) >= {"CUDA_*", "MLFLOW_*", "OMP_*", "MKL_*", "PYTHONHASHSEED", "REPRISE_*"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--password", "x", "--epochs", "3"], ["--password", REDACTED, "--epochs", "3"]),
        (["--token=abc"], [f"--token={REDACTED}"]),
        (["--api-key", "k", "-v"], ["--api-key", REDACTED, "-v"]),
        (["--use-auth", "--fast"], ["--use-auth", "--fast"]),
        (["db.password=hunter2", "lr=0.1"], [f"db.password={REDACTED}", "lr=0.1"]),
        (["--db", "postgresql://u:pw@h/x"], ["--db", "postgresql://u:***@h/x"]),
        (["train.py", "-", "--"], ["train.py", "-", "--"]),
        (["--secret"], ["--secret"]),
    ],
    ids=[
        "flag-space-value",
        "flag-equals",
        "dashed-name",
        "switch-without-value",
        "assignment",
        "uri",
        "dashes",
        "last",
    ],
)
def test_redact_argv(argv: list[str], expected: list[str]) -> None:
    assert redact_argv(argv) == expected
