"""The evaluation report a person can open (``lookalike evaluate --report OUT/``); the training
report is :mod:`.train_report`, the HTML around both :mod:`.html_page`.

Each is a folder with ``index.html`` and the pictures it shows, linked relatively, with inline
CSS and no script, font or stylesheet from the network: it opens offline, from any copy of the
folder. Pictures are drawn with matplotlib on Agg canvases (:mod:`lookalike.pictures.plots`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lookalike.answer.scoring import topk_accuracy
from lookalike.names import display_name
from lookalike.pictures.charts import confusion_png, reliability_png
from lookalike.pictures.fonts import check_names
from lookalike.pictures.html_page import escape, kpis, page, percent, report_folder, write_page
from lookalike.pictures.plots import person_color
from lookalike.pictures.report_faces import (
    face_img,
    faces_by_person,
)
from lookalike.pictures.text import pct

if TYPE_CHECKING:
    from lookalike.models.recognizer import Recognizer


# -- the evaluation report -------------------------------------------------------------------

def write_report(result: dict, model: Recognizer, out_dir: str | Path,
                 data_dir: str | Path | None = None) -> Path:
    """Write the evaluation report for ``result`` (from :func:`lookalike.measure.evaluate.evaluate`,
    with its private ``_rows``, ``_proba``, ``_y``) into ``out_dir``; returns ``index.html``.

    ``data_dir``: the evaluated folder, to read the misclassified photos for thumbnails
    (``result["data"]`` when not given; paths in the result are relative to it)."""
    out = report_folder(out_dir)
    labels = list(result.get("labels") or model.labels)
    check_names(labels)
    data_root = Path(data_dir or result.get("data") or ".")
    m = model.manifest
    n = int(result.get("n") or 0)
    parts = [f"<h1>Evaluation of {escape(Path(str(model.path or 'model')).name)}"
             f"</h1>",
             f'<p class="muted">on <code>{escape(data_root)}</code> — {n} photos scored of '
             f"{result.get('photos', n)}; model: {len(labels)} people, embedder "
             f"{escape((m.get('embedder') or {}).get('name', m.get('kind', '?')))}, "
             f"{escape((m.get('head') or {}).get('type', '?'))} head; lookalike "
             f"{escape(m.get('lookalike_version', '?'))}</p>"]
    if n == 0:
        parts.append("<p>No photo of a known person with a face was found, so nothing was "
                     "scored.</p>")
        parts.append(_not_scored(result))
        write_page(out / "index.html", page("lookalike evaluation", "\n".join(parts)))
        return out / "index.html"

    P = np.asarray(result["_proba"])
    y = np.asarray(result["_y"])
    ks = [k for k in (1, 2, 3, 5) if k <= len(labels)]
    topk = topk_accuracy(P, y, ks)
    parts.append(kpis([("accuracy", percent(result["accuracy"])),
                        ("top-3 accuracy", percent(result.get("top3_accuracy"))),
                        ("calibration error (ECE)", f"{result.get('ece', float('nan')):.3f}"),
                        ("'none of these'", percent(result.get("unknown_rate"))),
                        ("misclassified", str(len(result.get("misclassified", []))))]))
    parts.append("<p>Top-k accuracy (the true person among the k highest): " + ", ".join(
        f"top-{k} {percent(v)}" for k, v in topk.items())
        + f". Mean negative log-likelihood {result.get('nll', float('nan')):.3f}.</p>")

    parts.append(_per_person(result, labels))
    parts += _pictures(result, labels, P, y, out)
    parts += _misclassified(result, out, data_root)
    parts += _chosen(result, out, data_root)
    parts.append(_not_scored(result))
    parts.append("<p class='muted'>Made by <code>lookalike evaluate --report</code>. "
                 "Percentages are the model's calibrated probabilities over the people it "
                 "knows.</p>")
    return write_page(out / "index.html", page("lookalike evaluation", "\n".join(parts)))


def _per_person(result: dict, labels: list[str]) -> str:
    parts = ["<h2>Per person</h2><table><tr><th class='name'>person</th><th>photos</th>"
                 "<th>precision</th><th>recall</th><th>F1</th></tr>"]
    for p, s in result["per_person"].items():
        parts.append(
            f"<tr><td class='name'><span class='sw' style='background:"
            f"{person_color(labels, p)}'></span>{escape(display_name(p))}</td><td>{s['n']}</td>"
            f"<td>{percent(s['precision'])}</td><td>{percent(s['recall'])}</td>"
            f"<td>{percent(s['f1'])}<span class='bar' style='width:{round(60 * s['f1'])}px'>"
            f"</span></td></tr>")
    parts.append("</table>")
    return "\n".join(parts)


def _pictures(result: dict, labels: list[str], P: np.ndarray, y: np.ndarray, out: Path
              ) -> list[str]:
    """The confusion matrix and the reliability diagram."""
    parts = []
    confusion_png(np.asarray(result["confusion"]), labels, out / "confusion.png")
    rel = reliability_png(P, y, out / "reliability.png", ece=result.get("ece"))
    parts.append("<h2>Confusion matrix</h2><p class='muted'>Rows: the true person; columns: "
                 "the model's top answer. Colour: share of the person's photos.</p>"
                 "<img class='fig' src='confusion.png' alt='confusion matrix'>")
    parts.append("<h2>Calibration</h2><p>Expected calibration error (ECE) "
                 f"<b>{rel['ece']:.3f}</b>: the photo-weighted gap between the stated "
                 "probability of the top answer and how often it is right, over "
                 f"{len(rel['counts'])} confidence bins. 0 is perfect; bars on the diagonal "
                 "mean a stated 80 % is right 80 % of the time.</p>"
                 "<img class='fig' src='reliability.png' alt='reliability diagram'>")
    return parts


def _misclassified(result: dict, out: Path, data_root: Path) -> list[str]:
    """The wrongly answered photos: the face, the true and the predicted person."""
    parts = []
    wrong = list(result.get("misclassified") or [])
    kinds = [r.get("error") for r in wrong]
    parts.append(f"<h2>Misclassified photos ({len(wrong)}: {kinds.count('face choice')} "
                 f"face-choice, {kinds.count('identity')} identity errors)</h2>")
    thumbs = out / "misclassified"
    for old in thumbs.glob("[0-9][0-9][0-9][0-9].jpg"):  # a previous report's
        old.unlink()
    if not wrong:
        parts.append("<p>None: every scored photo's top answer is the true person.</p>")
    else:
        thumbs.mkdir(exist_ok=True)
        cards = []
        for k, r in enumerate(wrong, 1):
            img = face_img(out, f"misclassified/{k:04d}.jpg", data_root / r["photo"],
                           r.get("box"))
            ranking = "".join(
                f"<li>{escape(display_name(x['person']))} {pct(x['probability'])}</li>"
                for x in r.get("ranking", [])[:3])
            none = "<br><b>none of these</b> (no training photo close enough)" \
                if r.get("unknown") else ""
            other = r.get("other_face")
            if other:
                none += (f"<br><b>face choice</b>: {escape(display_name(r['person']))} is face "
                         f"{other['rank']} of {other['of']} in this photo; the answer was for "
                         "another face")
            else:
                none += ("<br><b>identity</b>: no other face of the photo is answered as "
                         f"{escape(display_name(r['person']))}")
            cards.append(
                f"<div class='card'>{img}<div><div class='true'>true: "
                f"<b>{escape(display_name(r['person']))}</b> {pct(r['true_probability'])}</div>"
                f"<div class='pred'>predicted: <b>{escape(display_name(r['predicted']))}</b> "
                f"{pct(r['probability'])}</div>{none}<ol class='plain'>{ranking}</ol>"
                f"<div class='path'>{escape(r['photo'])}</div></div></div>")
        parts.append("<div class='grid'>" + "".join(cards) + "</div>")
    return parts


def _chosen(result: dict, out: Path, data_root: Path) -> list[str]:
    """The photos answered for another face than the most prominent, per person."""
    rows = [{"photo": r["photo"], "person": r["person"], "box": r.get("box"),
             "why": f"face {r['face_index']} of {r['faces_in_photo']}: {r['chosen_by']}; "
                    f"answer {display_name(r['predicted'])} {100 * r['probability']:.0f} %"}
            for r in result.get("_rows", []) if r.get("face_index", 1) != 1]
    return faces_by_person("Answered for another face than the most prominent", rows,
                           data_root, out, "chosen",
                           "The face most confidently one of the known people was taken as "
                           "whom the photo is about (evaluate's rule).")


def _not_scored(result: dict) -> str:
    parts = []
    nf = result.get("no_face_photos") or []
    ur = result.get("unreadable_photos") or []
    up = result.get("unknown_people") or {}
    if nf or ur or up:
        parts.append("<h2>Not scored</h2><ul>")
        for p in nf:
            parts.append(f"<li>{escape(p)}: no face found</li>")
        for p, why in ur:
            parts.append(f"<li>{escape(p)}: {escape(why)}</li>")
        for p, c in up.items():
            parts.append(f"<li>{escape(display_name(p))}: {c} photo(s) of a person the model "
                         "does not know</li>")
        parts.append("</ul>")
    return "".join(parts)
