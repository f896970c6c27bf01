"""12-megapixel photos by face size: CPU per ``Model.predict`` (decode + detect + embed + rank).

Shows where the adaptive decode (one 1/4-scale JPEG decode when the face is big enough there, a
second decode otherwise) pays. Usage: ``python -m bench.studies.speed.bench_decode MODEL`` (a model
trained on ../shared/data/lfw7, e.g. ``lookalike train ../shared/data/lfw7 -o lfw7.lookalike``).
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from lookalike.models.model import load

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw7" / "validation"


def main(model_path: str) -> None:
    model = load(model_path)
    model.pipeline.cache = None
    background = Image.fromarray(data.coffee()).resize((4000, 3000))
    files = sorted(DATA.glob("*/*.jpg"))[::4][:8]
    for side in (300, 600, 1200, 2400):
        photos = []
        for i, f in enumerate(files):
            canvas = background.copy()
            canvas.paste(Image.open(f).convert("RGB").resize((side, side)), (100 + 60 * i, 200))
            buf = io.BytesIO()
            canvas.save(buf, "JPEG", quality=92)
            photos.append((f.parent.name, buf.getvalue()))
        model.predict(photos[0][1])
        cpu, right = [], 0
        for who, photo in photos:
            t = time.process_time()
            res = model.predict(photo)
            cpu.append((time.process_time() - t) * 1000)
            right += bool(res.faces) and res.faces[0].top.person == who
        print(f"LFW photo pasted at {side:4d} px (face box ≈ {side * 0.42:.0f} px) in 4000×3000: "
              f"CPU p50 {np.median(cpu):.0f} ms, top-1 {right}/{len(photos)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "lfw7.lookalike")
