"""The bundled sample benchmarks, generated here so `make demo` and the tests need no download.

`DEMO_YN` mirrors MME's layout (two questions per image, one Yes and one No, `category`, `image_path`);
`DEMO_MCQ` mirrors MMBench's (A-D options, some hints, `category`, `l2-category`, `split`, and circular
rotations at `index + k*1e6` whose `image` cell is the main row's index, VLMEvalKit's image-reference path);
`DEMO_VQA` mirrors TextVQA's (open questions, ten reference answers as a list literal, VQA accuracy);
`DEMO_MI` mirrors MMMU's (two images per row as a list cell, `<image 1>` / `<image 2>` tags in the
question, multiple choice and open questions, `split` and `category`);
`DEMO_VIDEO` mirrors Video-MME's snapshot (`DEMO-Video/DEMO-Video.tsv` with `candidates` as a list literal
and Video-MME's duration / domain / sub-category / task-type values, `DEMO-Video/video/<id>.mp4`): a few
seconds of a shape that moves and changes colour, two questions per video, sampled at 8 frames.
Images are coloured shapes drawn with Pillow; the same seed gives the same rows and pixels.

    python -m fasteval.data.demo [LMUDATA_DIR]      # writes the DEMO_*.tsv files and the demo videos
"""

from __future__ import annotations

import base64
import csv
import io
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fasteval.data.video.tsv import VIDEO_MME_COLUMNS

SIZE = 96
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 170),
    "orange": (245, 140, 30),
}
SHAPES = ("circle", "square", "triangle")
YN_COLUMNS = ("index", "category", "image_path", "question", "answer", "image")
MCQ_COLUMNS = (
    "index",
    "question",
    "hint",
    "A",
    "B",
    "C",
    "D",
    "answer",
    "category",
    "image",
    "l2-category",
    "split",
)
LETTERS = "ABCD"
ROTATION = 1_000_000  # VLMEvalKit's circular offset: rotation k of question q has index q + k*1e6

Shape = tuple[str, str, tuple[int, int], int]  # shape, colour name, centre, radius


def _draw(shapes: Sequence[Shape]) -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for shape, color, (x, y), r in shapes:
        box = (x - r, y - r, x + r, y + r)
        if shape == "circle":
            d.ellipse(box, fill=COLORS[color])
        elif shape == "square":
            d.rectangle(box, fill=COLORS[color])
        else:
            d.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=COLORS[color])
    return img


def _b64(img: Image.Image, fmt: str) -> str:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _other(rng: random.Random, pool: Sequence[str], *exclude: str) -> str:
    return rng.choice([p for p in pool if p not in exclude])


# ---------------------------------------------------------------------------------------------
# DEMO_YN: MME-like
# ---------------------------------------------------------------------------------------------

YN_SUFFIX = " Please answer yes or no."


