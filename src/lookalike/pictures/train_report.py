"""The training report (``lookalike train --report OUT/``, both recipes): the split, the
training curves and the validation figures, with the photos left out or chosen against
prominence beside their faces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.pictures.fonts import check_names
from lookalike.pictures.html_page import escape, kpis, page, percent, report_folder, write_page
from lookalike.pictures.plots import save_png, style
from lookalike.pictures.report_faces import faces_by_person, train_rows
from lookalike.pictures.text import wrap_name

if TYPE_CHECKING:
    from lookalike.models.recognizer import Recognizer


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


def curves_png(history: Any, path: str | Path, title: str = "") -> Path | None:
    """Training curves (loss, accuracy, ... per epoch) from a ``{name: [values]}`` dict or a
    list of per-epoch rows; ``val_<name>`` is drawn dashed beside its training curve. None
    when the history has no numbers."""
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
        if title:
            fig.suptitle(title, fontsize=9)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.80 if title else 0.88,
                            wspace=0.3)
        return save_png(fig, path, tight=True)


def write_train_report(report: Any, model: Recognizer, out_dir: str | Path, *,
                       seconds: float | None = None, model_path: str | Path | None = None
                       ) -> Path:
    """Write the training report (``report`` is :class:`lookalike.models.train.TrainReport`): split
    sizes, skipped photos and why, ambiguous face choices, warnings, validation metrics and,
    where the model trains in epochs (``report.history``), its curves. Returns index.html."""
    out = report_folder(out_dir)
    people = list(report.people)
    m = model.manifest
    met = dict(report.metrics or {})
    name = Path(str(model_path)).name if model_path else "model"
    parts = [f"<h1>Training report: {escape(name)}</h1>",
             f"<p class='muted'>{len(people)} people; embedder "
             f"{escape((m.get('embedder') or {}).get('name', m.get('kind', '?')))}, "
             f"{escape((m.get('head') or {}).get('type', '?'))} head; split: "
             f"{escape((m.get('split') or {}).get('layout', '?'))}"
             + (f"; {seconds:.1f} s" if seconds is not None else "") + "</p>"]
    kp = [("people", str(len(people))), ("training photos", str(met.get("train_photos", "—"))),
          ("validation photos", str(met.get("validation_photos", "—")))]
    if met.get("validation_photos"):
        kp += [("validation accuracy", percent(met.get("accuracy"))),
               ("top-3", percent(met.get("top3_accuracy"))),
               ("ECE", f"{met.get('ece', float('nan')):.3f}")]
    parts.append(kpis(kp))
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
                return percent(v)
            return f"{v:.4g}" if isinstance(v, float) else str(v)

        parts.append("<table>" + "".join(
            f"<tr><td class='name'>{escape(names.get(k, k.replace('_', ' ')))}</td><td>"
            f"{escape(value(k, v))}</td></tr>" for k, v in extra.items()) + "</table>")
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
                     + "".join(f"<tr><td class='name'>{escape(p)}</td><td class='name'>{escape(w)}"
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
    parts.append("<ul>" + "".join(f"<li>{escape(w)}</li>" for w in report.warnings) + "</ul>"
                 if report.warnings else "<p>None.</p>")
    parts.append("<p class='muted'>Made by <code>lookalike train --report</code>.</p>")
    return write_page(out / "index.html", page("lookalike training report", "\n".join(parts)))
