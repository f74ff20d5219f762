from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprise.capture import redact
from reprise.capture.redact import (
    REDACTED,
    find_secrets,
    has_secret,
    is_secret_file,
    is_secret_name,
    redact_argv,
    redact_env,
    redact_output,
    redact_text,
    redact_uri,
)


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


# --- The content scanner. Samples are assembled at run time so that no scanner (ours or a code host's) flags
# --- this file itself; each holds its secret in `secret`, which must not survive redact_text.
_PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + "Ab12" * 8
_SAMPLES: dict[str, tuple[str, str, str]] = {
    # id: (text, secret, kind)
    "aws-access-key": (
        "aws_access_key_id = AKIA" + "Z7Q2B4N6M8P0R1S3",
        "AKIA" + "Z7Q2B4N6M8P0R1S3",
        "AWS access key id",
    ),
    "aws-sts-key": ("ASIA" + "Z7Q2B4N6M8P0R1S3", "ASIA" + "Z7Q2B4N6M8P0R1S3", "AWS access key id"),
    "github-ghp": ("git clone https://x/ --token ghp_" + "aB3d" * 9, "ghp_" + "aB3d" * 9, "GitHub token"),
    "github-gho": ("oauth: gho_" + "Zy9x" * 9, "gho_" + "Zy9x" * 9, "GitHub token"),
    "github-pat": ("GH=github_pat_" + "11AB2CD3E_" * 6, "github_pat_" + "11AB2CD3E_" * 6, "GitHub token"),
    "gitlab": ("CI_TOKEN: glpat-" + "xY1z-wV2u_" * 2, "glpat-" + "xY1z-wV2u_" * 2, "GitLab token"),
    "slack-bot": ("slack xoxb-" + "123456789012-abcDEF", "xoxb-" + "123456789012-abcDEF", "Slack token"),
    "slack-user": ("xoxp-" + "99-88-77-abcdef12", "xoxp-" + "99-88-77-abcdef12", "Slack token"),
    "google-api-key": (
        "maps(key='AIza" + "Sy" + "D1e2F3g4" * 4 + "h')",
        "AIza" + "Sy" + "D1e2F3g4" * 4 + "h",
        "Google API key",
    ),
    "huggingface": ("HF hf_" + "aBcDeFgHiJ" * 3 + "kL", "hf_" + "aBcDeFgHiJ" * 3 + "kL", "Hugging Face token"),
    "openai": ("client = OpenAI(api='sk-proj-" + "Ab1Cd2Ef3G" * 3 + "')", "sk-proj-" + "Ab1Cd2Ef3G" * 3, "API key"),
    "stripe": ("sk_live_" + "51HxYz" * 4, "sk_live_" + "51HxYz" * 4, "Stripe key"),
    "pem-rsa": (
        "x\n-----BEGIN RSA PRIVATE KEY-----\n" + _PEM_BODY + "\n-----END RSA PRIVATE KEY-----\ny",
        _PEM_BODY,
        "private key",
    ),
    "pem-openssh-unterminated": ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + _PEM_BODY, _PEM_BODY, "private key"),
    "jwt": (
        "token eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        "JWT",
    ),
    "bearer-header": ("Authorization: Bearer " + "abc123DEF456ghi789", "abc123DEF456ghi789", "HTTP credential"),
    "basic-header": ("Authorization: Basic " + "dXNlcjpwYXNzd29yZDE=", "dXNlcjpwYXNzd29yZDE=", "HTTP credential"),
    "password-assignment": ('DB_PASSWORD = "' + "hunter2hunter2" + '"', "hunter2hunter2", "secret assignment"),
    "secret-yaml": ("client_secret: " + "s3cr3t-v4lu3-xyz", "s3cr3t-v4lu3-xyz", "secret assignment"),
    "api-key-env": ("export API_KEY=" + "Zx81yQ0wP7vu", "Zx81yQ0wP7vu", "secret assignment"),
    "json-token": ('{"access_token": "' + "ya29.A0ARrdaM-b7" + '"}', "ya29.A0ARrdaM-b7", "secret assignment"),
    "service-account-key": (
        '{"type": "service_account", "private_key": "' + "-----BEGIN PRIVATE KEY-----\\n" + _PEM_BODY + '\\n"}',
        _PEM_BODY,
        "GCP service-account key",
    ),
    "url-password": ("see postgresql://app:" + "pw-9f8e7d" + "@db:5432/x", "pw-9f8e7d", "URL password"),
}


