#!/usr/bin/env python3
"""Make the decoder stress videos and record what decord 0.6.0 decodes from them (decord.json).

Videos beyond the conformance kit's: long GOPs with B-frames, an open GOP, 4:4:4 chroma, VP9,
variable frame rate, MJPEG in AVI. Run in a scratch venv with `av` and `decord==0.6.0` (decord is
not a fasteval dependency): `python make.py`. For each video decord.json holds len(vr),
get_avg_fps() and, for a fixed set of indices, the SHA-256 of `vr[i].asnumpy()`.
Frames are 64x48 or larger: at 48x32 decord 0.6.0 returned 4-channel arrays of garbage.
"""
import fractions
import hashlib
import json

import av
import numpy as np


def make(path, codec, n, rate, w, h, pix="yuv420p", opts=None, vfr=False):
    c = av.open(path, "w")
    s = c.add_stream(codec, rate=rate)
    s.width, s.height, s.pix_fmt = w, h, pix
    if opts:
        s.options = opts
    if vfr:
        s.codec_context.time_base = fractions.Fraction(1, 1000)
        s.time_base = fractions.Fraction(1, 1000)
    rng = np.random.default_rng(0)
    t = 0
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[:] = (i * 7 % 256, i * 13 % 256, 255 - i % 256)
        img[: h // 3, : w // 2] = rng.integers(0, 255, (h // 3, w // 2, 3))
        if i % 97 == 0:
            img[:] = rng.integers(0, 255, (h, w, 3))  # a scene cut
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        if vfr:
            f.pts, f.time_base = t, fractions.Fraction(1, 1000)
            t += int(rng.integers(20, 60))
        for p in s.encode(f):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()


VIDEOS = {
    "long_gop.mp4": dict(codec="libx264", n=600, rate=30, w=64, h=48, opts={"g": "120", "bf": "3"}),
    "open_gop.mp4": dict(codec="libx264", n=300, rate=fractions.Fraction(30000, 1001), w=64, h=48,
                         opts={"x264-params": "open-gop=1:keyint=40", "bf": "3"}),
    "yuv444.mp4": dict(codec="libx264", n=60, rate=25, w=96, h=64, pix="yuv444p"),
    "vp9.webm": dict(codec="libvpx-vp9", n=60, rate=24, w=96, h=64),
    "vfr.mp4": dict(codec="libx264", n=120, rate=30, w=96, h=64, vfr=True),
    "mjpeg.avi": dict(codec="mjpeg", n=30, rate=15, w=96, h=64, pix="yuvj420p"),
}

if __name__ == "__main__":
    import decord

    out = {"decord": decord.__version__, "av": av.__version__, "videos": {}}
    for name, kw in VIDEOS.items():
        make(name, **kw)
        vr = decord.VideoReader(name)
        n = len(vr)
        rng = np.random.default_rng(1)
        idx = sorted({0, n - 1, *(int(i) for i in rng.integers(0, n, 24)), *range(0, n, max(1, n // 16))})
        out["videos"][name] = {
            "len": n,
            "avg_fps": vr.get_avg_fps(),
            "indices": idx,
            "rgb_sha256": [hashlib.sha256(vr[i].asnumpy().tobytes()).hexdigest() for i in idx],
        }
    with open("decord.json", "w") as fh:
        json.dump(out, fh, indent=1)
