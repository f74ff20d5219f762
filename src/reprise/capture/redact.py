"""Redaction: secrets never leave the machine.

Everything Reprise records about a run's surroundings (environment variables, command lines, remote URLs, package
sources, the uncommitted code change) passes through the one scanner in this module first. It spots a secret two
ways:

- **by name**: :func:`is_secret_name` for variables, flags, parameters and headers (``GITHUB_TOKEN``, ``--api-key``,
  ``Authorization``), :func:`is_secret_file` for credential-like file names (``credentials.json``, ``secrets.yaml``,
  ``service-account.json``, ``.env``, ``*.pem``);
- **by content**: :func:`find_secrets` for well-known token formats wherever they appear (AWS access key ids, GitHub,
  GitLab, Slack, Hugging Face, OpenAI and Stripe tokens, Google API keys, PEM private keys, JWTs, ``Bearer``/``Basic``
  credentials, GCP service-account keys, ``password=``/``secret:``/``api_key`` assignments with a random-looking value,
  and credentials inside URLs).

The rules prefer over-redaction to a leak: a variable named ``KEYBOARD_LAYOUT`` loses its value, a ``GITHUB_TOKEN``
never shows it. Names that are common in ML code and never secret (``--tokenizer``, ``max_new_tokens``,
``pad_token``) are the exception, because a redacted command cannot be replayed. Content rules are kept narrow so that
ordinary code (``password_field = form.get("password")``) and hashes in lock files are left alone.

Example:
    >>> redact_uri("https://user:hunter2@example.com/repo.git")
    'https://user:***@example.com/repo.git'
    >>> redact_argv(["train.py", "--api-key", "abc", "--epochs=3"])
    ['train.py', '--api-key', '***', '--epochs=3']
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "DEFAULT_ENV_GLOBS",
    "Finding",
    "REDACTED",
    "SECRET_FILE_GLOBS",
    "find_secrets",
    "has_secret",
    "is_secret_file",
    "is_secret_name",
    "redact_argv",
    "redact_env",
    "redact_output",
    "redact_text",
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

#: File names (fnmatch on the lower-cased base name) that usually hold credentials, whatever their content.
SECRET_FILE_GLOBS: Final[tuple[str, ...]] = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p8",
    "*.p12",
    "*.pfx",
    "*.ppk",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    ".htpasswd",
    ".dockercfg",
    "credentials",
    "credentials.*",
    "token.json",
    "token.pickle",
    "*.tfvars",
    "*.tfstate",
    "*.tfstate.*",
    "kubeconfig",
    "*.kubeconfig",
)

# Paths (fnmatch on the lower-cased relative path; `*` crosses folders) of well-known credential folders.
_SECRET_PATH_GLOBS: Final = (
    ".ssh/*",
    "*/.ssh/*",
    ".aws/*",
    "*/.aws/*",
    ".gnupg/*",
    "*/.gnupg/*",
    ".docker/config.json",
    "*/.docker/config.json",
    ".kube/config",
    "*/.kube/config",
)

# A data or configuration file (not code) whose name holds one of these words is taken as a credential file.
_SECRET_FILE_WORDS: Final = (
    "credential",
    "secret",
    "password",
    "passwd",
    "service-account",
    "service_account",
    "serviceaccount",
    "apikey",
    "api_key",
    "api-key",
    "private-key",
    "private_key",
)
_CONFIG_SUFFIXES: Final = frozenset(
    {"", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".config", ".txt", ".properties", ".xml"}
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

# Name parts that contain a secret part but are everyday ML vocabulary: tokenizers, token counts, special tokens.
_BENIGN_NAME_PARTS: Final = re.compile(
    r"TOKENI[SZ][A-Z]*|(?:MAX|MIN|NUM|N|TOTAL)_(?:[A-Z0-9]+_)*TOKENS|(?:PAD|EOS|BOS|UNK|SEP|CLS|MASK)_?TOKEN"
)

# Echoed command-line secrets shorter than this are not masked in output (too likely to be ordinary text).
_MIN_ECHOED: Final = 4

# Short flags taken as "a secret follows" (`-p` is left alone: it is a port as often as a password).
_SECRET_SHORT_FLAGS: Final = frozenset({"k"})

# What a flag says of the argument after it: a secret, or `user:password` (its password is the secret).
_FlagKind = Literal["secret", "userinfo"]

# Flags whose value is `user:password` (curl -u, --proxy-user): the part after the first colon is the secret.
_USERINFO_FLAGS: Final = frozenset({"u", "user", "proxy-user"})

# Header names that carry credentials without a secret part in their name.
_SECRET_HEADERS: Final = frozenset({"cookie", "set-cookie"})

# Query parameters that carry secrets under names too short to be caught by _SECRET_PARTS (Azure SAS `sig`, ...).
_SECRET_QUERY_NAMES: Final = frozenset({"sig", "pwd", "pass", "sas"})

# SSH-style schemes name a login, not a credential, in a userinfo without a password (ssh://git@github.com/...).
_LOGIN_SCHEMES: Final = frozenset({"ssh", "git+ssh", "ssh+git", "sftp"})

# A URI inside arbitrary text: scheme://, then everything up to whitespace or a quote/bracket that ends it.
_URI_RE: Final = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>[^\s\"'<>`]*)")

# An argument of the form NAME=value (Hydra overrides, `env`, make): the name is checked for secrets.
_ASSIGN_RE: Final = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)=(?P<value>.*)$", re.DOTALL)

# An argument of the form `Name: value` (curl -H, httpie): an HTTP header.
_HEADER_RE: Final = re.compile(r"^\s*(?P<name>[A-Za-z][A-Za-z0-9_\-]*)\s*:\s*(?P<value>\S.*)$", re.DOTALL)

# Token formats. A pattern with a `secret` group masks only that group (the `Bearer ` prefix, the name stay).
_TOKEN_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "private key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*)",
            re.DOTALL,
        ),
    ),
    (
        "AWS access key id",
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ),
    (
        "GitHub token",
        re.compile(
            r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?![A-Za-z0-9])"
        ),
    ),
    ("GitLab token", re.compile(r"(?<![A-Za-z0-9_\-])glpat-[A-Za-z0-9_\-]{20,}")),
    ("Slack token", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9\-]{10,}")),
    ("Slack webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]{20,}")),
    ("Google API key", re.compile(r"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])")),
    ("Hugging Face token", re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9])")),
    ("Stripe key", re.compile(r"(?<![A-Za-z0-9_])(?:sk|rk)_live_[A-Za-z0-9]{16,}")),
    ("JWT", re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*")),
    (
        "GCP service-account key",
        re.compile(r"\"private_key\"\s*:\s*\"(?P<secret>[^\"\n]{8,})\"|\"type\"\s*:\s*\"(?P<sa>service_account)\""),
    ),
)

# Formats that also occur in ordinary text: kept only when the value looks random (see _is_random).
_CHECKED_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("API key", re.compile(r"(?<![A-Za-z0-9_\-])(?P<secret>sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,})")),
    ("HTTP credential", re.compile(r"(?i)(?<![A-Za-z0-9])(?:bearer|basic)\s+(?P<secret>[A-Za-z0-9._~+/=\-]{8,})")),
    (
        "secret assignment",
        re.compile(
            r"(?i)(?:password|passwd|passphrase|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key)"
            r"[\"']?[ \t]*(?::=|=>|[:=])[ \t]*"
            r"(?:(?P<q>[\"'])(?P<secret>[^\"'\s]{8,})(?P=q)|(?P<bare>[^\s\"'`,;()\[\]{}<>]{8,})(?=[\s,;]|$))",
            re.MULTILINE,
        ),
    ),
)


# Substrings (lower case) without which a pattern cannot match: a plain `in` test skips most patterns on most texts
# (measured: 5 MiB of CSV in 0.1 s, 5 MiB of Python source, where "key" and "://" abound, in 1 s).
_HINTS: Final[dict[str, tuple[str, ...]]] = {
    "private key": ("private key",),
    "AWS access key id": ("akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "aroa", "apka"),
    "GitHub token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "GitLab token": ("glpat-",),
    "Slack token": ("xox",),
    "Slack webhook": ("hooks.slack.com",),
    "Google API key": ("aiza",),
    "Hugging Face token": ("hf_",),
    "Stripe key": ("_live_",),
    "JWT": ("eyj",),
    "GCP service-account key": ('"private_key"', '"type"'),
    "API key": ("sk-",),
    "HTTP credential": ("bearer", "basic"),
    "secret assignment": ("pass", "secret", "token", "key"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """A secret found in a text: what kind it is and where (never the secret itself).

    Attributes:
        kind: What was found ("AWS access key id", "private key", "URL password", ...).
        start: Index of its first character in the scanned text.
        end: Index just after its last character.
    """

    kind: str
    start: int
    end: int


def is_secret_name(name: str) -> bool:
    """Tell whether a variable, flag, parameter or header name looks like it holds a secret.

    Args:
        name: The name, in any case (``GITHUB_TOKEN``, ``api-key``, ``db.password``, ``Authorization``).

    Returns:
        True if the name contains TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE, KEY, CREDENTIAL, AUTH, PRIVATE or
        SIGNATURE, case-insensitively, other than as tokenizer vocabulary (``tokenizer``, ``max_new_tokens``,
        ``pad_token_id``).

    Example:
        >>> is_secret_name("AWS_SECRET_ACCESS_KEY"), is_secret_name("OMP_NUM_THREADS"), is_secret_name("tokenizer")
        (True, False, False)
    """
    upper = _BENIGN_NAME_PARTS.sub("_", re.sub(r"[\-.\s]", "_", name.upper()))
    return any(part in upper for part in _SECRET_PARTS)


def is_secret_file(path: str) -> bool:
    """Tell whether a file's name or place says it holds credentials, without reading it.

    Args:
        path: A relative path with ``/`` separators, or a bare file name.

    Returns:
        True for names in :data:`SECRET_FILE_GLOBS`, files in credential folders (``.ssh/``, ``.aws/``), and data or
        configuration files (not code) whose name holds a word such as ``secret``, ``credential`` or
        ``service-account``.

    Example:
        >>> is_secret_file("conf/secrets.yaml"), is_secret_file("tokenizer.json"), is_secret_file("test_secrets.py")
        (True, False, False)
    """
    lowered = path.lower()
    name = lowered.rsplit("/", 1)[-1]
    if any(fnmatch.fnmatchcase(name, glob) for glob in SECRET_FILE_GLOBS):
        return True
    if any(fnmatch.fnmatchcase(lowered, glob) for glob in _SECRET_PATH_GLOBS):
        return True
    stem, dot, suffix = name[1:].rpartition(".")
    stem, suffix = (name[0] + stem, f".{suffix}") if dot else (name, "")
    return suffix in _CONFIG_SUFFIXES and any(word in stem for word in _SECRET_FILE_WORDS)


def find_secrets(text: str) -> list[Finding]:
    """Find the secrets in a text by their content.

    Args:
        text: Any text: a file, a diff, a command-line argument, an environment value.

    Returns:
        The findings in order of position, overlapping ones merged (the first kind wins).

    Example:
        >>> [f.kind for f in find_secrets("key = AKIA" + "ABCDEFGHIJKLMNOP")]
        ['AWS access key id']
    """
    found = sorted(_iter_findings(text), key=lambda finding: (finding.start, -finding.end))
    merged: list[Finding] = []
    for finding in found:
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Finding(last.kind, last.start, max(last.end, finding.end))
        else:
            merged.append(finding)
    return merged


def has_secret(text: str) -> bool:
    """Tell whether :func:`find_secrets` finds anything in ``text``.

    Example:
        >>> has_secret('password_field = form.get("password")')
        False
    """
    return any(True for _ in _iter_findings(text))


def redact_text(text: str) -> str:
    """Replace every secret :func:`find_secrets` finds in ``text`` with ``***``.

    A secret spread over several lines (a PEM block) becomes one ``***`` per line, so the text keeps its line count
    (a redacted diff hunk still has the length its header says).

    Args:
        text: Any text.

    Returns:
        The text with its secrets replaced; text without secrets comes back unchanged.

    Example:
        >>> redact_text("curl -H 'Authorization: Bearer abc123def456'")
        "curl -H 'Authorization: Bearer ***'"
    """
    return _mask(text, find_secrets(text))


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
    return _mask(text, list(_uri_findings(text)))


def redact_env(environ: Mapping[str, str], patterns: Sequence[str] = ()) -> dict[str, str]:
    """Select the environment variables worth recording, with their secrets redacted.

    Args:
        environ: The environment (usually ``os.environ``).
        patterns: Extra fnmatch globs (case-sensitive) on top of :data:`DEFAULT_ENV_GLOBS`.

    Returns:
        The selected variables sorted by name: secret-named ones valued ``***``, the others with any secret the
        content scanner finds (URI credentials, tokens) replaced.

    Example:
        >>> redact_env({"OMP_NUM_THREADS": "4", "MLFLOW_TRACKING_TOKEN": "t", "HOME": "/root"})
        {'MLFLOW_TRACKING_TOKEN': '***', 'OMP_NUM_THREADS': '4'}
    """
    globs = (*DEFAULT_ENV_GLOBS, *patterns)
    selected: dict[str, str] = {}
    for name in sorted(environ):
        if any(fnmatch.fnmatchcase(name, glob) for glob in globs):
            selected[name] = REDACTED if is_secret_name(name) else redact_text(environ[name])
    return selected


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Redact the secret values in a command line.

    Handles ``--password x``, ``--token=x``, ``-api-key x`` and ``-k x`` style flags, ``NAME=value`` arguments with
    a secret-like name (``db.password=x``), header arguments (``Authorization: Bearer x``, ``X-Api-Key: x``),
    ``-u user:password``, and anything the content scanner finds in any argument (tokens, keys, URI credentials). A
    secret flag followed by something starting with ``-`` is taken as a switch without a value.

    Args:
        argv: The arguments, program name included or not.

    Returns:
        A new list of the same length with secrets replaced by ``***``.

    Example:
        >>> redact_argv(["--token=abc", "--db", "mysql://u:p@h/x", "-H", "Authorization: Bearer abc123def456"])
        ['--token=***', '--db', 'mysql://u:***@h/x', '-H', 'Authorization: ***']
    """
    redacted: list[str] = []
    pending: _FlagKind | None = None  # what the previous flag says this argument is
    for arg in argv:
        if pending is not None and not arg.startswith("-"):
            redacted.append(REDACTED if pending == "secret" else _redact_userinfo(arg))
            pending = None
            continue
        pending = None
        if arg.startswith("-") and arg.lstrip("-"):
            name, eq, value = arg.lstrip("-").partition("=")
            kind = _flag_kind(name, short=not arg.startswith("--"))
            prefix = arg[: len(arg) - len(value)] if eq else arg
            if kind == "secret":
                redacted.append(prefix + REDACTED if eq else arg)
            elif kind == "userinfo":
                redacted.append(prefix + _redact_userinfo(value) if eq else arg)
            else:
                redacted.append(prefix + _redact_value(value) if eq else redact_text(arg))
            pending = None if eq else kind
            continue
        redacted.append(_redact_value(arg))
    return redacted


