"""How many network inferences (and SFace faces) ``FacePipeline.analyze(first_only=True)``
makes on lfw7's validation photos and on a folder of 12 MP photos (``bench_speed.py`` makes
them; default /tmp/speed/big). Deterministic, so checkouts compare exactly:
``PYTHONPATH=<checkout>/src python bench/count_inferences.py [BIG_DIR]``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import lfw7  # noqa: E402


def main() -> None:
    from lookalike.face.pipeline import FacePipeline
    from lookalike.runtime.opencv_net import OpenCVNetwork
    from lookalike.runtime.openvino_net import OpenVINONetwork

    counts = {"yunet": [0, 0], "sface": [0, 0]}
    def counted(original):
        def run(self, blob):
            k = "sface" if "sface" in self.source.name else "yunet"
            counts[k][0] += 1
            counts[k][1] += len(blob)
            return original(self, blob)
        return run

    for cls in (OpenVINONetwork, OpenCVNetwork):
        cls.run = counted(cls.run)
    pipe = FacePipeline(cache=False)
    big = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/speed/big")
    for name, photos in (("lfw7", sorted((lfw7() / "validation").glob("*/*.jpg"))),
                         ("12mp", sorted(big.glob("*.jpg")))):
        for k in counts:
            counts[k] = [0, 0]
        for p in photos:
            pipe.analyze(p, first_only=True)
        print(f"{name}, {len(photos)} photos: SFace inferences {counts['sface'][0]} "
              f"({counts['sface'][1]} faces), YuNet inferences {counts['yunet'][0]}")


if __name__ == "__main__":
    main()
