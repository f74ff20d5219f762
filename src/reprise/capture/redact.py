"""Redaction: secrets never leave the machine.

Everything Reprise records about a run's surroundings (environment variables, command lines, remote URLs, package
sources) passes through here first. The rules prefer over-redaction to a leak: a variable named ``KEYBOARD_LAYOUT``
loses its value, a ``GITHUB_TOKEN`` never shows it.

Example:
    >>> redact_uri("https://user:hunter2@example.com/repo.git")
    'https://user:***@example.com/repo.git'
    >>> redact_argv(["train.py", "--api-key", "abc", "--epochs=3"])
    ['train.py', '--api-key', '***', '--epochs=3']
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_ENV_GLOBS",
    "REDACTED",
    "is_secret_name",
    "redact_argv",
    "redact_env",
    "redact_uri",
]

#: What a secret value is replaced with.
REDACTED: Final = "***"

#: Environment variables recorded with every capture (fnmatch globs, case-sensitive); settings may add more.
DEFAULT_ENV_GLOBS: Final[tuple[str, ...]] = (
    "CUBLAS_*",
    "CUDA_*",
    "MKL_*",
    "MLFLOW_*",
    "OMP_*",
    "OPENBLAS_*",
    "PYTHONHASHSEED",
    "REPRISE_*",
)

# Substrings (upper case) that make a name secret-like. Over-redaction (KEYBOARD, AUTHOR) is accepted on purpose.
_SECRET_PARTS: Final = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "SIGNATURE",
)

# Query parameters that carry secrets under names too short to be caught by _SECRET_PARTS (Azure SAS `sig`, ...).
_SECRET_QUERY_NAMES: Final = frozenset({"sig", "pwd", "pass", "sas"})

# SSH-style schemes name a login, not a credential, in a userinfo without a password (ssh://git@github.com/...).
_LOGIN_SCHEMES: Final = frozenset({"ssh", "git+ssh", "ssh+git", "sftp"})

# A URI inside arbitrary text: scheme://, then everything up to whitespace or a quote/bracket that ends it.
_URI_RE: Final = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>[^\s\"'<>`]*)")

# An argument of the form NAME=value (Hydra overrides, `env`, make): the name is checked for secrets.
_ASSIGN_RE: Final = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)=(?P<value>.*)$", re.DOTALL)


def is_secret_name(name: str) -> bool:
    """Tell whether a variable, flag or parameter name looks like it holds a secret.

    Args:
        name: The name, in any case (``GITHUB_TOKEN``, ``api-key``, ``db.password``).

    Returns:
        True if the name contains TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE, KEY, CREDENTIAL, AUTH, PRIVATE or
        SIGNATURE, case-insensitively.

    Example:
        >>> is_secret_name("AWS_SECRET_ACCESS_KEY"), is_secret_name("OMP_NUM_THREADS")
        (True, False)
    """
    upper = name.upper()
    return any(part in upper for part in _SECRET_PARTS)


def redact_uri(text: str) -> str:
    """Replace the credentials of every URI found in ``text``.

    ``scheme://user:pass@host`` keeps the user and loses the password; a userinfo without a colon
    (``https://ghp_xxx@github.com``) is a token and is replaced whole, except for SSH-style schemes where it is a login
    name (``ssh://git@host``). Query parameters with secret-like names (``?token=...``) lose their values.

    Args:
        text: Any string: a URL, a command-line argument, a log line.

    Returns:
        The text with credentials replaced by ``***``; text without URIs comes back unchanged.

    Example:
        >>> redact_uri("postgresql://u:pw@db/x?sslmode=require&password=pw")
        'postgresql://u:***@db/x?sslmode=require&password=***'
    """
    if "://" not in text:
        return text
    return _URI_RE.sub(_redact_match, text)


def redact_env(environ: Mapping[str, str], patterns: Sequence[str] = ()) -> dict[str, str]:
    """Select the environment variables worth recording, with their secrets redacted.

    Args:
        environ: The environment (usually ``os.environ``).
        patterns: Extra fnmatch globs (case-sensitive) on top of :data:`DEFAULT_ENV_GLOBS`.

    Returns:
        The selected variables sorted by name: secret-named ones valued ``***``, the others with credentials inside
        URIs redacted.

    Example:
        >>> redact_env({"OMP_NUM_THREADS": "4", "MLFLOW_TRACKING_TOKEN": "t", "HOME": "/root"})
        {'MLFLOW_TRACKING_TOKEN': '***', 'OMP_NUM_THREADS': '4'}
    """
    globs = (*DEFAULT_ENV_GLOBS, *patterns)
    selected: dict[str, str] = {}
    for name in sorted(environ):
        if any(fnmatch.fnmatchcase(name, glob) for glob in globs):
            selected[name] = REDACTED if is_secret_name(name) else redact_uri(environ[name])
    return selected


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Redact the secret values in a command line.

    Handles ``--password x``, ``--token=x``, ``-api-key x`` style flags, ``NAME=value`` arguments with a secret-like
    name (``db.password=x``) and credentials inside URIs. A secret flag followed by something starting with ``-`` is
    taken as a switch without a value.

    Args:
        argv: The arguments, program name included or not.

    Returns:
        A new list of the same length with secrets replaced by ``***``.

    Example:
        >>> redact_argv(["--token=abc", "--db", "mysql://u:p@h/x"])
        ['--token=***', '--db', 'mysql://u:***@h/x']
    """
    redacted: list[str] = []
    expect_value = False
    for arg in argv:
        if expect_value and not arg.startswith("-"):
            redacted.append(REDACTED)
            expect_value = False
            continue
        expect_value = False
        if arg.startswith("-") and arg.lstrip("-"):
            name, eq, _ = arg.lstrip("-").partition("=")
            if is_secret_name(name):
                if eq:
                    redacted.append(arg[: arg.index("=") + 1] + REDACTED)
                else:
                    redacted.append(arg)
                    expect_value = True
                continue
        else:
            match = _ASSIGN_RE.match(arg)
            if match is not None and is_secret_name(match["name"]):
                redacted.append(f"{match['name']}={REDACTED}")
                continue
        redacted.append(redact_uri(arg))
    return redacted


def _redact_match(match: re.Match[str]) -> str:
    scheme, rest = match["scheme"], match["rest"]
    # The authority ends at the first /, ? or #; inside it the *last* @ separates userinfo from host, so an
    # unencoded @ in a password is still hidden.
    end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter)
        if found != -1:
            end = min(end, found)
    authority, tail = rest[:end], rest[end:]
    userinfo, at, host = authority.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if colon:
            userinfo = f"{user}:{REDACTED}" if password else userinfo
        elif scheme.lower() not in _LOGIN_SCHEMES and userinfo:
            userinfo = REDACTED
        authority = f"{userinfo}@{host}"
    return f"{scheme}://{authority}{_redact_query(tail)}"


def _redact_query(tail: str) -> str:
    query_at = tail.find("?")
    if query_at == -1:
        return tail
    path, query = tail[:query_at], tail[query_at + 1 :]
    query, hash_, fragment = query.partition("#")
    params = []
    for param in re.split(r"([&;])", query):
        name, eq, value = param.partition("=")
        secret = eq and value and (is_secret_name(name) or name.lower() in _SECRET_QUERY_NAMES)
        params.append(f"{name}={REDACTED}" if secret else param)
    return f"{path}?{''.join(params)}{hash_}{fragment}"
