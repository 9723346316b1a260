"""The model registry: engines/models.toml read into ModelEntry, with per-run path overrides."""

from __future__ import annotations

import pytest

from fasteval.models.registry import RegistryError, all_models, get_model, path_env_var
from fasteval.resources import cache_dir

REQUIRED = [
    "InternVL2-1B", "InternVL2-2B", "InternVL2-4B", "InternVL2-8B", "InternVL2-26B", "InternVL2-40B",
    "InternVL2-76B", "InternVL-Chat-V1-1", "InternVL-Chat-V1-2", "InternVL-Chat-V1-2-Plus",
    "InternVL-Chat-V1-5", "Mini-InternVL-Chat-2B-V1-5", "Mini-InternVL-Chat-4B-V1-5",
    "Qwen2-VL-2B-Instruct", "Qwen2-VL-7B-Instruct", "llava-1.5-7b-hf", "internlm2_5-1_8b-chat",
    "tiny-vlm", "tiny-judge",
]  # fmt: skip


def test_registry_lists_every_model_the_project_promises() -> None:
    names = [m.name for m in all_models(env={})]
    assert set(REQUIRED) <= set(names)
    assert len(names) == len(set(names))


def test_internvl2_entries_need_remote_code_and_use_the_internvl2_prompt() -> None:
    for m in all_models(env={}):
        if m.name.startswith(("InternVL", "Mini-InternVL")):
            assert m.trust_remote_code, m.name
            assert m.prompt_style == "internvl2", m.name
            assert m.path.startswith("OpenGVLab/"), m.name


def test_76b_is_the_llama3_checkpoint_served_under_its_vlmevalkit_name_on_8_gpus() -> None:
    m = get_model("InternVL2-76B", env={})
    assert (m.path, m.served, m.tp) == ("OpenGVLab/InternVL2-Llama3-76B", "InternVL2-76B", 8)


def test_judge_is_lmdeploy_on_23333_with_40_percent_kv_cache() -> None:
    j = get_model("internlm2_5-1_8b-chat", env={})
    assert (j.engine, j.role, j.default_port, j.cache_max_entry_count) == ("lmdeploy", "judge", 23333, 0.4)
    assert j.path == "internlm/internlm2_5-1_8b-chat"


def test_tiny_models_are_cpu_models_built_into_the_cache() -> None:
    env = {"FASTEVAL_CACHE": "/x/cache"}
    vlm, judge = get_model("tiny-vlm", env=env), get_model("tiny-judge", env=env)
    assert vlm.path == "/x/cache/models/tiny-vlm" and judge.path == "/x/cache/models/tiny-judge"
    assert vlm.engine == judge.engine == "vllm-cpu"
    assert (vlm.role, judge.role) == ("vlm", "judge")
    assert vlm.prompt_style == "qwen2vl"
    assert vlm.builder_path is not None and vlm.builder_path.is_file()
    assert judge.builder_path is not None and judge.builder_path.is_file()


def test_cache_dir_defaults_to_home_cache() -> None:
    assert str(cache_dir({})).endswith(".cache/fasteval")


def test_path_override_order_is_argument_then_env_then_file() -> None:
    var = path_env_var("InternVL2-8B")
    assert var == "FASTEVAL_MODEL_PATH_INTERNVL2_8B"
    assert get_model("InternVL2-8B", env={}).path == "OpenGVLab/InternVL2-8B"
    assert get_model("InternVL2-8B", env={var: "/data/ivl8"}).path == "/data/ivl8"
    assert get_model("InternVL2-8B", path="/fast/ivl8", env={var: "/data/ivl8"}).path == "/fast/ivl8"


def test_unknown_model_is_one_line_naming_close_matches() -> None:
    with pytest.raises(RegistryError) as e:
        get_model("InternVL2-3B", env={})
    msg = str(e.value)
    assert "\n" not in msg
    assert "unknown model 'InternVL2-3B'" in msg and "InternVL2-2B" in msg


def test_unknown_model_far_from_everything_lists_known_names() -> None:
    with pytest.raises(RegistryError, match=r"known: .*tiny-vlm"):
        get_model("zzzz", env={})


def test_the_not_running_hint_names_a_registered_model_never_the_misspelling() -> None:
    from fasteval.inference.targets import _serve_hint

    assert _serve_hint("InternVL2-2B").endswith("`make serve MODEL=InternVL2-2B`")
    assert "make serve MODEL=InternVL2-2B`" in _serve_hint("internvl2-2b")
    assert "make serve MODEL=InternVL2-8B`" in _serve_hint("InternVL2-8")
    assert "MODEL=zzz" not in _serve_hint("zzz") and "engines/models.toml" in _serve_hint("zzz")
