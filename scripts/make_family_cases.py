"""Regenerate tests/data/family_cases/cases.json with VLMEvalKit's own model-class code.

For each new model family and each benchmark of the conformance kit's LMUData, the first rows go
through the methods VLMEvalKit's model classes call before generating, without loading weights: an
`InternVLChat` made with `__new__` (attributes as its `__init__` sets them for the config entry) runs
`build_prompt` (MPO included) and `set_max_num`; `Qwen2VLChat` / `Qwen3VLChat` run `_prepare_content`
(per-image pixel bounds). The cases record the text, tile limit, pixel bounds, generation limit,
sampling and system prompt; `vlmeval/inference.py`'s `split_thinking` and `mpo_post_processing` are run
on sample replies. tests/test_family_conformance.py compares fasteval's request bodies with them.

VLMEvalKit's code is read from a git checkout (not committed here); its heavy imports (torch,
transformers, ...) are stubbed, and `vlmeval.dataset`'s type lookup is replaced by the benchmark types
VLMEvalKit's dataset classes declare (`DATASET_TYPES` below), since importing every dataset module needs
the full install.

    python scripts/make_family_cases.py --vlmevalkit /work/.mirror/open-compass+VLMEvalKit/repo
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
KIT = REPO / "tests" / "data" / "conformance" / "public" / "LMUData"
OUT = REPO / "tests" / "data" / "family_cases" / "cases.json"
ROWS = 4

# vlmeval/dataset: the TYPE of each dataset class that holds these names (image_yorn.py, image_mcq.py,
# image_vqa.py, mmbench... at e8e78f05)
DATASET_TYPES = {
    "MME": "Y/N", "HallusionBench": "Y/N", "POPE": "Y/N",
    "MMBench_DEV_EN": "MCQ", "MMBench_DEV_CN": "MCQ", "MMBench_DEV_EN_V11": "MCQ", "SEEDBench_IMG": "MCQ",
    "MMStar": "MCQ", "AI2D_TEST": "MCQ", "ScienceQA_TEST": "MCQ", "RealWorldQA": "MCQ", "MMMU_DEV_VAL": "MCQ",
    "ChartQA_TEST": "VQA", "DocVQA_VAL": "VQA", "InfoVQA_VAL": "VQA", "TextVQA_VAL": "VQA", "OCRBench": "VQA",
    "MathVista_MINI": "VQA", "MMVet": "VQA",
}  # fmt: skip

FILES = [
    "vlmeval/vlm/internvl/internvl_chat.py",
    "vlmeval/vlm/internvl/utils.py",
    "vlmeval/vlm/internvl/gui_template.yaml",
    "vlmeval/vlm/qwen2_vl/model.py",
    "vlmeval/vlm/qwen2_vl/prompt.py",
    "vlmeval/vlm/qwen3_vl/model.py",
    "vlmeval/vlm/qwen3_vl/prompt.py",
    "vlmeval/inference.py",
]

# The config entries (vlmeval/config.py) each family reproduces: InternVLChat's attributes as its
# __init__ sets them, Qwen's constructor arguments.
INTERNVL = {  # the same `version="V2.0"` entries, one family name each
    family: dict(
        use_mpo_prompt=False, cot="v1", kwargs=dict(do_sample=False, max_new_tokens=4096, top_p=None)
    )
    for family in ("internvl2.5", "internvl3", "internvl3.5")
} | {
    "internvl2.5-mpo": dict(
        use_mpo_prompt=True, cot="v1", kwargs=dict(do_sample=False, max_new_tokens=4096, top_p=None)
    ),
    "internvl3.5-thinking": dict(
        use_mpo_prompt=False, cot="r1", kwargs=dict(do_sample=True, max_new_tokens=2**16, top_p=None)
    ),
}  # fmt: skip
QWEN = {
    "qwen2.5-vl": ("Qwen2VLChat", dict(min_pixels=1280 * 28 * 28, max_pixels=16384 * 28 * 28)),
    "qwen3-vl": ("Qwen3VLChat", dict(max_new_tokens=16384, temperature=0.7, top_p=0.8, top_k=20,
                                      presence_penalty=1.5, repetition_penalty=1.0)),
    "qwen3-vl-thinking": ("Qwen3VLChat", dict(max_new_tokens=40960, temperature=1.0, top_p=0.95, top_k=20,
                                               presence_penalty=0.0, repetition_penalty=1.0)),
}  # fmt: skip
SAMPLING = ("temperature", "top_p", "top_k", "repetition_penalty", "presence_penalty")
REPLIES = [
    "<think>\nsee the red</think>\n\nYes",
    "see the red\n</think>\n\nB",
    "a</think>b</think> C ",
    "no tags at all",
    "The cup.\nFinal answer: A \nmore",
    "answer: b",
]


def _source(vlmevalkit: Path, rev: str, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(vlmevalkit), "show", f"{rev}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _stub_packages(root: Path, misc_py: str) -> None:
    """vlmeval's package skeleton around the real model files, and stubs for what they import."""
    for pkg in (
        "vlmeval",
        "vlmeval/vlm",
        "vlmeval/vlm/internvl",
        "vlmeval/vlm/qwen2_vl",
        "vlmeval/vlm/qwen3_vl",
    ):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").touch()
    (root / "vlmeval/vlm/base.py").write_text(
        "class BaseModel:\n"
        "    def __init__(self, use_custom_prompt=True):\n"
        "        self._use_custom_prompt_flag = use_custom_prompt\n"
    )
    dataset = types.ModuleType("vlmeval.dataset")
    dataset.DATASET_TYPE = lambda name, default=None: DATASET_TYPES.get(name, "VQA")  # type: ignore[attr-defined]
    dataset.DATASET_MODALITY = lambda name, default=None: "IMAGE"  # type: ignore[attr-defined]
    dataset.build_dataset = dataset.infer_dataset_basename = mock.MagicMock()  # type: ignore[attr-defined]
    smp = types.ModuleType("vlmeval.smp")
    for name, fn in _functions(misc_py, "listinstr", "cn_string").items():  # vlmeval/smp/misc.py's own
        setattr(smp, name, fn)
    unused = ("encode_image_to_base64", "version_cmp", "get_gpu_memory", "get_cache_path",
              "concat_images_vlmeval", "parse_file", "get_rank_and_world_size", "get_logger")  # fmt: skip
    for name in unused:
        setattr(smp, name, mock.MagicMock())
    sys.modules.update({"vlmeval.dataset": dataset, "vlmeval.smp": smp})
    heavy_modules = ("torch", "torch.distributed", "torchvision", "torchvision.transforms",
                     "torchvision.transforms.functional", "transformers", "yaml",
                     "huggingface_hub")  # fmt: skip
    for heavy in heavy_modules:
        sys.modules[heavy] = mock.MagicMock()