def demo_yn_rows(seed: int = 0, per_category: int = 6) -> list[dict[str, str]]:
    """48 rows by default: 4 MME perception subtasks x 6 images x (Yes question, No question)."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for category in ("existence", "count", "position", "color"):
        for i in range(per_category):
            shape, color = rng.choice(SHAPES), rng.choice(list(COLORS))
            if category == "existence":
                shapes: list[Shape] = [(shape, color, (rng.randint(30, 66), rng.randint(30, 66)), 16)]
                absent = _other(rng, SHAPES, shape)
                yes = f"Is there a {color} {shape} in this image?"
                no = f"Is there a {color} {absent} in this image?"
            elif category == "count":
                n = rng.randint(1, 4)
                spots = [(24, 24), (72, 24), (24, 72), (72, 72)][:n]
                shapes = [(shape, color, spot, 12) for spot in spots]
                wrong = rng.choice([k for k in (1, 2, 3, 4, 5) if k != n])
                yes = (
                    f"Are there {n} {shape}s in this image?"
                    if n > 1
                    else f"Is there one {shape} in this image?"
                )
                no = (
                    f"Are there {wrong} {shape}s in this image?"
                    if wrong > 1
                    else f"Is there one {shape} in this image?"
                )
            elif category == "position":
                other_shape, other_color = _other(rng, SHAPES, shape), _other(rng, list(COLORS), color)
                shapes = [(shape, color, (24, 48), 14), (other_shape, other_color, (72, 48), 14)]
                yes = f"Is the {color} {shape} on the left of the {other_color} {other_shape}?"
                no = f"Is the {color} {shape} on the right of the {other_color} {other_shape}?"
            else:
                shapes = [(shape, color, (48, 48), 24)]
                yes = f"Is the {shape} in this image {color}?"
                no = f"Is the {shape} in this image {_other(rng, list(COLORS), color)}?"
            image = _b64(_draw(shapes), "PNG")
            path = f"{category}/{i:05d}.png"
            for question, answer in ((yes, "Yes"), (no, "No")):
                rows.append(
                    {
                        "index": str(len(rows)),
                        "category": category,
                        "image_path": path,
                        "question": question + YN_SUFFIX,
                        "answer": answer,
                        "image": image,
                    }
                )
    return rows


# ---------------------------------------------------------------------------------------------
# DEMO_MCQ: MMBench-like, with circular rotations
# ---------------------------------------------------------------------------------------------

QUADRANTS = {"top left": (26, 26), "top right": (70, 26), "bottom left": (26, 70), "bottom right": (70, 70)}


def _mcq_question(rng: random.Random, category: str) -> tuple[str, list[str], int, list[Shape], str, str]:
    """(question, options, answer position, shapes, l2-category, hint) for one generated question."""
    shape, color = rng.choice(SHAPES), rng.choice(list(COLORS))
    if category == "attribute_recognition":
        options = [color, *rng.sample([c for c in COLORS if c != color], 3)]
        shapes: list[Shape] = [(shape, color, (48, 48), 26)]
        question, l2, hint = f"What colour is the {shape}?", "finegrained_perception (instance-level)", ""
    elif category == "object_localization":
        where = rng.choice(list(QUADRANTS))
        options = [where, *[q for q in QUADRANTS if q != where]]
        shapes = [(shape, color, QUADRANTS[where], 16)]
        question, l2 = f"Where is the {color} {shape}?", "finegrained_perception (instance-level)"
        hint = "The image is split into four equal quadrants."
    elif category == "spatial_relationship":
        left, middle = _other(rng, SHAPES, shape), shape
        right = _other(rng, SHAPES, left, middle)
        colors = rng.sample(list(COLORS), 3)
        shapes = [
            (s, c, (x, 48), 12) for s, c, x in zip((left, middle, right), colors, (18, 48, 78), strict=True)
        ]
        options = [left, right, middle]
        question, l2 = (
            f"Which shape is directly left of the {colors[1]} {middle}?",
            "finegrained_perception (cross-instance)",
        )
        hint = "Shapes are arranged in one row." if rng.random() < 0.5 else ""
    else:  # attribute_comparison: two options only
        big, small = color, _other(rng, list(COLORS), color)
        shapes = [(shape, big, (30, 48), 22), (shape, small, (76, 48), 10)]
        options = [big, small]
        question, l2, hint = f"Which {shape} is larger?", "attribute_reasoning", ""
    # shuffle the options; remember where the right one (always options[0] above) went
    order = list(range(len(options)))
    rng.shuffle(order)
    return question, [options[i] for i in order], order.index(0), shapes, l2, hint


def demo_mcq_rows(seed: int = 0, per_category: int = 6) -> list[dict[str, str]]:
    """24 questions by default (4 categories x 6) and one circular rotation per extra option: 78 rows."""
    rng = random.Random(seed)
    main: list[dict[str, str]] = []
    rotations: list[dict[str, str]] = []
    categories = (
        "attribute_recognition",
        "object_localization",
        "spatial_relationship",
        "attribute_comparison",
    )
    for category in categories:
        for _ in range(per_category):
            question, options, answer, shapes, l2, hint = _mcq_question(rng, category)
            q = len(main)
            image = _b64(_draw(shapes), "JPEG")
            n = len(options)
            for k in range(n):  # rotation k: option i shows what option (i + k) % n showed in the main row
                rotated = [options[(i + k) % n] for i in range(n)]
                row = {
                    "index": str(q + k * ROTATION),
                    "question": question,
                    "hint": hint,
                    **{letter: (rotated[i] if i < n else "") for i, letter in enumerate(LETTERS)},
                    "answer": LETTERS[(answer - k) % n],
                    "category": category,
                    "image": image
                    if k == 0
                    else str(q),  # a short cell is the index of the row holding the image
                    "l2-category": l2,
                    "split": "dev",
                }
                (main if k == 0 else rotations).append(row)
    rotations.sort(key=lambda r: int(r["index"]))
    return main + rotations


# ---------------------------------------------------------------------------------------------
# DEMO_VQA: TextVQA-like (open answers, ten references each)
# ---------------------------------------------------------------------------------------------

VQA_COLUMNS = ("index", "question", "answer", "image")


def demo_vqa_rows(seed: int = 0, n: int = 24) -> list[dict[str, str]]:
    """`n` open questions about one drawn shape: its colour, its shape, or how many there are.

    The ten reference answers mix the plain answer with variants annotators write ("a red one",
    "Red.", "scarlet"), so VQA accuracy's normalisation and its min(#matches / 3, 1) both matter."""
    rng = random.Random(seed + 3)
    rows: list[dict[str, str]] = []
    numbers = ("one", "two", "three", "four")
    for i in range(n):
        shape, color = rng.choice(SHAPES), rng.choice(list(COLORS))
        asked = ("color", "shape", "count")[i % 3]
        count = rng.randint(1, 4) if asked == "count" else 1
        spots = [(24, 24), (72, 24), (24, 72), (72, 72)][:count] if count > 1 else [(48, 48)]
        image = _b64(_draw([(shape, color, spot, 14 if count > 1 else 24) for spot in spots]), "PNG")
        if asked == "color":
            question, truth, variants = (
                "What color is the shape?",
                color,
                [f"{color}.", f"a {color} one", "dark"],
            )
        elif asked == "shape":
            question, truth, variants = "What shape is drawn?", shape, [f"a {shape}", f"The {shape}.", "blob"]
        else:
            question, truth, variants = "How many shapes are there?", str(count), [numbers[count - 1], "many"]
        answers = [truth] * rng.randint(4, 7)  # the plain answer alone earns full marks
        answers += [rng.choice(variants) for _ in range(10 - len(answers))]
        rows.append({"index": str(i), "question": question, "answer": repr(answers), "image": image})
    return rows


