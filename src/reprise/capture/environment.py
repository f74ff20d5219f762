"""Environment capture: what a run ran on, exactly enough to rebuild it and to explain a difference.

:func:`capture_environment` records the installed packages (the lock Reprise trusts, more exact than MLflow's
inferred requirements), Python, OS, CPU, memory, GPUs, the BLAS/OpenMP libraries loaded in this process and the
relevant environment variables (secrets redacted by :mod:`reprise.capture.redact`). :func:`write_capture` and
:func:`load_capture` move it to and from a folder (``requirements.txt``, ``system_info.json``,
``conda_packages.txt``); :func:`diff_environments` says what differs between two captures.

Conda packages are read from ``$CONDA_PREFIX/conda-meta`` (the same ``name=version=build`` lines as
``conda list --export``, without its seconds of startup); outside conda they are None.

The digest covers identity only (packages, Python, OS family and machine); hostnames, timestamps, memory and
environment variables are recorded but never hashed.

Example:
    >>> env = capture_environment()                     # doctest: +SKIP
    >>> env.digest()                                     # doctest: +SKIP
    'sha256:9f2c...'
    >>> write_capture(env, Path("env"))                  # doctest: +SKIP
    [PosixPath('env/requirements.txt'), PosixPath('env/system_info.json')]
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reprise._canonical import digest, write_atomic
from reprise.capture.redact import redact_env, redact_uri
from reprise.errors import CaptureError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "BlasLibrary",
    "CpuInfo",
    "Environment",
    "EnvironmentDiff",
    "FieldChange",
    "Gpu",
    "Package",
    "PackageChange",
    "PlatformInfo",
    "PythonInfo",
    "capture_environment",
    "diff_environments",
    "load_capture",
    "write_capture",
]

_REQUIREMENTS_FILE: Final = "requirements.txt"
_SYSTEM_INFO_FILE: Final = "system_info.json"
_CONDA_FILE: Final = "conda_packages.txt"

_NVIDIA_TIMEOUT: Final = 5.0
_EDITABLE_MARK: Final = "# editable"
_NAME_RUN_RE: Final = re.compile(r"[-_.]+")
_PIN_RE: Final = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)$")
_DIRECT_RE: Final = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) @ (?P<source>\S+)$")
_CUDA_RE: Final = re.compile(r"CUDA Version:\s*([0-9.]+)")
_FROZEN: Final = ConfigDict(frozen=True, extra="forbid")


def _portable_source(package: Package) -> str | None:
    if package.source is None or package.editable or package.source.startswith("file:"):
        return None
    return package.source


def _normalize(name: str) -> str:
    """PEP 503 normalisation: lower case, runs of ``-_.`` become one ``-``."""
    return _NAME_RUN_RE.sub("-", name).lower()


class Package(BaseModel):
    """One installed distribution.

    Attributes:
        name: PEP 503 normalised project name.
        version: Installed version.
        source: Where a local, editable or VCS install came from (``file:///...``, ``git+https://...@<commit>``),
            credentials redacted; None for an ordinary index install.
        editable: Installed in editable (develop) mode.
    """

    model_config = _FROZEN

    name: str
    version: str
    source: str | None = None
    editable: bool = False

    @field_validator("name")
    @classmethod
    def _normalize_name(cls, value: str) -> str:
        return _normalize(value)

    def requirement(self) -> str:
        """Return the requirement line that reinstalls this package (``name==version`` or ``name @ source``)."""
        return f"{self.name} @ {self.source}" if self.source else f"{self.name}=={self.version}"


class PythonInfo(BaseModel):
    """The interpreter: ``version`` and ``implementation`` are identity, ``executable`` is incidental."""

    model_config = _FROZEN

    version: str
    implementation: str
    executable: str


class PlatformInfo(BaseModel):
    """The operating system: kernel family and release, machine architecture, C library, distribution name."""

    model_config = _FROZEN

    system: str
    release: str
    machine: str
    libc: str | None = None
    distro: str | None = None


class CpuInfo(BaseModel):
    """The CPU model name and its logical and physical core counts (None when not cheaply known)."""

    model_config = _FROZEN

    model: str | None = None
    logical_count: int | None = None
    physical_count: int | None = None


class Gpu(BaseModel):
    """One NVIDIA GPU as ``nvidia-smi`` reports it."""

    model_config = _FROZEN

    name: str
    driver_version: str | None = None
    memory_total: str | None = None


class BlasLibrary(BaseModel):
    """A BLAS or OpenMP library loaded in the capturing process (from threadpoolctl)."""

    model_config = _FROZEN

    user_api: str
    internal_api: str
    version: str | None = None
    num_threads: int | None = None
    prefix: str
    architecture: str | None = None


class Environment(BaseModel):
    """Everything about the machine and interpreter a run used.

    Attributes:
        python: Interpreter version, implementation and executable.
        platform: OS family, release, architecture, libc and distribution.
        cpu: CPU model and core counts.
        memory_bytes: Physical memory, None when unknown.
        gpus: NVIDIA GPUs found by ``nvidia-smi`` (empty without it).
        cuda_version: CUDA version from ``nvidia-smi`` or an already imported torch, else None.
        blas: BLAS/OpenMP libraries loaded in the capturing process.
        conda_packages: ``name=version=build`` lines of the active conda environment, None outside conda.
        env_vars: Selected environment variables, secrets redacted.
        packages: Installed distributions, sorted by name.
        hostname: The machine's name (incidental).
        captured_at: When the capture was taken (incidental).
    """

    model_config = _FROZEN

    python: PythonInfo
    platform: PlatformInfo
    cpu: CpuInfo
    memory_bytes: int | None = None
    gpus: list[Gpu] = Field(default_factory=list)
    cuda_version: str | None = None
    blas: list[BlasLibrary] = Field(default_factory=list)
    conda_packages: list[str] | None = None
    env_vars: dict[str, str] = Field(default_factory=dict)
    packages: tuple[Package, ...] = ()
    hostname: str = ""
    captured_at: datetime

    def digest(self) -> str:
        """Return the identity digest: packages, Python version/implementation and OS system/machine only.

        Returns:
            ``sha256:<hex>``; two captures of one environment on different hosts or days give the same value.
        """
        identity = {
            # A local path (the project installed editable from its checkout) is where, not what: the code's
            # identity is the git commit, so a reproduction in another worktree keeps the same digest.
            "packages": sorted([p.name, p.version, _portable_source(p)] for p in self.packages),
            "python": [self.python.version, self.python.implementation],
            "platform": [self.platform.system, self.platform.machine],
        }
        return digest(identity)

    def requirements_txt(self) -> str:
        """Render the packages as a pip/uv requirements file, one exact pin per line, sorted by name.

        Direct references (editable, local, VCS) are written ``name @ source`` after a ``# name==version`` comment,
        itself after ``# editable`` for editable installs, so :func:`load_capture` can read the version back.

        Returns:
            The file's text, ending with a newline.
        """
        lines = [f"# Python {self.python.version} ({self.python.implementation}), captured by reprise"]
        for package in sorted(self.packages, key=lambda p: p.name):
            if package.source:
                if package.editable:
                    lines.append(_EDITABLE_MARK)
                lines.append(f"# {package.name}=={package.version}")
            lines.append(package.requirement())
        return "\n".join(lines) + "\n"

    def system_info(self) -> dict[str, Any]:
        """Return everything except the packages as JSON-ready data.

        Returns:
            A dict of plain JSON values (timestamps as ISO strings).
        """
        return self.model_dump(mode="json", exclude={"packages"})


class PackageChange(BaseModel):
    """A package present on both sides with a different version, source or editable flag."""

    model_config = _FROZEN

    name: str
    old: Package
    new: Package


class FieldChange(BaseModel):
    """One system field that differs; ``None`` on a side where it is absent."""

    model_config = _FROZEN

    field: str
    old: str | None
    new: str | None


class EnvironmentDiff(BaseModel):
    """What differs between two environments, sorted by name or field so output is deterministic."""

    model_config = _FROZEN

    packages_added: list[Package] = Field(default_factory=list)
    packages_removed: list[Package] = Field(default_factory=list)
    packages_changed: list[PackageChange] = Field(default_factory=list)
    fields: list[FieldChange] = Field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when the two environments match on everything compared."""
        return not (self.packages_added or self.packages_removed or self.packages_changed or self.fields)


def capture_environment(*, env_globs: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> Environment:
    """Capture the environment of this interpreter and machine.

    Imports numpy (a dependency of Reprise) so that its BLAS is loaded and visible to threadpoolctl. External tools
    (``nvidia-smi``) run only when present and in parallel with the package scan; nothing absent is an error.

    Args:
        env_globs: Extra environment-variable globs to record on top of the defaults (secrets redacted).
        environ: The environment to read (default: ``os.environ``).

    Returns:
        The captured :class:`Environment`.

    Example:
        >>> capture_environment(env_globs=["MY_*"]).python.implementation   # doctest: +SKIP
        'CPython'
    """
    environ = os.environ if environ is None else environ
    nvidia = _start_nvidia_smi()
    packages = _packages()
    blas = _blas()
    gpus, cuda = _finish_nvidia_smi(nvidia)
    torch_cuda = _torch_cuda()
    libc_name, libc_version = platform.libc_ver()
    return Environment(
        python=PythonInfo(
            version=platform.python_version(),
            implementation=platform.python_implementation(),
            executable=sys.executable,
        ),
        platform=PlatformInfo(
            system=platform.system(),
            release=platform.release(),
            machine=platform.machine(),
            libc=f"{libc_name} {libc_version}" if libc_name else None,
            distro=_distro(),
        ),
        cpu=_cpu(),
        memory_bytes=_memory_bytes(),
        gpus=gpus,
        cuda_version=torch_cuda or cuda,
        blas=blas,
        conda_packages=_conda_packages(environ),
        env_vars=redact_env(environ, env_globs),
        packages=packages,
        hostname=platform.node(),
        captured_at=datetime.now(UTC),
    )


def write_capture(env: Environment, directory: Path) -> list[Path]:
    """Write a capture to ``directory`` as ``requirements.txt``, ``system_info.json`` and ``conda_packages.txt``.

    Each file is written atomically; ``conda_packages.txt`` only when there are conda packages.
    ``system_info.json`` is indented, with sorted keys.

    Args:
        env: The captured environment.
        directory: The folder to write into (created if missing).

    Returns:
        The paths written, in the order above.
    """
    paths = [directory / _REQUIREMENTS_FILE, directory / _SYSTEM_INFO_FILE]
    write_atomic(paths[0], env.requirements_txt())
    write_atomic(paths[1], json.dumps(env.system_info(), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    if env.conda_packages:
        paths.append(directory / _CONDA_FILE)
        header = "# This file may be used to create an environment using:\n"
        header += "# $ conda create --name <env> --file <this file>\n"
        write_atomic(paths[2], header + "".join(line + "\n" for line in env.conda_packages))
    return paths


def load_capture(directory: Path) -> Environment:
    """Read back a folder written by :func:`write_capture`.

    Args:
        directory: The folder holding ``requirements.txt`` and ``system_info.json``.

    Returns:
        The :class:`Environment` it describes.

    Raises:
        CaptureError: A file is missing, unreadable or malformed; the message names it.
    """
    hint = f"reprise env capture --output-dir {directory}"
    info_path, req_path = directory / _SYSTEM_INFO_FILE, directory / _REQUIREMENTS_FILE
    info_text, req_text = _read(info_path, hint), _read(req_path, hint)
    try:
        info = json.loads(info_text)
    except json.JSONDecodeError as exc:
        raise CaptureError(f"{info_path} is not valid JSON: {exc}", hint=hint) from exc
    if not isinstance(info, dict):
        raise CaptureError(f"{info_path} does not hold a JSON object", hint=hint)
    packages = _parse_requirements(req_text, req_path, hint)
    try:
        return Environment.model_validate({**info, "packages": packages})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CaptureError(f"{info_path} is not a Reprise capture: {where}: {first['msg']}", hint=hint) from exc


def diff_environments(a: Environment, b: Environment) -> EnvironmentDiff:
    """Compare two environments: packages by name, then the system fields that can change a result.

    Args:
        a: The reference ("old") environment.
        b: The other ("new") environment.

    Returns:
        The differences, sorted by package name and field name; :attr:`EnvironmentDiff.is_empty` if none.

    Example:
        >>> diff_environments(env, env).is_empty   # doctest: +SKIP
        True
    """
    old_pkgs, new_pkgs = {p.name: p for p in a.packages}, {p.name: p for p in b.packages}
    changed = [
        PackageChange(name=name, old=old_pkgs[name], new=new_pkgs[name])
        for name in sorted(old_pkgs.keys() & new_pkgs.keys())
        if old_pkgs[name] != new_pkgs[name]
    ]
    old_fields, new_fields = _comparable_fields(a), _comparable_fields(b)
    fields = [
        FieldChange(field=name, old=old_fields.get(name), new=new_fields.get(name))
        for name in sorted(old_fields.keys() | new_fields.keys())
        if old_fields.get(name) != new_fields.get(name)
    ]
    return EnvironmentDiff(
        packages_added=[new_pkgs[name] for name in sorted(new_pkgs.keys() - old_pkgs.keys())],
        packages_removed=[old_pkgs[name] for name in sorted(old_pkgs.keys() - new_pkgs.keys())],
        packages_changed=changed,
        fields=fields,
    )


# --- capture helpers ------------------------------------------------------------------------------------------------


def _packages() -> tuple[Package, ...]:
    # importlib.metadata's own .metadata parses each file with the email package: ~20x slower than reading the
    # header block ourselves, and the header is all that is needed.
    seen: dict[str, Package] = {}
    for dist in importlib.metadata.distributions():
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
        if not text:
            continue
        name, version = _name_version(text)
        if name is None or version is None:
            continue
        key = _normalize(name)
        if key in seen:  # first on sys.path wins, as for the import system and pip
            continue
        source, editable = _direct_url(dist.read_text("direct_url.json"))
        seen[key] = Package(name=key, version=version, source=source, editable=editable)
    return tuple(seen[key] for key in sorted(seen))


def _name_version(metadata: str) -> tuple[str | None, str | None]:
    name = version = None
    for line in metadata.splitlines():
        if not line:
            break  # end of the header block; the long description follows
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
        if name is not None and version is not None:
            break
    return name, version


def _direct_url(text: str | None) -> tuple[str | None, bool]:
    """Turn PEP 610 ``direct_url.json`` into a requirement source and an editable flag."""
    if not text:
        return None, False
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None, False
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        return None, False
    url: str = data["url"]
    vcs, archive, directory = data.get("vcs_info"), data.get("archive_info"), data.get("dir_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        url = f"{vcs['vcs']}+{url}" if not url.startswith(f"{vcs['vcs']}+") else url
        if vcs.get("commit_id"):
            url = f"{url}@{vcs['commit_id']}"
    elif isinstance(archive, dict) and isinstance(archive.get("hash"), str):
        url = f"{url}#{archive['hash']}"
    editable = isinstance(directory, dict) and bool(directory.get("editable"))
    return redact_uri(url), editable


def _blas() -> list[BlasLibrary]:
    # threadpoolctl only sees libraries loaded in this process; numpy is a dependency and brings its BLAS.
    try:
        _load_numpy_blas()
        import threadpoolctl
    except ImportError:
        return []
    libraries = []
    for info in threadpoolctl.threadpool_info():
        libraries.append(
            BlasLibrary(
                user_api=str(info.get("user_api", "")),
                internal_api=str(info.get("internal_api", "")),
                version=info.get("version"),
                num_threads=info.get("num_threads"),
                prefix=str(info.get("prefix", "")),
                architecture=info.get("architecture"),
            )
        )
    return sorted(libraries, key=lambda lib: (lib.user_api, lib.prefix, lib.internal_api))


def _load_numpy_blas() -> None:
    """Load the BLAS numpy would use, without importing numpy where its wheel bundles it (150 ms saved).

    Pip wheels of numpy ship their OpenBLAS in ``numpy.libs/``; loading that same file is what ``import numpy``
    would do to the BLAS side of the process. Anywhere else (conda, MKL builds), import numpy itself.
    """
    if "numpy" not in sys.modules:
        spec = importlib.util.find_spec("numpy")
        origin = None if spec is None else spec.origin
        bundled = sorted((Path(origin).parent.parent / "numpy.libs").glob("*openblas*.so*")) if origin else []
        if bundled:
            for library in bundled:
                ctypes.CDLL(str(library))
            return
    import numpy  # noqa: F401


def _cpu() -> CpuInfo:
    model: str | None = None
    cores: set[tuple[str, str]] = set()
    physical_id = ""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and model is None:
                    model = value
                elif key == "physical id":
                    physical_id = value
                elif key == "core id":
                    cores.add((physical_id, value))
    except OSError:
        pass
    if model is None and sys.platform != "linux":
        # On Linux platform.processor() spawns `uname -p` and rarely knows more than /proc/cpuinfo.
        model = platform.processor() or None
    return CpuInfo(model=model, logical_count=os.cpu_count(), physical_count=len(cores) or None)


def _memory_bytes() -> int | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def _distro() -> str | None:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        return None


def _start_nvidia_smi() -> tuple[subprocess.Popen[str], subprocess.Popen[str]] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    query = [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    try:
        return (
            subprocess.Popen(query, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True),
            subprocess.Popen([exe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True),
        )
    except OSError:
        return None


def _finish_nvidia_smi(
    procs: tuple[subprocess.Popen[str], subprocess.Popen[str]] | None,
) -> tuple[list[Gpu], str | None]:
    if procs is None:
        return [], None
    outputs = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=_NVIDIA_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            out = ""
        outputs.append(out if proc.returncode == 0 else "")
    gpus = []
    for line in outputs[0].splitlines():
        parts = [part.strip() for part in line.split(",")]
        if parts and parts[0]:
            parts += [""] * 2
            gpus.append(Gpu(name=parts[0], driver_version=parts[1] or None, memory_total=parts[2] or None))
    match = _CUDA_RE.search(outputs[1])
    return gpus, match.group(1) if match else None


def _torch_cuda() -> str | None:
    torch = sys.modules.get("torch")  # never import torch: seconds of startup for one string
    cuda = getattr(getattr(torch, "version", None), "cuda", None)
    return cuda if isinstance(cuda, str) else None


def _conda_packages(environ: Mapping[str, str]) -> list[str] | None:
    # `conda list --export` takes seconds; its conda lines are exactly the conda-meta/<name>-<version>-<build>.json
    # file names of the prefix, so read those (and leave pip-installed packages to `packages`).
    prefix = environ.get("CONDA_PREFIX")
    if not prefix and (Path(sys.prefix) / "conda-meta").is_dir():
        prefix = sys.prefix  # a conda interpreter started without `conda activate`
    if not prefix:
        return None
    try:
        names = [entry.name for entry in (Path(prefix) / "conda-meta").iterdir()]
    except OSError:
        return None
    lines = []
    for file_name in names:
        if file_name.endswith(".json"):
            parts = file_name[: -len(".json")].rsplit("-", 2)
            if len(parts) == 3:
                lines.append("=".join(parts))
    return sorted(lines)


# --- load helpers ---------------------------------------------------------------------------------------------------


def _read(path: Path, hint: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        message = f"{path} is missing: {path.parent} is not a complete environment capture"
        raise CaptureError(message, hint=hint) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(f"cannot read {path}: {exc}", hint=hint) from exc


def _parse_requirements(text: str, path: Path, hint: str) -> list[Package]:
    packages: list[Package] = []
    editable, pinned = False, ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line == _EDITABLE_MARK:
                editable = True
            elif _PIN_RE.match(line[1:].strip()):
                pinned = line[1:].strip()
            continue
        pin, direct = _PIN_RE.match(line), _DIRECT_RE.match(line)
        if pin is not None:
            packages.append(Package(name=pin["name"], version=pin["version"]))
        elif direct is not None and pinned and _normalize(pinned.partition("==")[0]) == _normalize(direct["name"]):
            version = pinned.partition("==")[2]
            packages.append(Package(name=direct["name"], version=version, source=direct["source"], editable=editable))
        else:
            raise CaptureError(f"{path}, line {number}: cannot read {raw!r} as 'name==version'", hint=hint)
        editable, pinned = False, ""
    return packages


# --- diff helpers ---------------------------------------------------------------------------------------------------


def _comparable_fields(env: Environment) -> dict[str, str]:
    """Flatten the fields that can change a result into ``name -> text`` (absent entries are simply missing)."""
    values: dict[str, object] = {
        "python.version": env.python.version,
        "python.implementation": env.python.implementation,
        "platform.system": env.platform.system,
        "platform.release": env.platform.release,
        "platform.distro": env.platform.distro,
        "platform.machine": env.platform.machine,
        "platform.libc": env.platform.libc,
        "cpu.model": env.cpu.model,
        "cpu.logical_count": env.cpu.logical_count,
        "cpu.physical_count": env.cpu.physical_count,
        "cuda_version": env.cuda_version,
        "gpus": "; ".join(f"{g.name} (driver {g.driver_version}, {g.memory_total})" for g in env.gpus) or None,
    }
    for lib in env.blas:
        key = f"blas.{lib.user_api}.{lib.prefix}"
        values[f"{key}.version"] = lib.version
        values[f"{key}.num_threads"] = lib.num_threads
        values[f"{key}.internal_api"] = lib.internal_api
    values.update({f"env_vars.{name}": value for name, value in env.env_vars.items()})
    if env.conda_packages is not None:
        values["conda"] = "present"
        for line in env.conda_packages:
            name, _, rest = line.partition("=")
            values[f"conda.{name}"] = rest
    return {name: str(value) for name, value in values.items() if value is not None}
