"""How many network inferences (and SFace faces) ``FacePipeline.analyze(first_only=True)``
makes on lfw7's validation photos and on the 12 MP photos ``bench_speed.py`` makes (folder
given as argument; default /tmp/speed/big). Deterministic: compare checkouts with
``PYTHONPATH=<checkout>/src python bench/count_inferences.py [BIG_DIR]``."""

import sys

import glob
from lookalike import runtime
from lookalike.pipeline import FacePipeline
n = {"yunet": [0, 0], "sface": [0, 0]}
orig = runtime.Network.run
def run(self, blob):
    k = "sface" if "sface" in self.source.name else "yunet"
    n[k][0] += 1; n[k][1] += len(blob)
    return orig(self, blob)
runtime.Network.run = run
pipe = FacePipeline(cache=False)
for name, pat in (("lfw7", "/work/shared/data/lfw7/validation/*/*.jpg"), ("12mp", (sys.argv[1] if len(sys.argv) > 1 else "/tmp/speed/big") + "/*.jpg")):
    for k in n: n[k] = [0, 0]
    ps = sorted(glob.glob(pat))
    for p in ps: pipe.analyze(p, first_only=True)
    print(name, len(ps), "photos: sface runs/faces", n["sface"], "yunet runs", n["yunet"][0])