@pytest.mark.parametrize(("text", "secret", "kind"), list(_SAMPLES.values()), ids=list(_SAMPLES))
def test_every_format_is_found_and_redacted(text: str, secret: str, kind: str) -> None:
    assert kind in {finding.kind for finding in find_secrets(text)}
    assert has_secret(text)
    out = redact_text(text)
    assert secret not in out
    assert REDACTED in out
    assert out.count("\n") == text.count("\n")  # a diff hunk keeps its length


def test_a_finding_says_where_but_is_not_the_secret() -> None:
    text = "key: AKIA" + "Z7Q2B4N6M8P0R1S3" + " end"
    (finding,) = find_secrets(text)
    assert text[finding.start : finding.end] == "AKIA" + "Z7Q2B4N6M8P0R1S3"
    assert "AKIA" not in repr(finding.kind)


_INNOCENT = {
    "form-field": 'password_field = form.get("password")',
    "settings-attr": "token = settings.API_TOKEN",
    "environ-lookup": 'hf_token = os.environ["HF_TOKEN"]',
    "call": "password = getpass.getpass()",
    "annotation": "api_key: str | None = None",
    "placeholder": 'password = "${DB_PASSWORD}"',
    "template": 'url = f"{scheme}://{host}/{path}"',
    "prose-word": 'label = "Enter your password"',
    "schema-word": '"password": "required"',
    "tokenizer": 'tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")',
    "max-tokens": "max_new_tokens: 512",
    "uv-lock-hash": 'sdist = { url = "https://files.pythonhosted.org/x.tar.gz", hash = "sha256:'
    + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    + '" }',
    "npm-integrity": '"integrity": "sha512-' + "Q2xVd3o1ZW5rZXlzMTIz" * 4 + '=="',
    "git-sha": "commit 4c7db37c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a",
    "uuid": "run_id = 6011e085dbaa4c12b2de2cdff98a8dc9",
    "public-key": "-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----",
    "bearer-prose": "# uses Bearer authentication against the API",
    "ssh-url": "ssh://git@github.com/o/r.git",
    "short-sk": "risk-adjusted task-scheduler",
    "plain-url": "https://example.com/path?x=1",
}


@pytest.mark.parametrize("text", list(_INNOCENT.values()), ids=list(_INNOCENT))
def test_ordinary_code_and_hashes_are_not_secrets(text: str) -> None:
    assert find_secrets(text) == []
    assert redact_text(text) == text


@given(
    picks=st.lists(st.sampled_from(sorted(_SAMPLES)), min_size=1, max_size=5),
    fillers=st.lists(st.sampled_from(sorted(_INNOCENT)), max_size=5),
    separator=st.sampled_from(["\n", "\r\n", " ", "\t", "; "]),
)
def test_mixed_text_keeps_its_lines_and_loses_every_secret(
    picks: list[str], fillers: list[str], separator: str
) -> None:
    text = separator.join([*(_SAMPLES[pick][0] for pick in picks), *(_INNOCENT[name] for name in fillers)])
    out = redact_text(text)
    assert out.count("\n") == text.count("\n")
    for pick in picks:
        assert _SAMPLES[pick][1] not in out
    assert redact_text(out) == out


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("credentials.json", True),
        ("secrets.yaml", True),
        ("conf/service-account.json", True),
        ("my-gcp-service_account.json", True),
        ("client_secret_123.apps.googleusercontent.com.json", True),
        (".env", True),
        ("deploy/.env.production", True),
        ("prod.env", True),
        ("certs/server.pem", True),
        ("tls.key", True),
        ("keys/id_ed25519", True),
        (".aws/credentials", True),
        ("home/.ssh/config", True),
        (".git-credentials", True),
        ("infra/terraform.tfstate", True),
        ("token.json", True),
        ("DB_PASSWORDS.TXT", True),
        ("tokenizer.json", False),
        ("tokenizer_config.json", False),
        ("test_secrets.py", False),
        ("secret_santa.py", False),
        ("keyboard.json", False),
        ("train.py", False),
        ("params.yaml", False),
        ("uv.lock", False),
        ("environment.yml", False),
    ],
    ids=str,
)
def test_is_secret_file(path: str, expected: bool) -> None:
    assert is_secret_file(path) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tokenizer", False),
        ("tokenizer_name", False),
        ("max-new-tokens", False),
        ("num_tokens", False),
        ("pad_token_id", False),
        ("eos-token", False),
        ("hf_token", True),
        ("api_tokens", True),
        ("auth-token", True),
        ("tokenizer_api_key", True),
    ],
    ids=str,
)
def test_tokenizer_vocabulary_is_not_a_secret_name(name: str, expected: bool) -> None:
    assert is_secret_name(name) is expected


