"""Reports a person can open: the evaluation report (``lookalike evaluate --report OUT/``) and
the training report (``lookalike train --report OUT/``).

Each is a folder with ``index.html`` and the pictures it shows, linked relatively, with inline
CSS and no script, font or stylesheet from the network: it opens offline, from any copy of the
folder. Pictures are drawn with matplotlib on Agg canvases (:mod:`lookalike.pictures.plots`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.answer.scoring import topk_accuracy
from lookalike.errors import LookalikeError
from lookalike.files import atomic_write
from lookalike.pictures.plots import (
    check_names,
    confusion_png,
    display_name,
    pct,
    person_color,
    reliability_png,
    save_png,
    style,
    wrap_name,
)
from lookalike.pictures.report_faces import (
    THUMB_PX,
    face_img,
    face_thumbnail,
    faces_by_person,
    train_rows,
)

if TYPE_CHECKING:
    from lookalike.models.recognizer import Recognizer

CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,"Noto Sans CJK JP",sans-serif;color:#222;
margin:24px auto;max-width:1100px;padding:0 16px;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;
padding-bottom:.2em;font-size:1.2em}.muted{color:#666}.big{font-size:1.9em;font-weight:bold}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}.kpi{border:1px solid #ddd;
border-radius:6px;padding:8px 14px;min-width:120px}.kpi .label{color:#666;font-size:.85em}
table{border-collapse:collapse;margin:8px 0}th,td{padding:4px 10px;border-bottom:1px solid #eee;
text-align:right}th{background:#f6f6f6}td.name,th.name{text-align:left}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.bar{display:inline-block;height:8px;background:#4C72B0;vertical-align:middle;margin-left:6px}
.grid{display:flex;flex-wrap:wrap;gap:14px}.card{border:1px solid #ddd;border-radius:6px;
padding:8px;width:318px;display:flex;gap:10px;font-size:.85em}.card img{width:@Tpx;
height:@Tpx;object-fit:cover;border-radius:4px;background:#eee}.card .miss{width:@Tpx;
height:@Tpx;display:flex;align-items:center;justify-content:center;background:#f2f2f2;
color:#777}.true{color:#1b7e3c}.pred{color:#b3322b}.path{color:#777;word-break:break-all;
font-size:.85em}img.fig{max-width:100%;border:1px solid #eee}
ol.plain{margin:4px 0;padding-left:1.3em;color:#444}code{background:#f4f4f4;padding:0 3px}
""".replace("@T", str(THUMB_PX))


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _out_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise LookalikeError("is a file, not a folder", out,
                             "give a folder for the report, e.g. --report report/")
    if not out.parent.exists():
        raise LookalikeError(f"folder {out.parent} does not exist", out, "create it first")
    out.mkdir(exist_ok=True)
    return out


def _write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), example="index.html")


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n{body}\n"
            f"</body></html>\n")


def _kpis(items: Sequence[tuple[str, str]]) -> str:
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><div class="label">{_e(k)}</div><div class="big">{_e(v)}</div></div>'
        for k, v in items) + "</div>"


def _percent(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f} %"


# -- pictures --------------------------------------------------------------------------------

# -- the evaluation report -------------------------------------------------------------------

