"""Fuzzing every importer with seeded generated inputs.

Each importer (npz, ndjson, SVG, ``.gen.json``/``.vae.json``, ``model_config.json`` and
``--hparams``) gets generated inputs, valid ones mutated in ways found to break parsers:
numbers out of every range, deep nesting, bytes that are not UTF-8, truncation, random
byte flips, resource bombs. The only exception allowed is :class:`SketchartError`, and no
case may take over 5 s. CI runs a modest count per importer; the ``slow`` mark runs 2,000.

``python tests/test_fuzz_importers.py [COUNT]`` prints inputs, failures and the slowest
case per importer without asserting (how the counts before and after a fix are taken).
"""

from __future__ import annotations

import io
import json
import random
import signal
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sketchart.errors import SketchartError

CI_COUNT = 200
FULL_COUNT = 2000
CASE_LIMIT_S = 5.0

NASTY = [
    "1e308", "-1e308", "1e309", "-1e309", "NaN", "Infinity", "-Infinity", "1" + "0" * 400,
    "0", "-0", "250.7", "1e-320", "9" * 30, "true", "null", '"x"', "[]", "{}", "-1",
    "1e18", "3.5e38", "7e38", "1e300", "65536", "2147483648",
]


def _nasty(rng: random.Random) -> str:
    return rng.choice(NASTY)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    """One or a few random edits of ``data``."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(7)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(pos, len(out) - 1)] = rng.randrange(256)
        elif op == 1:
            del out[pos:]
        elif op == 2:
            out[pos:pos] = _nasty(rng).encode()
        elif op == 3:
            depth = rng.choice([50, 1000, 100_000])
            out[pos:pos] = b"[" * depth
        elif op == 4:
            out[pos:pos] = rng.choice([b"\xff\xfe", b"\xc3", b"\x00", b"\xed\xa0\x80"])
        elif op == 5 and out:
            end = min(len(out), pos + rng.randint(1, 64))
            out[pos:pos] = out[pos:end] * rng.randint(1, 4)
        elif op == 6:
            out[pos:pos + rng.randint(0, 8)] = b""
    return bytes(out)


# ----------------------------------------------- what an importer accepts must be sane
class Accepted(Exception):
    """An importer accepted nonsense (counted as a failure, as an exception would be)."""


def _accepted(ok: bool, what: str) -> None:
    if not ok:
        raise Accepted(what[:160])


def _finite(sketches: list, limit: float) -> None:
    for s in sketches:
        arr = np.asarray(s, dtype=np.float64)
        _accepted(bool(np.isfinite(arr).all()) and (arr.size == 0 or np.abs(arr).max()
                                                    <= limit), "non-finite or huge strokes")


def _sane_hparams(hps) -> None:  # type: ignore[no-untyped-def]
    for name, value in hps.to_dict().items():
        if isinstance(value, float | int) and not isinstance(value, bool):
            _accepted(np.isfinite(value) and abs(value) <= 10**12, f"{name}={value}")


# ------------------------------------------------------------------- ndjson
def _ndjson_record(rng: random.Random) -> dict:
    strokes = []
    for _ in range(rng.randint(1, 4)):
        n = rng.randint(1, 6)
        xs = [rng.randint(0, 255) for _ in range(n)]
        ys = [rng.randint(0, 255) for _ in range(n)]
        stroke = [xs, ys]
        if rng.random() < 0.4:
            stroke.append(sorted(rng.randint(0, 9000) for _ in range(n)))
        strokes.append(stroke)
    return {"key_id": str(rng.randrange(10**9)), "recognized": rng.random() < 0.8,
            "drawing": strokes}


def _ndjson_case(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randint(1, 3)):
        text = json.dumps(_ndjson_record(rng))
        if rng.random() < 0.5:
            # a number replaced by a nasty one keeps the JSON valid more often
            digits = [i for i, c in enumerate(text) if c.isdigit()]
            if digits:
                i = rng.choice(digits)
                text = text[:i] + _nasty(rng) + text[i + 1:]
        data = text.encode()
        if rng.random() < 0.5:
            data = _mutate(rng, data)
        lines.append(data)
    return b"\n".join(lines) + b"\n"


def _run_ndjson(path: Path) -> None:
    from sketchart.data.importers import read_ndjson

    _finite(read_ndjson(path, skip_bad=True).sketches, 32767)
    _finite(read_ndjson(path).sketches, 32767)


# ---------------------------------------------------------------------- SVG
def _svg_value(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return _nasty(rng)
    return str(rng.choice([rng.randint(-50, 300), round(rng.uniform(0, 300), 2), "1e7",
                           "1e8", "1e9"]))


def _svg_shape(rng: random.Random, depth: int) -> str:
    kind = rng.randrange(8)
    v = lambda: _svg_value(rng)  # noqa: E731
    style = rng.choice(['stroke="black"', 'fill="none"', 'stroke="none"',
                        'style="display:none"', 'stroke="black" stroke-width="0"',
                        'visibility="hidden" stroke="black"', ""])
    if kind == 0:
        return f'<circle cx="{v()}" cy="{v()}" r="{v()}" {style}/>'
    if kind == 1:
        return f'<rect x="{v()}" y="{v()}" width="{v()}" height="{v()}" {style}/>'
    if kind == 2:
        return f'<line x1="{v()}" y1="{v()}" x2="{v()}" y2="{v()}" {style}/>'
    if kind == 3:
        return f'<path d="M {v()} {v()} C {v()} {v()} {v()} {v()} {v()} {v()} Z" {style}/>'
    if kind == 4:
        return f'<path d="M {v()} {v()} A {v()} {v()} {v()} 1 0 {v()} {v()}" {style}/>'
    if kind == 5:
        return f'<polyline points="{v()},{v()} {v()},{v()} {v()},{v()}" {style}/>'
    if kind == 6 and depth < 4:
        inner = "".join(_svg_shape(rng, depth + 1) for _ in range(rng.randint(1, 3)))
        tag = rng.choice(["g", "defs", "symbol", "clipPath", "mask", "marker", "pattern"])
        return f'<{tag} id="e{rng.randrange(9)}" transform="scale({v()})">{inner}</{tag}>'
    return f'<use href="#e{rng.randrange(9)}" x="{v()}"/>'


def _use_chain(levels: int) -> str:
    parts = ['<g id="u0"><line x1="0" y1="0" x2="9" y2="9" stroke="black"/></g>']
    for i in range(1, levels):
        parts.append(f'<g id="u{i}"><use href="#u{i - 1}"/><use href="#u{i - 1}" x="1"/></g>')
    return "".join(parts)


def _svg_case(rng: random.Random) -> bytes:
    body = "".join(_svg_shape(rng, 0) for _ in range(rng.randint(1, 5)))
    if rng.random() < 0.05:
        body += _use_chain(rng.randint(10, 30))
    if rng.random() < 0.03:
        body = "<g>" * 3000 + body + "</g>" * 3000
    text = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_svg_value(rng)}" '
            f'height="200">{body}</svg>')
    data = text.encode()
    if rng.random() < 0.3:
        data = _mutate(rng, data)
    return data


def _run_svg(path: Path) -> None:
    from sketchart.data.importers import read_svg

    _finite([read_svg(path)], 32767)


# ---------------------------------------------------------------------- npz
def _stroke_array(rng: random.Random) -> np.ndarray:
    n = rng.randint(0, 8)
    dtype = rng.choice(["i2", "i4", "i8", "f4", "f8", "u1", "f2"])
    arr = np.array([[rng.randint(-20, 20), rng.randint(-20, 20), rng.randint(0, 1)]
                    for _ in range(n)]).reshape(n, 3)
    if rng.random() < 0.3 and n:
        big = rng.choice([1e308, -1e308, 7e38, float("nan"), float("inf"), 1e18, 70000])
        arr = arr.astype("f8")
        arr[rng.randrange(n), rng.randrange(2)] = big
        with np.errstate(over="ignore", invalid="ignore"):  # inf in float16/32 is the point
            return arr.astype(dtype) if dtype.startswith("f") else arr
    return arr.astype(dtype)


def _npz_case(rng: random.Random) -> bytes:
    from sketchart.data.npzsafe import write_npz

    if rng.random() < 0.05:
        return _npz_bomb(rng)
    splits = {s: [_stroke_array(rng) for _ in range(rng.randint(0, 3))]
              for s in ("train", "valid", "test")}
    extra: dict = {}
    if rng.random() < 0.2:
        extra["train_labels"] = np.zeros(len(splits["train"]), dtype=np.int64)
        extra["class_names"] = np.array(["a"])
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "x.npz"
        try:
            write_npz(target, splits, extra)
        except SketchartError:
            return b"PK"
        data = target.read_bytes()
    if rng.random() < 0.6:
        data = _mutate(rng, data)
    return data


def _npz_bomb(rng: random.Random) -> bytes:
    """A member of zeros that deflates a thousandfold (an unused key or a split)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        name = rng.choice(["junk.npy", "train.npy"])
        with zf.open(name, "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(rng.choice([64, 300])):
                member.write(chunk)
    return buf.getvalue()


def _run_npz(path: Path) -> None:
    from sketchart.data.datasets import load_npz

    for data in (load_npz(path, skip_bad=True), load_npz(path)):
        _finite([s for split in ("train", "valid", "test") for s in data.split(split)[0]],
                float(np.finfo(np.float32).max))


# ------------------------------------------------------------------ js model
def _js_case(rng: random.Random) -> bytes:
    import base64

    dec, m = rng.choice([(2, 1), (3, 2)])
    out = 6 * m + 3
    dims = [[dec, out], [out], [5, 4 * dec], [dec, 4 * dec], [4 * dec]]
    blobs = [base64.b64encode(np.zeros(int(np.prod(d)), "<i2").tobytes()).decode()
             for d in dims]
    info: dict = {"mode": 2, "version": 6, "max_seq_len": 250, "name": "x",
                  "scale_factor": 40.0}
    for key in list(info):
        if rng.random() < 0.25:
            info[key] = json.loads(rng.choice(NASTY[:1] + NASTY[7:8] + NASTY[8:]))
    text = json.dumps([info, dims, blobs])
    if rng.random() < 0.3:
        text = text.replace("250", _nasty(rng), 1)
    data = text.encode()
    if rng.random() < 0.4:
        data = _mutate(rng, data)
    return data


def _run_js(path: Path) -> None:
    from sketchart.hparams import HParams
    from sketchart.jsformat import read_js_model

    model = read_js_model(path)
    HParams().replace(model.hparams_dict(), source=str(path))
    _accepted(0 < model.scale_factor < 1e7 and 0 < model.max_seq_len <= 100_000,
              f"accepted info {model.info}")


# ------------------------------------------------------- model_config / --hparams
def _config_case(rng: random.Random) -> bytes:
    from sketchart.hparams import HParams

    values = HParams().to_dict()
    for key in rng.sample(sorted(values), rng.randint(1, 4)):
        values[key] = json.loads(rng.choice([n for n in NASTY if n not in ("NaN",)]))
    text = json.dumps(values)
    if rng.random() < 0.2:
        text = text.replace("512", rng.choice(["1e308", "NaN", "Infinity", "9" * 400]), 1)
    data = text.encode()
    if rng.random() < 0.4:
        data = _mutate(rng, data)
    return data


def _run_config(path: Path) -> None:
    from sketchart.hparams import HParams
    from sketchart.modeldir import ModelMeta

    try:
        ModelMeta.load(path)
    except SketchartError:
        pass
    _sane_hparams(HParams.from_json(path))


def _hparams_case(rng: random.Random) -> bytes:
    from sketchart.hparams import HParams

    names = HParams.names()
    items = [f"{rng.choice(names)}={_nasty(rng) if rng.random() < 0.7 else rng.randint(1, 9)}"
             for _ in range(rng.randint(1, 4))]
    text = ",".join(items)
    if rng.random() < 0.3:
        text = json.dumps({k: json.loads(v) if v not in ("NaN",) else v
                           for k, v in (i.split("=", 1) for i in items)})
    data = text.encode()
    if rng.random() < 0.3:
        data = _mutate(rng, data)
    return data


def _run_hparams(path: Path) -> None:
    from sketchart.hparams import HParams

    _sane_hparams(HParams().parse(path.read_bytes().decode("utf-8", "surrogateescape")))


IMPORTERS: dict[str, tuple[Callable[[random.Random], bytes], Callable[[Path], None], str]] = {
    "npz": (_npz_case, _run_npz, ".npz"),
    "ndjson": (_ndjson_case, _run_ndjson, ".ndjson"),
    "svg": (_svg_case, _run_svg, ".svg"),
    "jsmodel": (_js_case, _run_js, ".gen.json"),
    "model_config": (_config_case, _run_config, ".json"),
    "hparams": (_hparams_case, _run_hparams, ".txt"),
}


class _Timeout(BaseException):
    """Raised by the alarm so that a case that hangs fails instead of stalling the run."""


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout


def fuzz(name: str, count: int, seed: int = 0) -> tuple[int, list[str], float]:
    """Run ``count`` generated inputs; return (count, failures, slowest seconds)."""
    make, run, suffix = IMPORTERS[name]
    failures: list[str] = []
    slowest = 0.0
    signal.signal(signal.SIGALRM, _alarm)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"case{suffix}"
        for i in range(count):
            rng = random.Random(f"{name}:{seed}:{i}")
            path.write_bytes(make(rng))
            start = time.perf_counter()
            signal.alarm(int(2 * CASE_LIMIT_S))
            try:
                run(path)
            except _Timeout:
                failures.append(f"case {i}: Timeout: over {2 * CASE_LIMIT_S:.0f} s")
            except SketchartError as exc:
                if "\n" in str(exc):
                    failures.append(f"case {i}: multi-line message {str(exc)!r:.200}")
            except Exception as exc:  # noqa: BLE001 - any other type is the failure counted
                failures.append(f"case {i}: {type(exc).__name__}: {str(exc)[:160]}")
            finally:
                signal.alarm(0)
            took = time.perf_counter() - start
            slowest = max(slowest, took)
            if took > CASE_LIMIT_S:
                failures.append(f"case {i}: took {took:.1f} s")
    return count, failures, slowest


@pytest.mark.parametrize("name", sorted(IMPORTERS))
def test_fuzz_ci(name):
    count, failures, slowest = fuzz(name, CI_COUNT)
    assert not failures, f"{len(failures)} of {count} failed: {failures[:5]}"
    assert slowest <= CASE_LIMIT_S


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IMPORTERS))
def test_fuzz_full(name):
    count, failures, slowest = fuzz(name, FULL_COUNT, seed=1)
    assert not failures, f"{len(failures)} of {count} failed: {failures[:5]}"
    assert slowest <= CASE_LIMIT_S


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else FULL_COUNT
    wanted = sys.argv[2:] or sorted(IMPORTERS)
    for importer in wanted:
        total, failed, worst = fuzz(importer, n, seed=1)
        kinds = sorted({f.split(": ", 1)[1].split(":")[0] for f in failed})
        print(f"{importer:<13} inputs {total:>5}  failures {len(failed):>5}  "
              f"slowest {worst:6.2f} s  {kinds[:8]}", flush=True)
