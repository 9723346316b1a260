"""Image cells of a VLMEvalKit TSV: references, multi-image lists, and MIME sniffing.

Images stay the dataset's own base64 text all the way to the request; nothing here decodes
pixels. The MIME type comes from the first decoded bytes only (the format's magic number).
"""

from __future__ import annotations

import ast
import binascii

from fasteval.errors import FastevalError

REF_MAX_LEN = 64
"""VLMEvalKit treats an `image` cell of at most 64 characters as another row's index."""

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


class ImageError(FastevalError):
    """An image cell that cannot be sent as an image."""


def is_reference(cell: str) -> bool:
    """True when the cell names another row (MMBench's circular copies, MME's repeated images)."""
    return len(cell) <= REF_MAX_LEN


def split_cell(cell: str) -> list[str]:
    """The base64 strings of one cell: a `"['b64', 'b64']"` list cell gives several.

    VLMEvalKit `eval`s a cell that starts with `[` and ends with `]`; a literal parse gives the same
    strings for every list VLMEvalKit could read, and never runs code.
    """
    if cell.startswith("[") and cell.endswith("]"):
        try:
            parsed = ast.literal_eval(cell)
        except (ValueError, SyntaxError) as exc:
            raise ImageError(
                f"image list cell is not a Python list literal ({exc.__class__.__name__})"
            ) from None
        if not isinstance(parsed, list | tuple):
            raise ImageError("image list cell does not hold a list")
        return [str(x) for x in parsed]
    return [cell]


def sniff_mime(b64: str) -> str:
    """MIME type from the magic number in the first decoded bytes; the image itself is not decoded."""
    head = b64[:24].strip()
    try:
        raw = binascii.a2b_base64(head[: len(head) - len(head) % 4])
    except binascii.Error:
        raise ImageError("image cell is not base64") from None
    for magic, mime in _MAGIC:
        if raw.startswith(magic):
            return mime
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    raise ImageError(f"image is not JPEG/PNG/GIF/WEBP/BMP (starts with bytes {raw[:8].hex()})")


def check_base64(b64: str) -> None:
    """Fail now on base64 that VLMEvalKit's `base64.b64decode` would reject when it dumps the image."""
    try:
        binascii.a2b_base64(b64)
    except binascii.Error as exc:
        raise ImageError(f"image cell is not valid base64 ({exc})") from None