def _functions(source: str, *names: str) -> dict[str, Any]:
    """The functions `names` of a VLMEvalKit module (nested ones too), their own source executed."""
    scope: dict[str, Any] = {"warnings": __import__("warnings")}
    nodes = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name in names]
    exec(compile(ast.Module(nodes, []), "vlmeval", "exec"), scope)
    missing = set(names) - set(scope)
    if missing:
        raise SystemExit(f"not found in VLMEvalKit: {sorted(missing)}")
    return {n: scope[n] for n in names}


def _n_images(line: pd.Series) -> int:
    value = str(line["image"])
    if value.startswith("["):  # a list of base64 images (MMMU)
        return len(ast.literal_eval(value))
    return 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vlmevalkit", type=Path, required=True, help="a VLMEvalKit git directory (bare is fine)")
    p.add_argument("--rev", default="HEAD")
    args = p.parse_args()
    rev = subprocess.run(
        ["git", "--git-dir", str(args.vlmevalkit), "rev-parse", args.rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _stub_packages(root, _source(args.vlmevalkit, rev, "vlmeval/smp/misc.py"))
        for path in FILES:
            (root / path).write_text(_source(args.vlmevalkit, rev, path))
        sys.path.insert(0, str(root))
        chat = importlib.import_module("vlmeval.vlm.internvl.internvl_chat")
        utils = importlib.import_module("vlmeval.vlm.internvl.utils")
        qwen2 = importlib.import_module("vlmeval.vlm.qwen2_vl.model")
        qwen3 = importlib.import_module("vlmeval.vlm.qwen3_vl.model")
        split = _functions((root / "vlmeval/inference.py").read_text(), "split_thinking")["split_thinking"]
        cases: list[dict[str, Any]] = []
        for tsv in sorted(KIT.glob("*.tsv")):
            dataset = tsv.stem
            frame = pd.read_csv(tsv, sep="\t")  # VLMEvalKit's `load` of a TSV
            for _, line in frame.head(ROWS).iterrows():
                n = _n_images(line)
                images = [str(root / f"img{i}.jpg") for i in range(n)]
                for path in images:  # Qwen's `ensure_image_url` wants the files to exist
                    Path(path).touch()
                for family, cfg in INTERNVL.items():
                    model = chat.InternVLChat.__new__(chat.InternVLChat)
                    model._use_custom_prompt = True
                    model.use_mpo_prompt = cfg["use_mpo_prompt"]
                    model.use_cot = False
                    model.cot_prompt_version = cfg["cot"]
                    model.system_prompt = chat.R1_SYSTEM_PROMPT if cfg["cot"] == "r1" else None
                    model.kwargs = dict(cfg["kwargs"])
                    model.screen_parse = True
                    model.dump_image = lambda line, dataset, _paths=images: list(_paths)
                    if not model.use_custom_prompt(dataset):
                        continue
                    message = model.build_prompt(line, dataset)
                    model.set_max_num(dataset)
                    image_num = sum(m["type"] == "image" for m in message)
                    sampled = model.kwargs.get("do_sample", False)
                    cases.append({
                        "family": family, "dataset": dataset, "index": str(line["index"]),
                        "images": image_num,
                        "text": "\n".join(m["value"] for m in message if m["type"] == "text"),
                        "max_dynamic_patch": max(1, min(model.max_num, model.total_max_num // image_num)),
                        "max_tokens": model.kwargs["max_new_tokens"],
                        # generate_v2 sets these, and they apply only when sampling (do_sample)
                        "temperature": 0.6 if sampled else 0.0, "top_p": 0.95 if sampled else None,
                        "system": model.system_prompt,
                    })  # fmt: skip
                for family, (cls_name, kw) in QWEN.items():
                    cls = getattr(qwen2 if cls_name == "Qwen2VLChat" else qwen3, cls_name)
                    model = cls.__new__(cls)
                    model.min_pixels, model.max_pixels, model.total_pixels = (
                        kw.get("min_pixels"), kw.get("max_pixels"), None
                    )  # fmt: skip
                    content = model._prepare_content([{"type": "image", "value": p} for p in images], dataset)
                    bounds = {k: content[0][k] for k in ("min_pixels", "max_pixels") if k in content[0]}
                    defaults = {"max_new_tokens": 2048, "temperature": 0.01, "top_p": 0.001, "top_k": 1,
                                "repetition_penalty": 1.0}  # Qwen2VLChat.__init__'s defaults  # fmt: skip
                    settings = {**(defaults if cls_name == "Qwen2VLChat" else {}), **kw}
                    cases.append({
                        "family": family, "dataset": dataset, "index": str(line["index"]), "images": n,
                        "pixels": bounds, "max_tokens": settings["max_new_tokens"],
                        "sampling": {k: settings[k] for k in SAMPLING if k in settings},
                    })  # fmt: skip
        replies = [
            {"reply": r, "split_thinking": list(split(r)), "mpo_yorn": utils.mpo_post_processing(r, "MME")}
            for r in REPLIES
        ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"vlmevalkit": rev, "cases": cases, "replies": replies}, indent=1, ensure_ascii=False)
    )
    print(f"{len(cases)} cases, {len(replies)} replies from VLMEvalKit {rev[:8]} -> {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