def write_report(result: dict, model: Recognizer, out_dir: str | Path,
                 data_dir: str | Path | None = None) -> Path:
    """Write the evaluation report for ``result`` (from :func:`lookalike.measure.evaluate.evaluate`,
    with its private ``_rows``, ``_proba``, ``_y``) into ``out_dir``; returns ``index.html``.

    ``data_dir``: the evaluated folder, to read the misclassified photos for thumbnails
    (``result["data"]`` when not given; paths in the result are relative to it)."""
    out = _out_dir(out_dir)
    labels = list(result.get("labels") or model.labels)
    check_names(labels)
    data_root = Path(data_dir or result.get("data") or ".")
    m = model.manifest
    n = int(result.get("n") or 0)
    parts = [f"<h1>Evaluation of {_e(Path(str(model.path or 'model')).name)}"
             f"</h1>",
             f'<p class="muted">on <code>{_e(data_root)}</code> — {n} photos scored of '
             f"{result.get('photos', n)}; model: {len(labels)} people, embedder "
             f"{_e((m.get('embedder') or {}).get('name', m.get('kind', '?')))}, "
             f"{_e((m.get('head') or {}).get('type', '?'))} head; lookalike "
             f"{_e(m.get('lookalike_version', '?'))}</p>"]
    if n == 0:
        parts.append("<p>No photo of a known person with a face was found, so nothing was "
                     "scored.</p>")
        parts.append(_not_scored(result))
        _write_text(out / "index.html", _page("lookalike evaluation", "\n".join(parts)))
        return out / "index.html"

    P = np.asarray(result["_proba"])
    y = np.asarray(result["_y"])
    ks = [k for k in (1, 2, 3, 5) if k <= len(labels)]
    topk = topk_accuracy(P, y, ks)
    parts.append(_kpis([("accuracy", _percent(result["accuracy"])),
                        ("top-3 accuracy", _percent(result.get("top3_accuracy"))),
                        ("calibration error (ECE)", f"{result.get('ece', float('nan')):.3f}"),
                        ("'none of these'", _percent(result.get("unknown_rate"))),
                        ("misclassified", str(len(result.get("misclassified", []))))]))
    parts.append("<p>Top-k accuracy (the true person among the k highest): " + ", ".join(
        f"top-{k} {_percent(v)}" for k, v in topk.items())
        + f". Mean negative log-likelihood {result.get('nll', float('nan')):.3f}.</p>")

    parts.append(_per_person(result, labels))
    parts += _pictures(result, labels, P, y, out)
    parts += _misclassified(result, out, data_root)
    parts += _chosen(result, out, data_root)
    parts.append(_not_scored(result))
    parts.append("<p class='muted'>Made by <code>lookalike evaluate --report</code>. "
                 "Percentages are the model's calibrated probabilities over the people it "
                 "knows.</p>")
    return _write_text(out / "index.html", _page("lookalike evaluation", "\n".join(parts)))


def _per_person(result: dict, labels: list[str]) -> str:
    parts = ["<h2>Per person</h2><table><tr><th class='name'>person</th><th>photos</th>"
                 "<th>precision</th><th>recall</th><th>F1</th></tr>"]
    for p, s in result["per_person"].items():
        parts.append(
            f"<tr><td class='name'><span class='sw' style='background:"
            f"{person_color(labels, p)}'></span>{_e(display_name(p))}</td><td>{s['n']}</td>"
            f"<td>{_percent(s['precision'])}</td><td>{_percent(s['recall'])}</td>"
            f"<td>{_percent(s['f1'])}<span class='bar' style='width:{round(60 * s['f1'])}px'>"
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
                f"<li>{_e(display_name(x['person']))} {pct(x['probability'])}</li>"
                for x in r.get("ranking", [])[:3])
            none = "<br><b>none of these</b> (no training photo close enough)" \
                if r.get("unknown") else ""
            other = r.get("other_face")
            if other:
                none += (f"<br><b>face choice</b>: {_e(display_name(r['person']))} is face "
                         f"{other['rank']} of {other['of']} in this photo; the answer was for "
                         "another face")
            else:
                none += ("<br><b>identity</b>: no other face of the photo is answered as "
                         f"{_e(display_name(r['person']))}")
            cards.append(
                f"<div class='card'>{img}<div><div class='true'>true: "
                f"<b>{_e(display_name(r['person']))}</b> {pct(r['true_probability'])}</div>"
                f"<div class='pred'>predicted: <b>{_e(display_name(r['predicted']))}</b> "
                f"{pct(r['probability'])}</div>{none}<ol class='plain'>{ranking}</ol>"
                f"<div class='path'>{_e(r['photo'])}</div></div></div>")
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
            parts.append(f"<li>{_e(p)}: no face found</li>")
        for p, why in ur:
            parts.append(f"<li>{_e(p)}: {_e(why)}</li>")
        for p, c in up.items():
            parts.append(f"<li>{_e(display_name(p))}: {c} photo(s) of a person the model "
                         "does not know</li>")
        parts.append("</ul>")
    return "".join(parts)


# -- the training report ---------------------------------------------------------------------

