from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprise.capture.environment import (
    BlasLibrary,
    CpuInfo,
    Environment,
    FieldChange,
    Package,
    PlatformInfo,
    PythonInfo,
    diff_environments,
    load_capture,
    write_capture,
)
from reprise.errors import CaptureError

if TYPE_CHECKING:
    from pathlib import Path


def _env(**changes: object) -> Environment:
    base = Environment(
        python=PythonInfo(version="3.11.7", implementation="CPython", executable="/venv/bin/python"),
        platform=PlatformInfo(system="Linux", release="6.1", machine="x86_64", libc="glibc 2.36", distro="Debian 12"),
        cpu=CpuInfo(model="AMD EPYC", logical_count=2, physical_count=2),
        memory_bytes=2**34,
        blas=[
            BlasLibrary(
                user_api="blas",
                internal_api="openblas",
                version="0.3.31",
                num_threads=2,
                prefix="libscipy_openblas",
                architecture="Haswell",
            )
        ],
        env_vars={"OMP_NUM_THREADS": "2"},
        packages=(
            Package(name="numpy", version="2.4.6"),
            Package(name="pydantic", version="2.14.3"),
            Package(name="reprise", version="0.1.0", source="file:///work/main", editable=True),
            Package(name="tool", version="1.0", source="git+https://github.com/o/tool.git@0123abcd"),
        ),
        hostname="box-1",
        captured_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("Pydantic_Core", "pydantic-core"), ("zope.interface", "zope-interface"), ("a-_.b", "a-b")],
    ids=["underscore-case", "dot", "run-of-separators"],
)
def test_package_names_are_pep503_normalized(raw: str, normalized: str) -> None:
    assert Package(name=raw, version="1").name == normalized


def test_digest_ignores_incidental_fields() -> None:
    env = _env()
    other = _env(
        hostname="elsewhere",
        captured_at=datetime(2030, 1, 1, tzinfo=UTC),
        memory_bytes=1,
        env_vars={"OMP_NUM_THREADS": "64", "CUDA_VISIBLE_DEVICES": "0"},
        python=PythonInfo(version="3.11.7", implementation="CPython", executable="/other/python"),
    )
    assert env.digest() == other.digest()
    assert env.digest().startswith("sha256:")


def test_digest_changes_with_a_package_version() -> None:
    env = _env()
    packages = tuple(p.model_copy(update={"version": "2.5.0"}) if p.name == "numpy" else p for p in env.packages)
    assert env.model_copy(update={"packages": packages}).digest() != env.digest()


def test_digest_changes_with_python_and_machine() -> None:
    env = _env()
    python = env.python.model_copy(update={"version": "3.11.8"})
    machine = env.platform.model_copy(update={"machine": "aarch64"})
    assert env.model_copy(update={"python": python}).digest() != env.digest()
    assert env.model_copy(update={"platform": machine}).digest() != env.digest()


@given(st.permutations(list(_env().packages)))
def test_digest_does_not_depend_on_package_order(packages: list[Package]) -> None:
    assert _env(packages=tuple(packages)).digest() == _env().digest()


def test_requirements_txt_pins_and_direct_references() -> None:
    text = _env().requirements_txt()
    assert text.splitlines() == [
        "# Python 3.11.7 (CPython), captured by reprise",
        "numpy==2.4.6",
        "pydantic==2.14.3",
        "# editable",
        "# reprise==0.1.0",
        "reprise @ file:///work/main",
        "# tool==1.0",
        "tool @ git+https://github.com/o/tool.git@0123abcd",
    ]


def test_system_info_has_everything_but_packages() -> None:
    info = _env().system_info()
    assert "packages" not in info
    assert info["python"]["version"] == "3.11.7"
    assert info["captured_at"] == "2026-11-22T08:00:00Z"
    json.dumps(info)


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    env = _env(conda_packages=["python=3.11.7=h1234_0", "zlib=1.3=h0"])
    paths = write_capture(env, tmp_path / "capture")
    assert [p.name for p in paths] == ["requirements.txt", "system_info.json", "conda_packages.txt"]
    assert "zlib=1.3=h0\n" in paths[2].read_text()
    loaded = load_capture(tmp_path / "capture")
    assert loaded == env
    assert loaded.digest() == env.digest()