# ---------------------------------------------------------------------------------------------
# DEMO_MI: MMMU-like (two images per question, images named in the text)
# ---------------------------------------------------------------------------------------------

MI_COLUMNS = ("index", "question", "A", "B", "C", "D", "answer", "split", "category", "image")


def demo_mi_rows(seed: int = 0, n: int = 16) -> list[dict[str, str]]:
    """`n` questions comparing two drawn images; one in four is an open question (no options)."""
    rng = random.Random(seed + 5)
    rows: list[dict[str, str]] = []
    for i in range(n):
        (s1, c1), (s2, c2) = [(rng.choice(SHAPES), rng.choice(list(COLORS))) for _ in range(2)]
        images = [_b64(_draw([(s, c, (48, 48), 24)]), "PNG") for s, c in ((s1, c1), (s2, c2))]
        options = {letter: "" for letter in LETTERS}
        if i % 4 == 3:  # open question: the answer is the text itself
            question = "<image 1> <image 2> What color is the shape in the second image?"
            answer, category = c2, "open"
        else:
            question = "Which image shows a " + c1 + " " + s1 + "? <image 1> or <image 2>"
            texts = ["the first image", "the second image", "both images", "neither image"]
            truth = 2 if (s1, c1) == (s2, c2) else 0
            order = rng.sample(range(4), 4)
            options = {letter: texts[k] for letter, k in zip(LETTERS, order, strict=True)}
            answer, category = LETTERS[order.index(truth)], "comparison"
        rows.append(
            {
                "index": str(i),
                "question": question,
                **options,
                "answer": answer,
                "split": "dev" if i < n // 2 else "validation",
                "category": category,
                "image": repr(images),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# DEMO_VIDEO: Video-MME-like (a snapshot folder of short videos, multiple choice per video)
# ---------------------------------------------------------------------------------------------

VIDEO_DATASET = "DEMO-Video"
VIDEO_COLUMNS = VIDEO_MME_COLUMNS  # the demo video TSV is a Video-MME TSV, column for column
VIDEO_SIZE, VIDEO_FPS, VIDEO_SECONDS = 64, 8, 3


@dataclass(frozen=True, slots=True)
class Clip:
    """A synthetic video: a square crossing the frame one way, one colour, then another halfway."""

    name: str
    first: str
    last: str
    rightwards: bool


def demo_video_clips(seed: int = 0, n: int = 4) -> list[Clip]:
    rng = random.Random(seed + 7)
    clips = []
    for i in range(n):
        first, last = rng.sample(list(COLORS), 2)
        clips.append(Clip(f"demo{i:02d}", first, last, rightwards=i % 2 == 0))
    return clips


def clip_frames(clip: Clip) -> list[Image.Image]:
    """The clip's frames: `VIDEO_FPS * VIDEO_SECONDS` of them, the colour switching halfway."""
    n = VIDEO_FPS * VIDEO_SECONDS
    frames = []
    for k in range(n):
        img = Image.new("RGB", (VIDEO_SIZE, VIDEO_SIZE), (255, 255, 255))
        x = 4 + round(k * (VIDEO_SIZE - 24) / (n - 1))
        x = x if clip.rightwards else VIDEO_SIZE - 20 - x
        colour = COLORS[clip.first if k < n // 2 else clip.last]
        ImageDraw.Draw(img).rectangle((x, 22, x + 16, 38), fill=colour)
        frames.append(img)
    return frames


def write_clip(path: Path, clip: Clip) -> None:
    """The clip as H.264 in MP4 (PyAV), written atomically."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=VIDEO_FPS, options={"threads": "1"})
        stream.width = stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        for img in clip_frames(clip):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)


def demo_video_rows(clips: Sequence[Clip], seed: int = 0) -> list[dict[str, str]]:
    """Two questions per clip: its colour at the end (Attribute Perception) and which way it moves
    (Spatial Perception); candidates `A. ...` as Video-MME's list literal, the answer a letter."""
    rng = random.Random(seed + 8)
    rows: list[dict[str, str]] = []
    ways = ["From left to right.", "From right to left.", "From top to bottom.", "It does not move."]
    for clip in clips:
        colours = [clip.last, *rng.sample([c for c in COLORS if c != clip.last], 3)]
        rng.shuffle(colours)
        asks = [
            ("What colour is the square at the end of the video?", colours, colours.index(clip.last),
             "Attribute Perception"),
            ("Which way does the square move?", ways, 0 if clip.rightwards else 1, "Spatial Perception"),
        ]  # fmt: skip
        for question, texts, truth, task in asks:
            rows.append(
                {
                    "index": str(len(rows)),
                    "video": clip.name,
                    "video_path": f"./video/{clip.name}.mp4",
                    "duration": "short",
                    "domain": "Life Record",
                    "candidates": repr([f"{LETTERS[k]}. {t}" for k, t in enumerate(texts)]),
                    "sub_category": "Daily Life",
                    "task_type": task,
                    "subtitle_path": f"./subtitle/{clip.name}.srt",
                    "question": question,
                    "answer": LETTERS[truth],
                }
            )
    return rows


def write_demo_video(lmudata: Path, seed: int = 0) -> None:
    """`lmudata/DEMO-Video/`: the TSV and one MP4 per clip."""
    root = lmudata / VIDEO_DATASET
    clips = demo_video_clips(seed)
    for clip in clips:
        write_clip(root / "video" / f"{clip.name}.mp4", clip)
    _write_tsv(root / f"{VIDEO_DATASET}.tsv", VIDEO_COLUMNS, demo_video_rows(clips, seed))


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def _write_tsv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    """VLMEvalKit's TSV: tab-separated, header row, empty cells read back as NaN; written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(columns)
        w.writerows([row[c] for c in columns] for row in rows)
    os.replace(tmp, path)


def write_demo_benchmarks(lmudata: Path, seed: int = 0) -> list[str]:
    """Write the DEMO_*.tsv files into `lmudata` (VLMEvalKit's $LMUData); return the dataset names."""
    _write_tsv(lmudata / "DEMO_YN.tsv", YN_COLUMNS, demo_yn_rows(seed))
    _write_tsv(lmudata / "DEMO_MCQ.tsv", MCQ_COLUMNS, demo_mcq_rows(seed))
    _write_tsv(lmudata / "DEMO_VQA.tsv", VQA_COLUMNS, demo_vqa_rows(seed))
    _write_tsv(lmudata / "DEMO_MI.tsv", MI_COLUMNS, demo_mi_rows(seed))
    write_demo_video(lmudata, seed)
    return ["DEMO_YN", "DEMO_MCQ", "DEMO_VQA", "DEMO_MI", "DEMO_VIDEO"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    default = os.environ.get("LMUData") or str(Path.home() / "LMUData")  # noqa: SIM112 (VLMEvalKit spells it so)
    target = Path(args[0] if args else default)
    names = write_demo_benchmarks(target)
    print(f"wrote {', '.join(names)} to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
