"""One resolver for a run's targets and a dry run's: the dry run shows the model the run would use.

A dry run contacts nothing and needs no server, so it reads the registry where a run reads the
recorded server; the settings a request carries (name, served name, prompt style, family plan,
image limit, engine) must come out the same either way.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from fasteval.cli.args import build_parser
from fasteval.cli.config import build_config
from fasteval.cli.settings import load_settings
from fasteval.config import RunConfig
from fasteval.inference.runner import Target
from fasteval.inference.targets import NoModel, resolve_targets
from fasteval.models.registry import get_model
from fasteval.models.servers import ServerState, proc_start, write_state


def _cfg(tmp_path: Path, *flags: str) -> RunConfig:
    argv = ["--data", "MME", "--state-dir", str(tmp_path / "servers"), "--work-dir", str(tmp_path), *flags]
    settings = load_settings({}, tmp_path)
    return build_config(build_parser().parse_args(argv), settings, {})


def _resolve(cfg: RunConfig, *, contact: bool) -> list[Target]:
    return asyncio.run(resolve_targets(cfg, contact=contact))


def _asked_as(t: Target) -> tuple[object, ...]:
    """What decides a request body (endpoints and launch details aside)."""
    return (t.name, t.served_name, t.prompt_style, t.plan, t.max_images, t.origin.get("engine"))


def _record_server(tmp_path: Path, name: str) -> None:
    """The server `make serve MODEL=name` records; this test's process stands in for it (alive)."""
    pid = os.getpid()
    state = ServerState(
        name=name,
        served_name=get_model(name).served,
        role="vlm",
        engine="vllm",
        base_url="http://127.0.0.1:9/v1",
        host="127.0.0.1",
        port=9,
        pid=pid,
        pgid=os.getpgid(0),
        argv=("vllm", "serve"),
        log="",
        started_at=time.time(),
        proc_start=proc_start(pid),
    )
    write_state(tmp_path / "servers", state)


def test_a_dry_run_resolves_the_recorded_server_as_the_run_does(tmp_path: Path) -> None:
    _record_server(tmp_path, "InternVL2-2B")
    cfg = _cfg(tmp_path, "--model", "InternVL2-2B")
    (run,), (dry,) = _resolve(cfg, contact=True), _resolve(cfg, contact=False)
    assert _asked_as(dry) == _asked_as(run)
    images = get_model("InternVL2-2B").images_per_prompt  # the registry entry's limit, whatever it is
    assert run.prompt_style == "internvl2" and run.max_images == images and run.plan.family == "internvl2"
    assert run.endpoints == ("http://127.0.0.1:9/v1",) and dry.endpoints == ()


def test_a_dry_run_needs_no_server_where_a_run_does(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "--model", "InternVL2-2B")
    (dry,) = _resolve(cfg, contact=False)
    images = get_model("InternVL2-2B").images_per_prompt
    assert (dry.name, dry.prompt_style, dry.max_images) == ("InternVL2-2B", "internvl2", images)
    with pytest.raises(NoModel, match="no model server is running"):
        _resolve(cfg, contact=True)


def test_an_api_base_with_its_model_name_resolves_alike_without_asking_it(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "--api-base", "http://127.0.0.1:9/v1", "--model-name", "served-m", "--model", "M")
    (run,), (dry,) = _resolve(cfg, contact=True), _resolve(cfg, contact=False)  # port 9: nobody answers
    assert dry == run and (run.name, run.served_name) == ("M", "served-m")


def test_a_dry_run_against_an_api_base_needs_a_name(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "--api-base", "http://127.0.0.1:9/v1")
    with pytest.raises(NoModel, match="--model-name"):
        _resolve(cfg, contact=False)
