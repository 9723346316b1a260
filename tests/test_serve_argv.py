"""The exact engine command lines fasteval launches: one template per engine, argv lists only."""

from __future__ import annotations

import pytest

from fasteval.models.registry import get_model
from fasteval.serving.serve import ServeError, build_argv, launch_env

IVL2_2B = "OpenGVLab/InternVL2-2B"
MM64 = '{"image":64,"video":0}'  # sized for the 64-frame video presets
MM16 = '{"image":16,"video":0}'


def _vllm_2b(tp: str) -> list[str]:
    return [
        "vllm", "serve", IVL2_2B, "--served-model-name", "InternVL2-2B",
        "--host", "127.0.0.1", "--port", "8000", "--tensor-parallel-size", tp, "--trust-remote-code",
        "--max-model-len", "20480", "--limit-mm-per-prompt", MM64, "--trust-request-mm-kwargs",
    ]  # fmt: skip


def _lmdeploy_2b(tp: str) -> list[str]:
    return [
        "lmdeploy", "serve", "api_server", IVL2_2B, "--server-name", "127.0.0.1", "--server-port", "8000",
        "--tp", tp, "--model-name", "InternVL2-2B", "--backend", "turbomind", "--session-len", "20480",
    ]  # fmt: skip


@pytest.mark.parametrize("tp", [1, 2])
def test_internvl2_2b_on_vllm(tp: int) -> None:
    assert build_argv(get_model("InternVL2-2B", env={}), engine="vllm", tp=tp) == _vllm_2b(str(tp))


@pytest.mark.parametrize("tp", [1, 2])
def test_internvl2_2b_on_lmdeploy(tp: int) -> None:
    assert build_argv(get_model("InternVL2-2B", env={}), engine="lmdeploy", tp=tp) == _lmdeploy_2b(str(tp))


def test_internvl2_76b_defaults_to_tp8_on_vllm() -> None:
    assert build_argv(get_model("InternVL2-76B", env={})) == [
        "vllm", "serve", "OpenGVLab/InternVL2-Llama3-76B", "--served-model-name", "InternVL2-76B",
        "--host", "127.0.0.1", "--port", "8000", "--tensor-parallel-size", "8", "--trust-remote-code",
        "--max-model-len", "8192", "--limit-mm-per-prompt", MM16, "--trust-request-mm-kwargs",
    ]  # fmt: skip


def test_internvl2_76b_on_lmdeploy_tp8() -> None:
    assert build_argv(get_model("InternVL2-76B", env={}), engine="lmdeploy") == [
        "lmdeploy", "serve", "api_server", "OpenGVLab/InternVL2-Llama3-76B", "--server-name", "127.0.0.1",
        "--server-port", "8000", "--tp", "8", "--model-name", "InternVL2-76B", "--backend", "turbomind",
        "--session-len", "8192",
    ]  # fmt: skip


def test_judge_is_lmdeploy_on_23333_with_cache_04() -> None:
    assert build_argv(get_model("internlm2_5-1_8b-chat", env={})) == [
        "lmdeploy", "serve", "api_server", "internlm/internlm2_5-1_8b-chat", "--server-name", "127.0.0.1",
        "--server-port", "23333", "--tp", "1", "--model-name", "internlm2_5-1_8b-chat",
        "--backend", "turbomind", "--cache-max-entry-count", "0.4",
    ]  # fmt: skip


def test_vllm_without_console_script_runs_the_api_server_module_with_the_same_flags() -> None:
    argv = build_argv(get_model("InternVL2-2B", env={}), engine="vllm", python="/env/bin/python")
    assert argv[:5] == ["/env/bin/python", "-m", "vllm.entrypoints.openai.api_server", "--model", IVL2_2B]
    assert argv[5:] == _vllm_2b("1")[3:]