def test_conda_file_only_when_conda_packages_exist(tmp_path: Path) -> None:
    paths = write_capture(_env(), tmp_path)
    assert [p.name for p in paths] == ["requirements.txt", "system_info.json"]


@pytest.mark.parametrize(
    ("file_name", "content", "match"),
    [
        ("system_info.json", None, "system_info.json is missing"),
        ("requirements.txt", None, "requirements.txt is missing"),
        ("system_info.json", "{not json", "not valid JSON"),
        ("system_info.json", "[1, 2]", "JSON object"),
        ("system_info.json", '{"python": 3}', "not a Reprise capture"),
        ("requirements.txt", "numpy>=2\n", "line 1"),
        ("requirements.txt", "reprise @ file:///x\n", "line 1"),
    ],
    ids=["no-info", "no-requirements", "bad-json", "not-object", "wrong-shape", "not-pinned", "direct-without-version"],
)
def test_garbled_capture_is_a_capture_error(tmp_path: Path, file_name: str, content: str | None, match: str) -> None:
    write_capture(_env(), tmp_path)
    target = tmp_path / file_name
    if content is None:
        target.unlink()
    else:
        target.write_text(content)
    with pytest.raises(CaptureError, match=match) as info:
        load_capture(tmp_path)
    assert info.value.hint == f"reprise env capture --output-dir {tmp_path}"


def test_diff_of_identical_environments_is_empty() -> None:
    diff = diff_environments(_env(), _env(hostname="other"))
    assert diff.is_empty


def test_diff_finds_package_and_field_changes() -> None:
    a = _env()
    packages = (
        Package(name="numpy", version="2.5.0"),
        Package(name="pandas", version="3.1.0"),
        Package(name="reprise", version="0.1.0", source="file:///work/main", editable=True),
        Package(name="tool", version="1.0", source="git+https://github.com/o/tool.git@0123abcd"),
    )
    b = _env(
        packages=packages,
        env_vars={"OMP_NUM_THREADS": "8", "MKL_CBWR": "AVX2"},
        python=a.python.model_copy(update={"version": "3.11.9"}),
        blas=[a.blas[0].model_copy(update={"num_threads": 8})],
    )
    diff = diff_environments(a, b)
    assert not diff.is_empty
    assert [p.name for p in diff.packages_added] == ["pandas"]
    assert [p.name for p in diff.packages_removed] == ["pydantic"]
    assert [(c.name, c.old.version, c.new.version) for c in diff.packages_changed] == [("numpy", "2.4.6", "2.5.0")]
    assert diff.fields == [
        FieldChange(field="blas.blas.libscipy_openblas.num_threads", old="2", new="8"),
        FieldChange(field="env_vars.MKL_CBWR", old=None, new="AVX2"),
        FieldChange(field="env_vars.OMP_NUM_THREADS", old="2", new="8"),
        FieldChange(field="python.version", old="3.11.7", new="3.11.9"),
    ]


def test_diff_reports_conda_and_gpu_changes() -> None:
    a = _env()
    b = _env(conda_packages=["zlib=1.3=h0"], cuda_version="12.4")
    fields = {change.field: (change.old, change.new) for change in diff_environments(a, b).fields}
    assert fields == {"conda": (None, "present"), "conda.zlib": (None, "1.3=h0"), "cuda_version": (None, "12.4")}


def test_models_are_frozen_and_strict() -> None:
    env = _env()
    with pytest.raises(ValueError, match="frozen"):
        env.hostname = "x"
    with pytest.raises(ValueError, match="Extra inputs"):
        Package(name="a", version="1", colour="red")  # type: ignore[call-arg]
