"""Start-up cost of the vpype plugin.

Two goals (issue 6), measured in fresh processes, in the same run:

1. ``vpype --help`` with the plugin installed within 1.2x of ``vpype --help`` without it.
   "Without" is the same interpreter with sketchart's ``vpype.plugins`` entry points
   filtered out of ``importlib.metadata.entry_points`` (the other plugins stay).
2. A cold ``vpype sketchrnn-sample --category flamingo write out.svg`` at most 2x the time
   of ``python -c "import tensorflow"``. The model comes from a local HTTP server into a
   temporary ``SKETCHART_HOME`` during a warm-up run, so the timed runs start a new
   process each but find the model in the cache (no network), as a user's second call does.

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
                eps = md.EntryPoints(e for e in eps if not e.value.startswith("vpype_sketchart"))
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


def main(argv: list[str] | None = None) -> None:
    """Run both comparisons and print the ratios against the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    py = sys.executable
    vpype_bin = str(Path(py).with_name("vpype"))
    server, url = _serve(SHARED / "models" / "sketch-rnn-js")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ, SKETCHART_MODEL_URL=url, SKETCHART_HOME=str(work / "home"))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with_plugin = [py, "-c", _VPYPE.format(hide=False), "--help"]
        without = [py, "-c", _VPYPE.format(hide=True), "--help"]
        sample = [vpype_bin, "sketchrnn-sample", "--category", "flamingo", "write", "out.svg"]
        import_tf = [py, "-c", "import tensorflow"]

        # warm-up: file caches, and the model downloaded into the cache
        for cmd in (with_plugin, without, import_tf, sample):
            _time(cmd, env, work)
        times: dict[str, list[float]] = {"with": [], "without": [], "sample": [], "tf": []}
        for _ in range(args.repeat):
            times["with"].append(_time(with_plugin, env, work))
            times["without"].append(_time(without, env, work))
            times["sample"].append(_time(sample, env, work))
            times["tf"].append(_time(import_tf, env, work))
    server.shutdown()

    med = {k: statistics.median(v) for k, v in times.items()}
    help_ratio = med["with"] / med["without"]
    sample_ratio = med["sample"] / med["tf"]
    print(f"median of {args.repeat} runs each (seconds)")
    print(f"vpype --help with plugin     {med['with']:.3f}")
    print(f"vpype --help without plugin  {med['without']:.3f}")
    print(f"  ratio {help_ratio:.2f} (goal <= 1.2): {'ok' if help_ratio <= 1.2 else 'MISSED'}")
    print(f"vpype sketchrnn-sample --category flamingo write out.svg  {med['sample']:.3f}")
    print(f"python -c 'import tensorflow'                             {med['tf']:.3f}")
    print(
        f"  ratio {sample_ratio:.2f} (goal <= 2.0): {'ok' if sample_ratio <= 2.0 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