def split_png(people: Sequence[str], split: dict, path: str | Path) -> Path:
    """Photos per person, train and validation, as stacked horizontal bars (first on top)."""
    check_names(people)
    k = len(people)
    with style() as plt:
        fig = plt.figure(figsize=(7.0, 1.2 + 0.32 * max(k, 3)), dpi=100)
        W, H = fig.get_size_inches()
        ax = fig.add_axes((2.2 / W, 0.55 / H, (W - 2.6) / W, (H - 1.05) / H))
        yy = np.arange(k)[::-1]
        tr = [split[p]["train"] for p in people]
        va = [split[p]["validation"] for p in people]
        ax.barh(yy, tr, color="#4C72B0", height=0.65, label="train")
        ax.barh(yy, va, left=tr, color="#DD8452", height=0.65, label="validation")
        top = max([a + b for a, b in zip(tr, va, strict=True)] + [1])
        for yi, a, b in zip(yy, tr, va, strict=True):
            ax.text(a + b + top * 0.01, yi, f"{a} + {b}", va="center", fontsize=8)
        ax.set_xlim(0, top * 1.15)
        ax.set_ylim(-0.6, k - 0.4)
        ax.set_yticks(yy)
        ax.set_yticklabels([wrap_name(p, 24, lines=1) for p in people],
                           fontsize=9 if k <= 30 else 6)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("photos")
        ax.legend(loc="lower right", fontsize=8, frameon=False, ncols=2,
                  bbox_to_anchor=(1.0, 1.0))
        fig.text(0.1 / W, 1 - 0.1 / H, "Photos per person", fontsize=11, fontweight="bold",
                 va="top")
        return save_png(fig, path, tight=True)


def _history_series(history: Any) -> dict[str, list[float]]:
    """``{name: [value per epoch]}`` from a Keras-style dict of lists or a list of per-epoch
    rows (``[{"epoch": 1, "loss": ..., "val_loss": ...}, ...]``); non-numeric columns and the
    epoch number / timings are left out."""
    if isinstance(history, list | tuple):
        rows = [r for r in history if isinstance(r, dict)]
        keys = [k for k in (rows[0] if rows else {}) if k not in {"epoch", "seconds", "phase"}]
        history = {k: [r.get(k) for r in rows] for k in keys}
    out: dict[str, list[float]] = {}
    for k, vs in (history or {}).items():
        if k in {"epoch", "seconds", "phase"} or not isinstance(vs, list | tuple) or not vs:
            continue
        try:
            vals = [float(v) for v in vs]
        except (TypeError, ValueError):
            continue
        if any(np.isfinite(vals)):
            out[k] = vals
    return out


def curves_png(history: Any, path: str | Path) -> Path | None:
    """Training curves (loss, accuracy, ... per epoch) from a ``{name: [values]}`` dict or a
    list of per-epoch rows; ``val_<name>`` is drawn dashed beside its training curve."""
    series = _history_series(history)
    if not series:
        return None
    from matplotlib.ticker import MaxNLocator

    bases = sorted({k.removeprefix("val_") for k in series}, key=lambda b: (b != "loss", b))
    with style() as plt:
        fig = plt.figure(figsize=(4.2 * len(bases), 3.4), dpi=100)
        for n, base in enumerate(bases):
            ax = fig.add_subplot(1, len(bases), n + 1)
            for key, ls, col in ((base, "-", "#4C72B0"), (f"val_{base}", "--", "#DD8452")):
                if key in series:
                    vs = series[key]
                    ax.plot(range(1, len(vs) + 1), vs, ls=ls, color=col, marker="o", ms=3,
                            label="validation" if key.startswith("val_") else "train")
            ax.set_title(base.replace("_", " "), fontsize=11, loc="left")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(color="#eeeeee")
            ax.legend(fontsize=8, frameon=False)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.88, wspace=0.3)
        return save_png(fig, path, tight=True)


