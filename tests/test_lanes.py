"""Photos side by side in one process (lookalike.runtime.lanes): when predict_many uses them,
the networks' own variant for them, and answers identical to one photo at a time."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from lookalike import runtime
from lookalike.errors import LookalikeError
from lookalike.runtime import lanes, policy


@pytest.fixture
def cores(monkeypatch):
    """A process of ``n`` usable cores, no LOOKALIKE_THREADS, the default thread policy."""
    monkeypatch.delenv("LOOKALIKE_THREADS", raising=False)
    monkeypatch.delenv("LOOKALIKE_BACKEND", raising=False)
    monkeypatch.delenv("LOOKALIKE_LANES", raising=False)
    monkeypatch.setattr(policy, "_DEFAULT_THREADS", [None])

    def set_cores(n: int) -> None:
        monkeypatch.setattr(policy, "usable_cores", lambda: n)
    return set_cores


def test_lanes_only_for_enough_photos_on_openvino_with_threads_to_share(cores, monkeypatch):
    cores(4)
    assert lanes.lanes_for(lanes.MIN_PHOTOS, "openvino") == 4
    assert lanes.lanes_for(lanes.MIN_PHOTOS - 1, "openvino") == 1  # too few to pay a compile
    assert lanes.lanes_for(100, "opencv") == 1  # one dnn thread pool per process
    monkeypatch.setenv("LOOKALIKE_THREADS", "2")
    assert lanes.lanes_for(100, "openvino") == 2  # never more lanes than threads
    monkeypatch.setenv("LOOKALIKE_THREADS", "1")
    assert lanes.lanes_for(100, "openvino") == 1  # the user asked for one thread
    monkeypatch.delenv("LOOKALIKE_THREADS")
    monkeypatch.setenv("LOOKALIKE_LANES", "1")  # turned off by the user
    assert lanes.lanes_for(100, "openvino") == 1
    monkeypatch.setenv("LOOKALIKE_LANES", "3")  # at most 3, and never more than the cores
    assert lanes.lanes_for(100, "openvino") == 3
    monkeypatch.setenv("LOOKALIKE_LANES", "two")
    with pytest.raises(LookalikeError, match="LOOKALIKE_LANES"):
        lanes.lanes_for(100, "openvino")
    monkeypatch.delenv("LOOKALIKE_LANES")
    runtime.set_default_threads(1)  # a --workers pool process: already one photo per core
    assert lanes.lanes_for(100, "openvino") == 1
    cores(1)
    runtime.set_default_threads(None)
    assert lanes.lanes_for(100, "openvino") == 1


def test_side_by_side_keeps_the_order_and_each_lane_knows_its_share():
    seen: dict[int, int] = {}

    def work(x: int) -> int:
        seen[x] = lanes.streams()
        return x * x

    assert list(lanes.each(work, range(9), 3)) == [x * x for x in range(9)]
    assert set(seen.values()) == {3}
    assert lanes.streams() == 1  # the calling thread keeps every core
    assert list(lanes.each(work, range(3), 1)) == [0, 1, 4] and seen[2] == 1

    def fail(x: int) -> int:
        if x == 2:
            raise ValueError("bad photo")
        return x

    started: list[int] = []

    def fail_early(x: int) -> int:
        started.append(x)
        if x == 1:
            raise ValueError("bad photo")
        time.sleep(0.002)  # a photo's work
        return x

    with pytest.raises(ValueError, match="bad photo"):  # an error is not swallowed
        list(lanes.each(fail, range(4), 2))
    with pytest.raises(ValueError):  # and the photos not started yet are not worked through
        list(lanes.each(fail_early, range(2000), 2))  # (2 s of work in all)
    assert len(started) < 1000


def test_a_caller_that_stops_early_drops_the_photos_not_started():
    started: list[int] = []

    def work(x: int) -> int:
        started.append(x)
        time.sleep(0.002)
        return x

    results = lanes.each(work, range(2000), 2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    results.close()  # (a progress bar's consumer gone, say)
    assert len(started) < 1000


@pytest.mark.skipif(not runtime.openvino_available(), reason="needs openvino")
def test_a_lane_runs_its_own_compiled_variant_with_the_same_outputs(monkeypatch):
    from lookalike.face.detector import sface_path

    # (two threads to share: an in-process Dask worker of an earlier test may have left this
    # process's default at one thread)
    monkeypatch.setenv("LOOKALIKE_THREADS", "2")
    net = runtime.open_network(sface_path(), backend="openvino", batch=True)
    blob = np.random.default_rng(0).uniform(0, 255, (2, 3, 112, 112)).astype(np.float32)
    alone = net.run(blob)[0]
    out: list[np.ndarray] = []
    list(lanes.each(lambda b: out.append(net.run(b)[0]), [blob, blob], 2))
    keys = list(net._compiled)
    assert ("batch", 3, 112, 112) in keys and ("batch", 3, 112, 112, "lanes", 2) in keys
    variant = net._compiled[("batch", 3, 112, 112, "lanes", 2)]
    assert int(variant.get_property("NUM_STREAMS")) == 2
    assert int(net._compiled[("batch", 3, 112, 112)].get_property("NUM_STREAMS")) == 1
    for o in out:  # the same numbers whichever variant computed them
        np.testing.assert_allclose(o, alone, rtol=0, atol=1e-4)


def test_predict_many_side_by_side_answers_as_one_photo_at_a_time(trained, people_dir,
                                                                 cores, monkeypatch):
    cores(2)
    model, _, _ = trained
    photos = sorted(people_dir.glob("*/*.jpg"))[::2] + [people_dir / "missing.jpg"]
    one_by_one = [model.predict(p).to_dict() for p in photos[:-1]]
    used: list[int] = []
    answer = model._answer

    def counted(*a, **k):
        used.append(lanes.streams())
        return answer(*a, **k)

    monkeypatch.setattr(model, "_answer", counted)
    if model.lanes(len(photos)) == 1:
        pytest.skip("this process runs its networks without OpenVINO")
    results, _ = model.predict_many(photos)
    assert set(used) == {2}
    assert [r.to_dict() for r in results[:-1]] == one_by_one  # order and numbers kept
    assert json.dumps([r.to_dict() for r in results[:-1]]) == json.dumps(one_by_one)
    assert not results[-1].ok and "missing.jpg" in results[-1].error  # an error stays a value
    used.clear()
    model.predict_many(photos[:2])  # too few photos: one after the other, in this thread
    assert set(used) == {1}
    used.clear()
    again, _ = model.predict_many(photos, side_by_side=False)  # asked: one at a time
    assert set(used) == {1} and [r.to_dict() for r in again[:-1]] == one_by_one


def test_predict_many_shows_a_progress_bar_only_when_asked(trained, people_dir, monkeypatch,
                                                            capsys):
    model, _, _ = trained
    photos = sorted(people_dir.glob("*/*.jpg"))[:8]
    monkeypatch.setenv("LOOKALIKE_PROGRESS", "1")
    model.predict_many(photos)
    assert capsys.readouterr().err == ""
    model.predict_many(photos, progress=True)
    err = capsys.readouterr().err
    assert "photos:" in err and "/8" in err  # (tqdm, cleared when done)


def test_dlib_and_opencv_pipelines_answer_one_photo_at_a_time(cores, monkeypatch):
    from lookalike.face.pipeline import FacePipeline

    cores(2)
    pipe = FacePipeline("sface", cache=False)
    assert pipe.lanes(10) == (2 if pipe.embedder.backend == "openvino" else 1)
    monkeypatch.setattr(pipe.embedder, "backend", "opencv")
    assert pipe.lanes(10) == 1
    pytest.importorskip("dlib")
    assert FacePipeline("dlib", cache=False).lanes(10) == 1
