"""Benchmark definitions: one TOML per benchmark, validated, looked up by exact name."""

from __future__ import annotations

from pathlib import Path

import pytest

from fasteval.catalog import BenchmarkSpecError, UnknownBenchmark, all_specs, get_spec, load_spec

REQUIRED = (
    "MME",
    "MMBench_DEV_EN",
    "MMBench_DEV_CN",
    "MMBench_DEV_EN_V11",
    "SEEDBench_IMG",
    "MMStar",
    "POPE",
    "HallusionBench",
    "AI2D_TEST",
    "ScienceQA_TEST",
    "RealWorldQA",
)


def test_every_required_benchmark_is_defined_with_url_and_md5() -> None:
    specs = all_specs()
    for name in REQUIRED:
        spec = specs[name]
        assert spec.name == name
        assert spec.url and spec.url.endswith(f"/{name}.tsv")
        assert spec.md5 and len(spec.md5) == 32


def test_kinds_scorers_and_circularity_come_from_the_files() -> None:
    assert get_spec("MME").scorer == "mme" and get_spec("MME").kind == "yorn"
    assert get_spec("MMBench_DEV_CN").circular and not get_spec("SEEDBench_IMG").circular
    assert get_spec("MMStar").official_rule == "mmstar"


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(UnknownBenchmark, match="did you mean MMBench_DEV_EN") as info:
        get_spec("MMBench_DEV")
    assert "\n" not in str(info.value)
    with pytest.raises(UnknownBenchmark, match="did you mean MME\\?"):
        get_spec("mme")  # a case slip names the benchmark first


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_adding_a_benchmark_is_one_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "MyBench", 'name = "MyBench"\nkind = "mcq"\nscorer = "mcq"\ncircular = true\n')
    spec = load_spec(path)
    assert spec.circular and spec.url is None and spec.judge == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('name = "X"\nkind = "essay"\nscorer = "mcq"\n', "kind"),
        ('name = "X"\nkind = "mcq"\nscorer = "nope"\n', "scorer"),
        ('name = "Y"\nkind = "mcq"\nscorer = "mcq"\n', "name"),
        ('name = "X"\nkind = "mcq"\n', "scorer"),
        ('name = "X"\nkind = "mcq"\nscorer = "mcq"\ncircular = "yes"\n', "circular"),
        ('name = "X"\nkind = "mcq"\nscorer = "mcq"\nmd5 = "abc"\n', "md5"),
        ('name = "X"\nkind = "mcq"\nscorer = "mcq"\ncolour = 1\n', "colour"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_field(tmp_path: Path, body: str, field: str) -> None:
    path = _write(tmp_path, "X", body)
    with pytest.raises(BenchmarkSpecError, match=f"X.toml: field '{field}'") as info:
        load_spec(path)
    assert "\n" not in str(info.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkSpecError, match=r"X\.toml: invalid TOML"):
        load_spec(_write(tmp_path, "X", "name = \n"))