def redact_output(text: str, argv: Sequence[str] = ()) -> str:
    """Redact what a command printed: its command-line secrets wherever it echoes them, and all the scanner finds.

    A training script that prints its arguments (``Namespace(api_key='...')``) repeats the very values
    :func:`redact_argv` took out of the recorded command; they are masked here by their literal text (values shorter
    than 4 characters are left alone, masking those everywhere would garble the output), then :func:`redact_text` runs.

    Args:
        text: The output (stdout, a log).
        argv: The command line that produced it, unredacted.

    Returns:
        The output with secrets replaced by ``***``.

    Example:
        >>> redact_output("Namespace(k='hunter2!')", ["train.py", "-k", "hunter2!"])
        "Namespace(k='***')"
    """
    values = {_removed(arg, red) for arg, red in zip(argv, redact_argv(argv), strict=True) if arg != red}
    for value in sorted((value for value in values if len(value) >= _MIN_ECHOED), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return redact_text(text)


def _removed(original: str, redacted: str) -> str:
    """The part of ``original`` that redaction replaced: what lies between the prefix and suffix both share."""
    prefix = _shared(original, redacted)
    suffix = _shared(original[prefix:][::-1], redacted[prefix:][::-1])
    return original[prefix : len(original) - suffix]


def _shared(first: str, second: str) -> int:
    """Length of the longest common prefix."""
    shortest = min(len(first), len(second))
    return next((i for i in range(shortest) if first[i] != second[i]), shortest)


def _flag_kind(name: str, *, short: bool) -> _FlagKind | None:
    if short and name in _SECRET_SHORT_FLAGS:
        return "secret"
    if name in _USERINFO_FLAGS:
        return "userinfo"
    return "secret" if is_secret_name(name) else None


def _redact_userinfo(value: str) -> str:
    user, colon, password = value.partition(":")
    return f"{user}:{REDACTED}" if colon and password else redact_text(value)


def _redact_value(value: str) -> str:
    """A free argument or a flag's value: an assignment or a header with a secret name, else the content scanner."""
    assignment = _ASSIGN_RE.match(value)
    if assignment is not None and is_secret_name(assignment["name"]):
        return f"{assignment['name']}={REDACTED}"
    header = _HEADER_RE.match(value)
    if header is not None and (is_secret_name(header["name"]) or header["name"].lower() in _SECRET_HEADERS):
        return value[: header.start("value")] + REDACTED
    return redact_text(value)


def _iter_findings(text: str) -> Iterator[Finding]:
    lowered = text.lower()
    for kind, pattern in _TOKEN_PATTERNS:
        if not any(hint in lowered for hint in _HINTS[kind]):
            continue
        for match in pattern.finditer(text):
            group = next((name for name, value in match.groupdict().items() if value is not None), 0)
            yield Finding(kind, match.start(group), match.end(group))
    for kind, pattern in _CHECKED_PATTERNS:
        if not any(hint in lowered for hint in _HINTS[kind]):
            continue
        for match in pattern.finditer(text):
            group = "bare" if match.groupdict().get("bare") is not None else "secret"
            if _is_random(match[group], bare=group == "bare"):
                yield Finding(kind, match.start(group), match.end(group))
    if "://" in text:
        yield from _uri_findings(text)


def _is_random(value: str, *, bare: bool) -> bool:
    """A value that looks generated rather than written: mixed character classes, no placeholder syntax.

    A bare (unquoted) value must hold a digit and a letter, so code such as ``token = settings.API_TOKEN`` or
    ``password: required`` is not taken for a secret.
    """
    if value[0] in "$%{<*" or value.startswith(REDACTED):
        return False
    lower, upper, digit = (any(test(c) for c in value) for test in (str.islower, str.isupper, str.isdigit))
    if bare:
        return digit and (lower or upper)
    return lower + upper + digit >= 2


def _uri_findings(text: str) -> Iterator[Finding]:
    for match in _URI_RE.finditer(text):
        scheme, rest, offset = match["scheme"], match["rest"], match.start("rest")
        # The authority ends at the first /, ? or #; inside it the *last* @ separates userinfo from host, so an
        # unencoded @ in a password is still hidden.
        end = len(rest)
        for delimiter in "/?#":
            found = rest.find(delimiter)
            if found != -1:
                end = min(end, found)
        userinfo, at, _ = rest[:end].rpartition("@")
        if at:
            user, colon, password = userinfo.partition(":")
            if colon and password:
                yield Finding("URL password", offset + len(user) + 1, offset + len(userinfo))
            elif not colon and userinfo and scheme.lower() not in _LOGIN_SCHEMES:
                yield Finding("URL token", offset, offset + len(userinfo))
        yield from _query_findings(rest, end, offset)


def _query_findings(rest: str, authority_end: int, offset: int) -> Iterator[Finding]:
    query_at = rest.find("?", authority_end)
    if query_at == -1:
        return
    query = rest[query_at + 1 :].partition("#")[0]
    position = offset + query_at + 1
    for param in re.split(r"([&;])", query):
        name, eq, value = param.partition("=")
        if eq and value and (is_secret_name(name) or name.lower() in _SECRET_QUERY_NAMES):
            start = position + len(name) + 1
            yield Finding("URL secret parameter", start, start + len(value))
        position += len(param)


def _mask(text: str, findings: Sequence[Finding]) -> str:
    if not findings:
        return text
    pieces: list[str] = []
    cursor = 0
    for finding in sorted(findings, key=lambda f: f.start):
        start = max(finding.start, cursor)  # an overlap with the previous finding is masked once
        if finding.end <= start:
            continue
        pieces.append(text[cursor:start])
        pieces.append(_mask_lines(text[start : finding.end]))
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _mask_lines(secret: str) -> str:
    """One ``***`` per line of the secret; line endings (LF, CRLF) and blank lines are kept."""
    lines = secret.split("\n")
    return "\n".join(line if not line.strip() else REDACTED + ("\r" if line.endswith("\r") else "") for line in lines)
