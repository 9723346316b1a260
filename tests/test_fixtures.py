"""The repository's own test data: the whole conformance kit, byte for byte, and the helpers that find it.

The kit's manifest.json names every case and the MD5 of every input; a copy that lost a case or
changed a byte (line endings, a re-save) fails here rather than as a puzzling score difference.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest

from tests import fixtures
from tests.fixtures import (
    DATA,
    MissingFixture,
    conformance_case,
    conformance_cases,
    conformance_dir,
    conformance_lmudata,
    judge_server_script,
    refdata,
    shared_dir,
)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((conformance_dir() / "manifest.json").read_text())


def test_every_case_of_the_manifest_is_in_the_repository(manifest: dict) -> None:
    assert conformance_cases() == sorted(manifest["cases"])


def test_every_kit_input_has_the_manifest_md5(manifest: dict) -> None:
    for case in manifest["cases"].values():
        for rel, md5 in case["files"].items():
            assert _md5(conformance_dir() / rel) == md5, rel
    for name, dataset in manifest["datasets"].items():
        assert _md5(conformance_lmudata(name)) == dataset["md5"], name


def test_each_case_has_its_expected_tables_for_all_three_vlmevalkit_versions() -> None:
    for name in conformance_cases():
        for version in ("expected", "alt_upstream_e8e78f05", "alt_nvidia_vlmeval_26.3"):
            assert (conformance_case(name) / version / "scores.json").is_file(), (name, version)


def test_the_scripted_judge_ships_with_the_kit() -> None:
    assert "def " in judge_server_script().read_text()


def test_unknown_names_fail_loudly_instead_of_skipping() -> None:
    with pytest.raises(MissingFixture, match="no conformance case 'NoSuchBench'"):
        conformance_case("NoSuchBench")
    with pytest.raises(MissingFixture):
        conformance_case("LMUData")  # a folder of the kit, not a case
    with pytest.raises(MissingFixture):
        conformance_lmudata("NoSuchBench")
    with pytest.raises(MissingFixture, match=r"NOTICE\.md"):
        refdata("mme/LaVIN_MME_vlmevalkit_layout.tsv")  # unlicensed: never in the repository


def test_gzipped_reference_files_come_back_whole_under_their_own_name() -> None:
    packed = sorted((DATA / "refdata").rglob("*.gz"))
    assert packed
    for gz in packed:
        name = str(gz.relative_to(DATA / "refdata")).removesuffix(".gz")
        path = refdata(name)
        assert path.name == gz.name.removesuffix(".gz")
        assert path.read_bytes() == gzip.decompress(gz.read_bytes())
        assert refdata(name) == path  # unpacked once per process


def test_every_reference_file_is_covered_by_a_notice() -> None:
    for root in (DATA / "refdata", DATA / "conformance"):
        assert (root / "NOTICE.md").is_file(), root
    assert (DATA / "refdata" / "LICENSE-Apache-2.0.txt").is_file()
    assert (DATA / "refdata" / "pope" / "LICENSE_POPE_MIT.txt").is_file()


def test_shared_is_only_the_env_var_or_the_checkouts_sibling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTEVAL_SHARED", str(tmp_path))
    assert shared_dir() == tmp_path
    monkeypatch.setenv("FASTEVAL_SHARED", str(tmp_path / "absent"))
    assert shared_dir() is None
    monkeypatch.delenv("FASTEVAL_SHARED")
    monkeypatch.setattr(fixtures, "REPO", tmp_path / "repo")
    assert shared_dir() is None
    (tmp_path / "shared").mkdir()
    assert shared_dir() == tmp_path / "shared"


def test_readme_lists_exactly_the_tests_that_may_skip_for_unlicensed_data() -> None:
    marked = {
        f"{path.name}::{name}"
        for path in DATA.parent.glob("test_*.py")
        for name in re.findall(r"@needs_unlicensed_refdata\n(?:@.*\n)*def (\w+)", path.read_text())
    }
    readme = (fixtures.REPO / "README.md").read_text()
    listed = set(re.findall(r"`(?:tests/(test_\w+\.py))?::(\w+)`", readme))
    (file,) = {f for f, _ in listed if f}  # one file named once, the rest `::name` after it
    assert {f"{file}::{name}" for _, name in listed} == marked


def test_the_video_kit_is_in_the_repository_byte_for_byte() -> None:
    """Every input and recorded file the video kit's manifest lists is here with its MD5."""
    kit = fixtures.video_kit_dir()
    files = json.loads((kit / "manifest.json").read_text())["files"]
    assert files, "the video kit's manifest lists no files"
    for path, entry in files.items():
        assert _md5(kit / path) == entry["md5"], path
