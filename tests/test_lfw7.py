"""Integration on ../shared/data/lfw7 (7 people, 168 train / 42 validation); skips without it."""

import pytest

from lookalike.measure.evaluate import evaluate
from lookalike.models.train import train

pytestmark = [pytest.mark.lfw, pytest.mark.slow]  # slow: trains on lfw7 and runs the demo


@pytest.fixture(scope="module")
def lfw7_model(shared_data):
    return train(shared_data / "lfw7", progress=False)


def test_lfw7_validation_is_perfect(lfw7_model):
    model, report = lfw7_model
    assert len(report.people) == 7 and report.metrics["train_photos"] == 168
    assert report.metrics["validation_photos"] == 42
    assert report.metrics["accuracy"] >= 0.97 and report.metrics["top3_accuracy"] == 1.0
    assert report.metrics["ece"] < 0.05


def test_lfw7_evaluate_matches_training_metrics(lfw7_model, shared_data):
    model, report = lfw7_model
    res = evaluate(model, shared_data / "lfw7" / "validation", progress=False)
    assert res["n"] == 42 and res["accuracy"] == pytest.approx(report.metrics["accuracy"])
    assert res["unknown_rate"] < 0.1


def test_demo_runs_offline_on_a_small_lfw_slice(shared_data, tmp_path, capsys):
    from lookalike.cli import main

    code = main(["demo", "--data-home", str(shared_data / "lfw_home" / ".."), "--min-photos",
                 "70", "--max-photos", "6", "-o", str(tmp_path / "demo.lookalike"), "-q"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Learned 7 people" in out and "Whom does this face look like?" in out
    assert "astronaut" in out and "%" in out