_GHP = "ghp_" + "aB3d" * 9


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-k", "s3cret"], ["-k", REDACTED]),
        (["-k=s3cret"], [f"-k={REDACTED}"]),
        (["--key", "s3cret"], ["--key", REDACTED]),
        (["--header", "Authorization: Bearer abc123DEF"], ["--header", f"Authorization: {REDACTED}"]),
        (["-H", "X-Api-Key: abc"], ["-H", f"X-Api-Key: {REDACTED}"]),
        (["-H", "Cookie: session=abc"], ["-H", f"Cookie: {REDACTED}"]),
        (["--header=Authorization: token abc"], [f"--header=Authorization: {REDACTED}"]),
        (["-H", "Accept: application/json"], ["-H", "Accept: application/json"]),
        (["-u", "bob:pw123"], ["-u", f"bob:{REDACTED}"]),
        (["--user=bob:pw123"], [f"--user=bob:{REDACTED}"]),
        (["python", "-u", "train.py"], ["python", "-u", "train.py"]),
        (["push", _GHP], ["push", REDACTED]),
        (["--note", f"use {_GHP} here"], ["--note", f"use {REDACTED} here"]),
        (["-c", 'KEY = "AKIA' + 'Z7Q2B4N6M8P0R1S3"'], ["-c", f'KEY = "{REDACTED}"']),
        (["--tokenizer", "bert-base", "--max-new-tokens", "5"], ["--tokenizer", "bert-base", "--max-new-tokens", "5"]),
        (["-p", "8080", "--port", "9"], ["-p", "8080", "--port", "9"]),
        (["--set=db.password=x"], [f"--set=db.password={REDACTED}"]),
        (["-k", "-v"], ["-k", "-v"]),
    ],
    ids=[
        "short-k",
        "short-k-equals",
        "key",
        "authorization-header",
        "api-key-header",
        "cookie-header",
        "header-equals",
        "innocent-header",
        "curl-user",
        "curl-user-equals",
        "python-unbuffered",
        "positional-token",
        "token-inside-text",
        "key-in-code",
        "tokenizer-flags-kept",
        "port-kept",
        "assignment-in-flag-value",
        "short-k-switch",
    ],
)
def test_redact_argv_names_headers_and_content(argv: list[str], expected: list[str]) -> None:
    assert redact_argv(argv) == expected


def test_redact_env_scans_values_too() -> None:
    env = {"OMP_NOTE": f"push with {_GHP}", "MLFLOW_TRACKING_URI": "https://u:pw@h", "OMP_NUM_THREADS": "4"}
    assert redact_env(env) == {
        "MLFLOW_TRACKING_URI": f"https://u:{REDACTED}@h",
        "OMP_NOTE": f"push with {REDACTED}",
        "OMP_NUM_THREADS": "4",
    }


def test_redact_output_masks_echoed_command_line_secrets() -> None:
    argv = ["train.py", "-k", "plain-s3cret", "--token=tok-value-1", "--epochs", "3", "--password", "abc"]
    printed = (
        "Namespace(k='plain-s3cret', token='tok-value-1', epochs=3, password='abc')\nkey AKIA" + "Z7Q2B4N6M8P0R1S3"
    )
    out = redact_output(printed, argv)
    assert "plain-s3cret" not in out
    assert "tok-value-1" not in out
    assert "AKIA" not in out
    assert "epochs=3" in out
    assert "password='abc'" in out  # under 4 characters: masking every "abc" would garble the output
