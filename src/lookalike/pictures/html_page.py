"""The HTML around every report (evaluation, training, grouping): one stylesheet inline, escaping,
the report folder made safely, the page written atomically, headline figures as tiles."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lookalike.errors import LookalikeError
from lookalike.files import atomic_write
from lookalike.pictures.report_faces import THUMB_PX

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


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def report_folder(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise LookalikeError("is a file, not a folder", out,
                             "give a folder for the report, e.g. --report report/")
    if not out.parent.exists():
        raise LookalikeError(f"folder {out.parent} does not exist", out, "create it first")
    out.mkdir(exist_ok=True)
    return out


def write_page(path: Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), example="index.html")


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n{body}\n"
            f"</body></html>\n")


def kpis(items: Sequence[tuple[str, str]]) -> str:
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><div class="label">{escape(k)}</div>'
        f'<div class="big">{escape(v)}</div></div>'
        for k, v in items) + "</div>"


def percent(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f} %"