def write_train_report(report: Any, model: Recognizer, out_dir: str | Path, *,
                       seconds: float | None = None, model_path: str | Path | None = None
                       ) -> Path:
    """Write the training report (``report`` is :class:`lookalike.models.train.TrainReport`): split
    sizes, skipped photos and why, ambiguous face choices, warnings, validation metrics and,
    where the model trains in epochs (``report.history``), its curves. Returns index.html."""
    out = _out_dir(out_dir)
    people = list(report.people)
    m = model.manifest
    met = dict(report.metrics or {})
    name = Path(str(model_path)).name if model_path else "model"
    parts = [f"<h1>Training report: {_e(name)}</h1>",
             f"<p class='muted'>{len(people)} people; embedder "
             f"{_e((m.get('embedder') or {}).get('name', m.get('kind', '?')))}, "
             f"{_e((m.get('head') or {}).get('type', '?'))} head; split: "
             f"{_e((m.get('split') or {}).get('layout', '?'))}"
             + (f"; {seconds:.1f} s" if seconds is not None else "") + "</p>"]
    kp = [("people", str(len(people))), ("training photos", str(met.get("train_photos", "—"))),
          ("validation photos", str(met.get("validation_photos", "—")))]
    if met.get("validation_photos"):
        kp += [("validation accuracy", _percent(met.get("accuracy"))),
               ("top-3", _percent(met.get("top3_accuracy"))),
               ("ECE", f"{met.get('ece', float('nan')):.3f}")]
    parts.append(_kpis(kp))
    if not met.get("validation_photos"):
        parts.append("<p>No validation photos: add more photos per person to measure the "
                     "model.</p>")
    extra = {k: v for k, v in met.items() if k not in {
        "train_photos", "validation_photos", "accuracy", "top3_accuracy", "ece"}}
    if extra:
        names = {"nll": "validation negative log-likelihood",
                 "train_accuracy": "accuracy on the training photos"}

        def value(k: str, v: Any) -> str:
            if k.endswith("accuracy") and isinstance(v, float):
                return _percent(v)
            return f"{v:.4g}" if isinstance(v, float) else str(v)

        parts.append("<table>" + "".join(
            f"<tr><td class='name'>{_e(names.get(k, k.replace('_', ' ')))}</td><td>"
            f"{_e(value(k, v))}</td></tr>" for k, v in extra.items()) + "</table>")
    parts.append("<h2>Photos per person</h2>")
    if people:
        split_png(people, report.split, out / "split.png")
        parts.append("<img class='fig' src='split.png' alt='photos per person'>")
    history = report.history
    if history and curves_png(history, out / "curves.png"):
        parts.append("<h2>Training curves</h2><img class='fig' src='curves.png' "
                     "alt='training curves'>")
    for title, items in (("Skipped photos", report.skipped),
                         ("Ambiguous face choice", report.ambiguous)):
        parts.append(f"<h2>{title} ({len(items)})</h2>")
        if not items:
            parts.append("<p>None.</p>")
            continue
        parts.append("<table><tr><th class='name'>photo</th><th class='name'>why</th></tr>"
                     + "".join(f"<tr><td class='name'>{_e(p)}</td><td class='name'>{_e(w)}"
                               f"</td></tr>" for p, w in items) + "</table>")
    root = getattr(report, "root", None)
    if root is not None:
        faces = getattr(report, "faces", {})
        for title, items, folder, explain in (
                ("Distrusted training photos", getattr(report, "distrusted", []), "distrusted",
                 "Left out, or not used for the person's centre face: a stranger, a poster, "
                 "another person, a mislabelled photo — or a hard photo of them."),
                ("Face chosen against prominence", getattr(report, "chosen_against_prominence",
                                                           []), "chosen",
                 "Training photos whose face used is not the most prominent one: it agrees "
                 "with the person's other photos.")):
            parts += faces_by_person(title, train_rows(items, faces, people), Path(root), out,
                                     folder, explain)
    parts.append(f"<h2>Warnings ({len(report.warnings)})</h2>")
    parts.append("<ul>" + "".join(f"<li>{_e(w)}</li>" for w in report.warnings) + "</ul>"
                 if report.warnings else "<p>None.</p>")
    parts.append("<p class='muted'>Made by <code>lookalike train --report</code>.</p>")
    return _write_text(out / "index.html", _page("lookalike training report", "\n".join(parts)))


__all__ = ["confusion_png", "curves_png", "face_thumbnail", "reliability_png", "split_png",
           "write_report", "write_train_report"]
