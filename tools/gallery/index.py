"""``gallery/index.html``: every output with its caption, self-contained.

The page references only files beside it (PNG previews, linked SVG / JSON / G-code) and
carries its style inline: no CDN, no script, no web font, and an empty data-URL icon so a
browser does not even ask for ``favicon.ico``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["render_index", "write_index"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #222; background: #fafafa; }
h1 { font-weight: 600; }
figure { margin: 2.5rem 0; padding: 1rem; background: white; border: 1px solid #ddd; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { margin-top: .8rem; line-height: 1.45; }
figure h2 { font-size: 1.15rem; margin: 0 0 .6rem 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .5rem 0;
     font-size: .9rem; }
dt { color: #666; }
dd { margin: 0; }
code { font-size: .85rem; background: #f0f0f0; padding: 0 .25rem; }
nav a { margin-right: .8rem; }
.note { color: #555; font-size: .9rem; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _duration(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {sec:02d} s"


def _temperatures(record: dict[str, Any]) -> str:
    temps = record.get("temperatures") or [record.get("temperature")]
    if len(temps) > 1:
        return f"{temps[0]:g} to {temps[-1]:g} (one row each)"
    return f"{temps[0]:g}"


def _model_text(record: dict[str, Any]) -> str:
    parts = [f"{record['model']} ({record.get('model_source', '?')}"]
    if record.get("model_steps") is not None:
        parts.append(f", {record['model_steps']} steps")
    test = record.get("model_test") or {}
    if "r_cost" in test:
        parts.append(f", test r_cost {test['r_cost']:.3f}")
        if "kl_cost" in test:
            parts.append(f", kl_cost {test['kl_cost']:.3f}")
    if record.get("model_sha256"):
        parts.append(f", sha256 {record['model_sha256'][:12]}…")
    return "".join(parts) + ")"


def _licences(record: dict[str, Any]) -> list[dict[str, Any]]:
    return list(record.get("data_licences") or [])


def _figure(record: dict[str, Any]) -> str:
    files = record["files"]
    width, height = record.get("png_size", [None, None])
    size = f' width="{width}" height="{height}"' if width and height else ""
    rows = [
        ("model", _model_text(record)),
        ("temperature", _temperatures(record)),
        ("seed", record["seed"]),
    ]
    data = record.get("data")
    if data:
        rows.append(
            (
                "data",
                (
                    f"{data['file']}, {data['split']} split, drawings "
                    f"{record.get('test_indices', '')}"
                ),
            )
        )
    licences = _licences(record)
    if licences:
        rows.append(
            (
                "data licence",
                ", ".join(
                    f"{d['data']}: {d['licence']}"
                    + (" (non-commercial use only)" if d["non_commercial"] else "")
                    for d in licences
                ),
            )
        )
    for name, est in (record.get("plot_time") or {}).items():
        rows.append(
            (
                f"plot time ({name})",
                f"about {_duration(est['seconds'])} — {est.get('assumes', '')}",
            )
        )
    if record.get("paths"):
        rows.append(
            (
                "paths",
                (
                    f"{record['paths']} in {len(record.get('layers', []))} layers "
                    f"(pens), {record.get('pen_down_m', '?')} m drawn"
                ),
            )
        )
    code = {"rebuild", "plot"}  # values that are already HTML
    if record.get("plot_commands"):
        rows.append(
            ("plot", "<br>".join(f"<code>{_esc(c)}</code>" for c in record["plot_commands"]))
        )
    rows.append(("rebuild", f"<code>{_esc(record['command'])}</code>"))
    dl = "\n".join(
        f"<dt>{_esc(k)}</dt><dd>{v if k in code else _esc(v)}</dd>" for k, v in rows
    )
    links = " ".join(
        f'<a href="{_esc(files[k])}">{label}</a>'
        for k, label in (("svg", "SVG"), ("gcode", "G-code"), ("json", "JSON"))
        if k in files
    )
    return f"""<figure id="{_esc(record["name"])}">
<h2>{_esc(record["title"])}</h2>
<a href="{_esc(files["svg"])}"><img src="{_esc(files["png"])}"{size}
 alt="{_esc(record["title"])}"></a>
<figcaption>
<p>{_esc(record["caption"])}</p>
<dl>
{dl}
</dl>
<nav>{links}</nav>
</figcaption>
</figure>"""


def render_index(records: Sequence[dict[str, Any]]) -> str:
    """The HTML of the gallery's index page."""
    version = records[0].get("sketchart_version", "?") if records else "?"
    backend = records[0].get("backend", "?") if records else "?"
    toc = "\n".join(
        f'<li><a href="#{_esc(r["name"])}">{_esc(r["title"])}</a></li>' for r in records
    )
    figures = "\n".join(_figure(r) for r in records)
    non_commercial = sorted(
        {r["model"] for r in records if any(d["non_commercial"] for d in _licences(r))}
    )
    names = ", ".join(non_commercial)
    licence = (
        f'<p class="note">Non-commercial use only: the drawings of {names} inherit the '
        "NonCommercial licence of their training data (see each picture's data licence).</p>"
        if non_commercial
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>sketchart gallery</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>sketchart gallery</h1>
<p>Drawings by sketchart's Sketch-RNN models, each rebuilt by the command under it (fixed
seeds; sketchart {_esc(version)}, Keras backend {_esc(backend)}). Click a picture for its
SVG; the JSON beside it records the model, its weights' sha256, seed and temperatures.</p>
{licence}
<ul>
{toc}
</ul>
{figures}
</body>
</html>
"""


def write_index(folder: Path, records: Sequence[dict[str, Any]]) -> Path:
    """Write ``folder/index.html`` for ``records``; returns its path."""
    path = Path(folder) / "index.html"
    path.write_text(render_index(records), encoding="utf-8")
    return path
