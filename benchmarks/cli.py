"""Start-up cost of the vpype plugin and of drawing from the command line and from Python.

Goals, measured in fresh processes, in the same run (ratios of medians):

1. ``vpype --help`` with the plugin installed within 1.2x of ``vpype --help`` without it
   (issue 6). "Without" is the same interpreter with sketchart's ``vpype.plugins`` entry
   points filtered out of ``importlib.metadata.entry_points`` (the other plugins stay).
2. A cold ``vpype sketchrnn-sample --category flamingo --temperature 0.4 write out.svg``
   within 1.5x of ``vpype --help`` (issue 20; it was 8x while it imported TensorFlow).
3. ``sketchart sample --category sheep -n 16 -o x.svg`` within 1.5x of ``sketchart --help``.
4. ``sketchart.load_model("flamingo")`` + ``sample(model, n=16)`` in a fresh interpreter
   within 1 s.

The flamingo comes from a local HTTP server into a temporary ``SKETCHART_HOME`` during a
warm-up run, so the timed runs start a new process each but find the model in the cache
(no network), as a user's second call does. ``python -c "import tensorflow"`` is timed too,
for scale.

Runs are interleaved and the median is reported. Run it when the machine is quiet::

    python benchmarks/cli.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

_VPYPE = """
import sys, importlib.metadata as md
if {hide!r}:
    # vpype reads entry_points().select(group="vpype.plugins"): hide sketchart's there
    _orig = md.entry_points

    class _Hidden:
        def select(self, **kw):
            eps = _orig(**kw)
            if kw.get("group") == "vpype.plugins":
                eps = md.EntryPoints(
                    e for e in eps if not e.value.startswith("vpype_sketchart"))
            return eps

    md.entry_points = lambda **kw: _orig(**kw) if kw else _Hidden()
import vpype_cli
sys.argv = ["vpype", *sys.argv[1:]]
try:
    vpype_cli.cli.main(args=sys.argv[1:], prog_name="vpype")
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
"""


def _time(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def _serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


_API = """
import sketchart
model = sketchart.load_model("flamingo")
sketchart.sample(model, n=16, temperature=0.4, seed=7)
"""

#: (label, goal: ``(numerator, denominator, most)`` or ``(name, None, most seconds)``)
GOALS = (
    ("vpype --help: with the plugin / without", ("with", "without", 1.2)),
    ("vpype sketchrnn-sample flamingo / vpype --help", ("vpype_sample", "with", 1.5)),
    ("sketchart sample sheep -n 16 / sketchart --help", ("sk_sample", "sk_help", 1.5)),
    ("Python: load_model('flamingo') + sample(n=16), s", ("api", None, 1.0)),
)


def _commands(py: str) -> dict[str, list[str]]:
    """The timed commands by key, each a fresh process."""
    bin_dir = Path(py).parent
    return {
        "with": [py, "-c", _VPYPE.format(hide=False), "--help"],
        "without": [py, "-c", _VPYPE.format(hide=True), "--help"],
        "vpype_sample": [str(bin_dir / "vpype"), "sketchrnn-sample", "--category",
                         "flamingo", "--temperature", "0.4", "write", "out.svg"],
        "sk_help": [str(bin_dir / "sketchart"), "--help"],
        "sk_sample": [str(bin_dir / "sketchart"), "sample", "--category", "sheep", "-n",
                      "16", "-o", "x.svg"],
        "api": [py, "-c", _API],
        "tf": [py, "-c", "import tensorflow"],
    }


def _report(med: dict[str, float], repeat: int) -> None:
    print(f"median of {repeat} runs each (seconds), CPU: {_cpu_model()}")
    labels = {
        "with": "vpype --help", "without": "vpype --help, plugin hidden",
        "vpype_sample": "vpype sketchrnn-sample --category flamingo -t 0.4 write out.svg",
        "sk_help": "sketchart --help", "sk_sample": "sketchart sample -c sheep -n 16 -o x.svg",
        "api": "python: load_model('flamingo') + sample(n=16)",
        "tf": "python -c 'import tensorflow'",
    }
    for key, value in med.items():
        print(f"  {value:6.3f}  {labels[key]}")
    for label, (num, den, most) in GOALS:
        value = med[num] / med[den] if den else med[num]
        print(f"{label}: {value:.2f} (goal <= {most}): {'ok' if value <= most else 'MISSED'}")


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main(argv: list[str] | None = None) -> None:
    """Time every command (interleaved), print the medians and the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    commands = _commands(sys.executable)
    server, url = _serve(SHARED / "models" / "sketch-rnn-js")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ, SKETCHART_MODEL_URL=url, SKETCHART_HOME=str(work / "home"))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # warm-up: file caches, and the model downloaded into the cache
        for cmd in commands.values():
            _time(cmd, env, work)
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.repeat):
            for key, cmd in commands.items():
                times[key].append(_time(cmd, env, work))
    server.shutdown()
    _report({k: statistics.median(v) for k, v in times.items()}, args.repeat)


if __name__ == "__main__":
    main()
