from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import TYPE_CHECKING

from reprise.capture import REDACTED, capture_environment, diff_environments, load_capture, write_capture

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

_PLANTED = {
    "MY_API_TOKEN": "s3cr3t-planted",
    "DATABASE_URL": "postgresql://u:pl4nted-pw@h/db",
    "MLFLOW_TRACKING_PASSWORD": "pl4nted-mlflow",
}


def test_capture_sees_this_interpreter_and_its_packages() -> None:
    env = capture_environment()
    packages = {p.name: p for p in env.packages}
    assert packages["pydantic"].version == importlib.metadata.version("pydantic")
    assert packages["numpy"].version == importlib.metadata.version("numpy")
    assert env.python.version == "{}.{}.{}".format(*sys.version_info[:3])
    assert env.python.implementation == platform.python_implementation()
    assert env.platform.system == platform.system()
    assert [p.name for p in env.packages] == sorted(p.name for p in env.packages)
    assert len(packages) == len(env.packages)


def test_reprise_itself_is_an_editable_file_install() -> None:
    reprise = next(p for p in capture_environment().packages if p.name == "reprise")
    assert reprise.editable
    assert reprise.source is not None
    assert reprise.source.startswith("file://")


def test_blas_of_numpy_is_visible() -> None:
    env = capture_environment()
    assert any(lib.user_api == "blas" for lib in env.blas), env.blas


def test_hardware_fields_are_filled_where_linux_knows_them() -> None:
    env = capture_environment()
    assert env.cpu.logical_count == os.cpu_count()
    if sys.platform == "linux":
        assert env.cpu.model
        assert env.memory_bytes is not None
        assert env.memory_bytes > 0


def test_digest_is_stable_and_ignores_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    first = capture_environment()
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    second = capture_environment(environ={**os.environ, "REPRISE_SOMETHING": "x"})
    assert second.env_vars["OMP_NUM_THREADS"] == "7"
    assert first.digest() == second.digest()
    assert first.captured_at <= second.captured_at


def test_env_var_change_shows_in_the_diff() -> None:
    a = capture_environment(environ={"OMP_NUM_THREADS": "1"})
    b = capture_environment(environ={"OMP_NUM_THREADS": "2"})
    changes = [(c.field, c.old, c.new) for c in diff_environments(a, b).fields]
    assert ("env_vars.OMP_NUM_THREADS", "1", "2") in changes


def test_round_trip_of_a_real_capture(tmp_path: Path) -> None:
    env = capture_environment()
    write_capture(env, tmp_path)
    loaded = load_capture(tmp_path)
    assert loaded == env
    assert loaded.requirements_txt() == env.requirements_txt()
    assert diff_environments(env, loaded).is_empty


def test_planted_secrets_never_reach_the_written_files(tmp_path: Path) -> None:
    environ = {**os.environ, **_PLANTED}
    env = capture_environment(env_globs=["MY_*", "DATABASE_*"], environ=environ)
    assert env.env_vars["MY_API_TOKEN"] == REDACTED
    assert env.env_vars["MLFLOW_TRACKING_PASSWORD"] == REDACTED
    assert env.env_vars["DATABASE_URL"] == "postgresql://u:***@h/db"
    paths = write_capture(env, tmp_path)
    for path in paths:
        data = path.read_bytes()
        for secret in (b"s3cr3t-planted", b"pl4nted-pw", b"pl4nted-mlflow"):
            assert secret not in data, f"{secret!r} leaked into {path.name}"


def test_conda_packages_come_from_the_active_prefix(tmp_path: Path) -> None:
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    for name in ("python-3.11.7-hab00c5b_0.json", "python-dateutil-2.9.0-pyhd8ed1ab_0.json", "history"):
        (meta / name).write_text("{}")
    env = capture_environment(environ={"CONDA_PREFIX": str(tmp_path)})
    assert env.conda_packages == ["python-dateutil=2.9.0=pyhd8ed1ab_0", "python=3.11.7=hab00c5b_0"]
    paths = write_capture(env, tmp_path / "out")
    assert paths[-1].name == "conda_packages.txt"


def test_no_conda_outside_conda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "prefix", "/nonexistent-prefix")
    assert capture_environment(environ={}).conda_packages is None


def test_no_gpu_tools_means_no_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    env = capture_environment()
    assert env.gpus == []
    assert env.cuda_version is None or "torch" in sys.modules


def test_gpus_and_cuda_from_nvidia_smi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ -n "$1" ]; then echo "NVIDIA A100-SXM4-80GB, 535.104.05, 81920 MiB"; exit 0; fi\n'
        'echo "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2     |"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    env = capture_environment()
    assert [(g.name, g.driver_version, g.memory_total) for g in env.gpus] == [
        ("NVIDIA A100-SXM4-80GB", "535.104.05", "81920 MiB")
    ]
    if "torch" not in sys.modules:
        assert env.cuda_version == "12.2"
