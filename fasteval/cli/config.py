"""`RunConfig` from the flags and `.env`: every value checked up front, each failure one line."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping

from fasteval.config import ConfigError, RunConfig, Settings
from fasteval.errors import FastevalError
from fasteval.kinds.base import PROMPT_STYLES
from fasteval.kinds.extract import RULE_SETS
from fasteval.models.families import FamilyError, parse_family_flag
from fasteval.perf.metrics import parse_slos
from fasteval.resources import safe_name, unsafe_name


def _positive(name: str, value: float | None, *, zero_ok: bool = False, inf_ok: bool = False) -> None:
    if value is None:
        return
    if math.isnan(value) or (math.isinf(value) and not inf_ok):  # `--timeout nan` never fires
        raise ConfigError(f"{name} {value}: must be a finite number")
    if value < 0 or (value == 0 and not zero_ok):
        bound = "0 or more" if zero_ok else "at least 1" if isinstance(value, int) else "above 0"
        raise ConfigError(f"{name} {value}: must be {bound}")


def _percentiles(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ConfigError(
            f"--percentiles {text!r}: write numbers separated by commas, e.g. 50,90,99"
        ) from None
    if not values or any(not 0 <= p <= 100 for p in values):
        raise ConfigError(f"--percentiles {text!r}: each must be between 0 and 100")
    return values


def build_config(args: argparse.Namespace, settings: Settings, environ: Mapping[str, str]) -> RunConfig:
    """Check every flag value and fold in `.env`/environment; raise `ConfigError` on the first bad one."""
    if args.rules not in RULE_SETS:
        raise ConfigError(f"--rules {args.rules!r}: unknown rule set; use one of {', '.join(RULE_SETS)}")
    for c in args.concurrency:
        _positive("--concurrency", c)
    _positive("--retry", args.retry, zero_ok=True)
    _positive("--max-tokens", args.max_tokens)
    _positive("--temperature", args.temperature, zero_ok=True)
    _positive("--timeout", args.timeout)
    _positive("--limit", args.limit)
    _positive("--judge-concurrency", args.judge_concurrency)
    _positive("--burstiness", args.burstiness, inf_ok=True)  # inf: even gaps
    _positive("--num-prompts", args.num_prompts)
    _positive("--warmup", args.warmup, zero_ok=True)
    for r in args.request_rate or ():
        _positive("--request-rate", r, inf_ok=True)  # inf: every request at once, as `vllm bench serve`
    for flag, values in (("--data", args.data), ("--model", args.model)):
        twice = sorted({v for v in values or () if list(values).count(v) > 1})
        if twice:  # the second job would wait on the first one's store lock: its own run
            raise ConfigError(f"{flag} lists {', '.join(twice)} twice: pass each once")
    for base in args.api_base or ():
        if not base.lower().startswith(("http://", "https://")):
            raise ConfigError(
                f"--api-base {base!r}: must start with http:// or https://, e.g. http://127.0.0.1:8000/v1"
            )
    if args.prompt_style is not None and args.prompt_style not in PROMPT_STYLES:
        raise ConfigError(f"--prompt-style {args.prompt_style!r}: use one of {', '.join(PROMPT_STYLES)}")
    try:
        parse_slos(args.goodput)
    except (ValueError, FastevalError) as exc:
        raise ConfigError(f"--goodput {' '.join(args.goodput or ())}: {exc}") from None
    if args.synthetic is not None:
        from fasteval.perf.mode import parse_synthetic

        parse_synthetic(args.synthetic)
    if args.mode == "eval":
        if args.pred is not None:
            if len(args.data or ()) != 1 or len(args.model or ()) != 1:
                raise ConfigError("--pred scores one file: give exactly one --data NAME and one --model NAME")
            if not args.pred.is_file():
                raise ConfigError(f"prediction file {args.pred} not found: check the path")
        elif not args.model:
            raise ConfigError("--mode eval without --pred rescores stored runs: name them with --model NAME")
    elif args.pred is not None:
        raise ConfigError("--pred scores an existing prediction file: add --mode eval")
    _family_flags(args)
    _output_names(args)
    lmudata = args.lmudata or settings.lmudata
    if lmudata.exists() and not lmudata.is_dir():  # found only at the first download, as a traceback
        where = "--lmudata" if args.lmudata else "LMUData"
        raise ConfigError(f"{where} {lmudata} is a file: point it at the folder that holds the dataset TSVs")
    if args.work_dir.exists() and not args.work_dir.is_dir():
        raise ConfigError(f"--work-dir {args.work_dir} is a file: pass a folder (it is created if missing)")
    return RunConfig(
        mode=args.mode,
        data=tuple(args.data or ()),
        model=tuple(args.model or ()),
        work_dir=args.work_dir,
        lmudata=lmudata,
        dataset_cache=settings.cache_dir / "datasets",
        api_base=tuple(args.api_base or ()),
        model_name=args.model_name,
        concurrency=tuple(args.concurrency),
        retry=args.retry,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        timeout=args.timeout,
        limit=args.limit,
        prompt_style=args.prompt_style,
        rules=args.rules,
        pred=args.pred,
        no_download=args.no_download,
        state_dir=args.state_dir,
        verbose=args.verbose,
        seed=args.seed,
        pred_format=settings.pred_format,
        judge=args.judge,
        judge_base_url=args.judge_base_url,
        judge_key=args.judge_key,
        judge_concurrency=args.judge_concurrency,
        judge_fallback=args.judge_fallback,
        judge_unparsed=args.judge_unparsed,
        request_rate=tuple(args.request_rate or ()),
        burstiness=args.burstiness,
        num_prompts=args.num_prompts,
        warmup=args.warmup,
        ignore_eos=args.ignore_eos,
        goodput=tuple(args.goodput or ()),
        percentiles=_percentiles(args.percentiles),
        synthetic=args.synthetic,
        api_key=args.api_key or environ.get("FASTEVAL_API_KEY"),
        model_family=args.model_family,
        max_tokens_given=args.max_tokens_given,
        temperature_given=args.temperature_given,
        dry_run=args.dry_run,
        frame_cache=settings.cache_dir / "frames",
    )


def _output_names(args: argparse.Namespace) -> None:
    """issue 22: a `--model` that names output folders (with --api-base, or in --mode eval) is one plain
    name, so every file stays under --work-dir; a recorded server is picked by name and its folder is
    its registry name."""
    if not (args.api_base or args.mode == "eval"):
        return
    for name in args.model or ():
        why = unsafe_name(name)
        if why is not None:
            raise ConfigError(
                f"--model {name!r} cannot name the output folder ({why}): pass a plain name, e.g. "
                f"--model {safe_name(name)}"
            )


def _family_flags(args: argparse.Namespace) -> None:
    """issue 13: --model-family names a known family (and engine form); --dry-run N is 0 or more."""
    if args.model_family is not None:
        try:
            parse_family_flag(args.model_family)
        except FamilyError as exc:
            raise ConfigError(f"--model-family {args.model_family!r}: {exc}") from None
    _positive("--dry-run", args.dry_run, zero_ok=True)