def test_tiny_vlm_on_the_cpu_build_gets_the_cpu_flags() -> None:
    entry = get_model("tiny-vlm", env={"FASTEVAL_CACHE": "/c"})
    assert build_argv(entry, port=8123, python="/v/bin/python") == [
        "/v/bin/python", "-m", "vllm.entrypoints.openai.api_server", "--model", "/c/models/tiny-vlm",
        "--served-model-name", "tiny-vlm", "--host", "127.0.0.1", "--port", "8123",
        "--tensor-parallel-size", "1", "--max-model-len", "2048",
        "--limit-mm-per-prompt", '{"image":64,"video":0}',
        "--dtype", "bfloat16", "--enforce-eager", "--max-num-seqs", "64", "--trust-request-mm-kwargs",
    ]  # fmt: skip


def test_text_only_judge_gets_no_image_limit() -> None:
    argv = build_argv(get_model("tiny-judge", env={}), python="/v/bin/python")
    assert "--limit-mm-per-prompt" not in argv
    assert argv[argv.index("--port") + 1] == "23333"


def test_cpu_engine_env_keeps_vllm_offline_and_on_loopback() -> None:
    env = launch_env("vllm-cpu")
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1" and env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_HOST_IP"] == env["VLLM_LOOPBACK_IP"] == "127.0.0.1"


def test_parallelism_and_ray_multinode_flags_on_vllm() -> None:
    argv = build_argv(get_model("InternVL2-76B", env={}), tp=8, pp=2, dp=1, ray=True)
    i = argv.index("--tensor-parallel-size")
    assert argv[i : i + 6] == ["--tensor-parallel-size", "8", "--pipeline-parallel-size", "2",
                               "--distributed-executor-backend", "ray"]  # fmt: skip
    assert "--data-parallel-size" not in argv
    dp = build_argv(get_model("InternVL2-2B", env={}), dp=4)
    assert dp[dp.index("--data-parallel-size") + 1] == "4"


def test_lmdeploy_data_parallel_and_refusals() -> None:
    entry = get_model("InternVL2-2B", env={})
    argv = build_argv(entry, engine="lmdeploy", dp=2)
    assert argv[argv.index("--dp") + 1] == "2"
    with pytest.raises(ServeError, match="no pipeline parallelism"):
        build_argv(entry, engine="lmdeploy", pp=2)
    with pytest.raises(ServeError, match="vLLM feature"):
        build_argv(entry, engine="lmdeploy", ray=True)


def test_model_specific_engine_settings_come_from_the_registry() -> None:
    assert "pytorch" in build_argv(get_model("InternVL2-4B", env={}), engine="lmdeploy")
    qwen = build_argv(get_model("Qwen2-VL-7B-Instruct", env={}))
    assert "--trust-remote-code" not in qwen
    assert qwen[qwen.index("--mm-processor-kwargs") + 1] == '{"min_pixels":1003520,"max_pixels":12845056}'
    # the family's per-request tile limit needs vLLM to accept request-level processor kwargs
    assert build_argv(get_model("InternVL2-40B", env={}))[-3:] == [
        "--quantization", "fp8", "--trust-request-mm-kwargs",
    ]  # fmt: skip


def test_host_port_model_path_and_extra_flags_pass_through_verbatim() -> None:
    entry = get_model("InternVL2-8B", path="/data/my ivl2", env={})
    argv = build_argv(entry, host="0.0.0.0", port=9000, extra=["--gpu-memory-utilization", "0.9"])
    assert argv[2] == "/data/my ivl2"  # one argv element, no shell quoting needed
    assert argv[argv.index("--host") + 1 : argv.index("--host") + 4] == ["0.0.0.0", "--port", "9000"]
    assert argv[-2:] == ["--gpu-memory-utilization", "0.9"]
    assert all(isinstance(a, str) for a in argv)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ServeError, match="unknown engine 'sglang'"):
        build_argv(get_model("InternVL2-2B", env={}), engine="sglang")
