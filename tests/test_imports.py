"""Import boundary: the TF-free modules never pull in TensorFlow, Keras or JAX.

vpype imports every plugin on every call (``vpype --help`` included), and the plotting side
must not pay seconds for a deep-learning framework. Each check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the network (sketchart.nn, architecture.md): the only modules allowed to import a
# framework at import time; every other module of the package and of the plugin is checked
KERAS_MODULES = {
    "sketchart.nn.backend",
    "sketchart.nn.cell_base",
    "sketchart.nn.cells",
    "sketchart.nn.hyper_cell",
    "sketchart.nn.initializers",
    "sketchart.nn.losses",
    "sketchart.nn.lstm_cells",
    "sketchart.nn.model",
}
# running it starts the CLI
NOT_IMPORTABLE = {"sketchart.__main__"}


def _discover() -> list[str]:
    import pkgutil

    import sketchart
    import vpype_sketchart

    names = ["sketchart", "vpype_sketchart"]
    for package in (sketchart, vpype_sketchart):
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            names.append(info.name)
    return sorted(set(names) - KERAS_MODULES - NOT_IMPORTABLE)


TF_FREE = _discover()

HEAVY = ("tensorflow", "keras", "jax")

_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))
"""


def _heavy_modules_after_import(*names: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=set(HEAVY)), *names],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, f"import of {names} failed:\n{proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_core_plugin_and_cli_together_stay_tf_free():
    """The exact set vpype and the CLI hub load, in one interpreter."""
    names = ["sketchart", "sketchart.cli", "sketchart.page.layout", "vpype_sketchart"]
    assert _heavy_modules_after_import(*names, "vpype_sketchart.commands") == []


def test_the_layout_and_plugin_modules_are_checked():
    for name in ("sketchart.page.layout", "vpype_sketchart.commands", "sketchart.cli"):
        assert name in TF_FREE


def test_every_tf_free_module_stays_tf_free():
    """All of them in one fresh interpreter; on failure, find the culprits one by one."""
    if _heavy_modules_after_import(*TF_FREE) == []:
        return
    culprits = {name: _heavy_modules_after_import(name) for name in TF_FREE}
    culprits = {name: heavy[:3] for name, heavy in culprits.items() if heavy}
    raise AssertionError(f"modules that import a framework at import time: {culprits}")


def test_vpype_loads_the_plugin_without_tensorflow():
    """``vpype --help`` lists our commands and never imports a framework."""
    code = (
        "import sys, json, vpype_cli\n"
        "try:\n"
        "    vpype_cli.cli.main(args=['--help'], prog_name='vpype')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        f"    if m.split('.')[0] in {set(HEAVY)!r})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = [line for line in proc.stdout.splitlines() if line.strip().startswith("sketchrnn-")]
    assert len(ours) == 4
    assert not any("could not load plugin" in line for line in ours)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
