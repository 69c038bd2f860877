"""The reference trainer's seconds per step, measured in this sitting (issue 4's baseline).

Runs magenta's own Sketch-RNN code (``magenta==2.1.4`` from PyPI: ``model.py``, ``rnn.py``,
``utils.py``, ``sketch_rnn_train.py`` and ``contrib/training.py``, unmodified) under
TensorFlow's ``tf.compat.v1`` with v2 behaviour disabled, as the reference's entry point does.
The only help it gets is ``reference_shim.py``: stand-ins for the TF1 ``RNNCell`` and
``DropoutWrapper`` classes that TensorFlow 2.21 no longer ships.

The wheel is taken from ``--magenta-wheel``, else from the cache
(``$SKETCHART_HOME/reference``, else ``$XDG_CACHE_HOME/sketchart/reference``, else
``~/.cache/sketchart/reference``), else downloaded there with ``pip download``; its sha256
is checked and only the five files are extracted (beside it, under ``magenta-2.1.4/``).
magenta's package ``__init__`` files (which pull in the whole of magenta) are replaced by
empty package modules.

What it does is the reference trainer's (``sketch_rnn_train.trainer`` and ``train``): the
data set is loaded and normalised by ``load_dataset`` (so ``max_seq_len`` is the data's,
250 for aaron_sheep), the training model and the eval model (shared variables) are built
from the default hparams with the chosen ``dec_model``, and a session with TensorFlow's
default thread settings runs the steps. One step = ``train_set.random_batch()`` (with its
augmentation) + one ``sess.run`` of the trainer's fetches (cost, r_cost, kl_cost,
final_state, global_step, train_op) fed with the learning rate and KL weight the trainer
computes for that step. After ``--warmup`` steps, ``--steps`` steps are timed; one JSON line
on stdout gives the median/min/max seconds, the trainable parameter count (checked against
the notes' 2,186,107 / 2,189,179 / 3,477,627) and the peak RSS::

    python benchmarks/reference_step.py --dec-model lstm             # 3 + 30 steps
    python benchmarks/reference_step.py --dec-model hyper --steps 10 --warmup 2
    python benchmarks/reference_step.py --dec-model lstm --build-only --list-variables

From Python (another process, so that TensorFlow's v1 mode stays out of the caller)::

    from benchmarks.reference_step import run_reference
    run_reference("lstm", steps=30, warmup=3)["median_s"]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
import zipfile
from pathlib import Path
from typing import Any

__all__ = [
    "EXPECTED_PARAMS",
    "ReferenceRunError",
    "cache_dir",
    "import_reference",
    "main",
    "obtain_wheel",
    "run_reference",
]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHEEP = ROOT.parent / "shared" / "data" / "sketchrnn" / "aaron_sheep.npz"

MAGENTA_VERSION = "2.1.4"
WHEEL_NAME = f"magenta-{MAGENTA_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "c6f4fe742d13c6d664fb257f6f123940c6abc6f501ea8a3870f7d4e8f0821d3f"
#: the reference's files, as named in the wheel
FILES = (
    "magenta/contrib/training.py",
    "magenta/models/sketch_rnn/model.py",
    "magenta/models/sketch_rnn/rnn.py",
    "magenta/models/sketch_rnn/utils.py",
    "magenta/models/sketch_rnn/sketch_rnn_train.py",
)
#: packages whose ``__init__`` is replaced by an empty module (magenta's imports all of it)
PACKAGES = ("magenta", "magenta.contrib", "magenta.models", "magenta.models.sketch_rnn")
#: trainable parameters with default hparams (notes §12)
EXPECTED_PARAMS = {"lstm": 2_186_107, "layer_norm": 2_189_179, "hyper": 3_477_627}
DECODERS = tuple(EXPECTED_PARAMS)


class ReferenceRunError(RuntimeError):
    """The reference cannot be obtained, imported or run."""


# ---------------------------------------------------------------------- the wheel
def cache_dir() -> Path:
    """Where the wheel and its extracted files are kept (not created here)."""
    home = os.environ.get("SKETCHART_HOME")
    if home:
        return Path(home).expanduser() / "reference"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sketchart" / "reference"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def obtain_wheel(wheel: Path | None = None, cache: Path | None = None) -> Path:
    """The magenta wheel: ``wheel`` if given, else the cached one, else ``pip download``.

    Raises:
        ReferenceRunError: missing file, failed download or an unexpected sha256.
    """
    cache = cache or cache_dir()
    if wheel is None:
        wheel = cache / WHEEL_NAME
        if not wheel.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            print(f"downloading magenta=={MAGENTA_VERSION} into {cache}", file=sys.stderr)
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"magenta=={MAGENTA_VERSION}",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-d",
                str(cache),
            ]
            done = subprocess.run(cmd, stdout=sys.stderr, check=False)
            if done.returncode != 0 or not wheel.is_file():
                raise ReferenceRunError(f"pip download of magenta=={MAGENTA_VERSION} failed")
    wheel = Path(wheel)
    if not wheel.is_file():
        raise ReferenceRunError(f"no such wheel: {wheel}")
    found = _sha256(wheel)
    if found != WHEEL_SHA256:
        raise ReferenceRunError(
            f"{wheel} has sha256 {found}, expected {WHEEL_SHA256} (magenta {MAGENTA_VERSION})"
        )
    return wheel


def extract(wheel: Path, cache: Path | None = None) -> Path:
    """Extract the reference's five files (only) into ``cache/magenta-<version>/``; return
    that folder. Files already there are kept if their content matches the wheel's."""
    dest = (cache or cache_dir()) / f"magenta-{MAGENTA_VERSION}"
    with zipfile.ZipFile(wheel) as zf:
        for name in FILES:
            data = zf.read(name)
            target = dest / name
            if target.is_file() and target.read_bytes() == data:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, target)
    return dest


def import_reference(src: Path) -> types.SimpleNamespace:
    """Install the shim, then import the reference's modules from ``src`` unmodified.

    Returns:
        ``model``, ``utils``, ``train`` (sketch_rnn_train) and ``tf`` (tensorflow.compat.v1).
    """
    sys.path.insert(0, str(HERE))
    import reference_shim

    reference_shim.install()
    for pkg in PACKAGES:
        module = types.ModuleType(pkg)
        module.__path__ = [str(src.joinpath(*pkg.split(".")))]
        sys.modules[pkg] = module
        parent, _, leaf = pkg.rpartition(".")
        if parent:
            setattr(sys.modules[parent], leaf, module)
    mods = {
        name: importlib.import_module(f"magenta.models.sketch_rnn.{module}")
        for name, module in (
            ("model", "model"),
            ("utils", "utils"),
            ("train", "sketch_rnn_train"),
        )
    }
    import tensorflow.compat.v1 as tf

    return types.SimpleNamespace(tf=tf, **mods)


# ---------------------------------------------------------------------- measuring
def _peak_rss_gb() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib * 1024 / 1e9


def _names_check(dec_model: str, built: list[str], hparams: str = "") -> bool | None:
    """Whether the trainable variable names equal sketchart.hub.convert's list of the
    reference's names (None when sketchart cannot be imported)."""
    try:
        sys.path.insert(0, str(ROOT))
        from sketchart.hparams import HParams
        from sketchart.hub.convert import reference_names
    except ImportError:
        return None
    expected = [w.name for w in reference_names(HParams(dec_model=dec_model).parse(hparams))]
    return sorted(expected) == sorted(built)


def measure(
    dec_model: str,
    steps: int,
    warmup: int,
    data: Path,
    *,
    wheel: Path | None = None,
    build_only: bool = False,
    eval_graph: bool = True,
    list_variables: bool = False,
    hparams: str = "",
) -> dict[str, Any]:
    """Build the reference for ``dec_model`` (plus ``hparams`` overrides, magenta's
    ``a=1,b=2`` syntax) and time its training steps (see the module docstring); returns
    the JSON record. The parameter count is checked only at default hparams."""
    t_start = time.perf_counter()
    cache = cache_dir()
    src = extract(obtain_wheel(wheel, cache), cache)
    ref = import_reference(src)
    tf = ref.tf
    tf.logging.set_verbosity(tf.logging.ERROR)

    hps = ref.model.get_default_hparams()
    hps.parse(f"dec_model={dec_model}" + (f",{hparams}" if hparams else ""))
    hps.data_set = [data.name]
    with contextlib.redirect_stdout(sys.stderr):  # utils prints counts: keep stdout JSON
        (train_set, _valid, _test, hps, eval_hps, _sample_hps) = ref.train.load_dataset(
            str(data.parent), hps
        )

    ref.train.reset_graph()
    model = ref.model.Model(hps)
    if eval_graph:  # the trainer builds it (reuse=True) before starting the session
        ref.model.Model(eval_hps, reuse=True)
    t_vars = tf.trainable_variables()
    params = int(sum(math.prod(v.get_shape().as_list()) for v in t_vars))
    names = [v.name.rsplit(":", 1)[0] for v in t_vars]
    if list_variables:
        for v in t_vars:
            print(f"{v.name} {v.get_shape().as_list()}", file=sys.stderr)
    threads = int(os.environ.get("SKETCHART_REF_THREADS", "0"))  # 0: TF's default
    config = tf.ConfigProto(
        intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads
    )
    sess = tf.InteractiveSession(config=config)
    sess.run(tf.global_variables_initializer())
    build_s = time.perf_counter() - t_start

    record: dict[str, Any] = {
        "implementation": f"magenta {MAGENTA_VERSION} (tf.compat.v1, shimmed cells)",
        "dec_model": dec_model,
        "params": params,
        "hparams": hparams,
        "params_expected": None if hparams else EXPECTED_PARAMS[dec_model],
        "params_match": None if hparams else params == EXPECTED_PARAMS[dec_model],
        "names_match": _names_check(dec_model, names, hparams),
        "max_seq_len": int(hps.max_seq_len),
        "batch_size": int(hps.batch_size),
        "eval_graph": eval_graph,
        "build_s": round(build_s, 2),
        "tensorflow": importlib.import_module("tensorflow").__version__,
    }
    if not build_only:
        fetches = [
            model.cost,
            model.r_cost,
            model.kl_cost,
            model.final_state,
            model.global_step,
            model.train_op,
        ]
        times: list[float] = []
        cpus: list[float] = []
        cost = None
        for i in range(warmup + steps):
            step = int(sess.run(model.global_step))  # as the trainer, before each step
            t0, c0 = time.perf_counter(), time.process_time()
            lr = (
                hps.learning_rate - hps.min_learning_rate
            ) * hps.decay_rate**step + hps.min_learning_rate
            kl_weight = (
                hps.kl_weight - (hps.kl_weight - hps.kl_weight_start) * hps.kl_decay_rate**step
            )
            _, x, s = train_set.random_batch()
            feed = {
                model.input_data: x,
                model.sequence_lengths: s,
                model.lr: lr,
                model.kl_weight: kl_weight,
            }
            cost, _, _, _, _, _ = sess.run(fetches, feed)
            dt = time.perf_counter() - t0
            if i >= warmup:
                times.append(dt)
                cpus.append(time.process_time() - c0)
        record.update(
            {
                "steps": steps,
                "warmup": warmup,
                "median_s": round(statistics.median(times), 4) if times else None,
                "min_s": round(min(times), 4) if times else None,
                "max_s": round(max(times), 4) if times else None,
                "times_s": [round(t, 4) for t in times],
                # CPU seconds (all threads): comparable across sittings on a busy machine
                # when both sides run with SKETCHART_REF_THREADS=1 / --threads 1
                "cpu_median_s": round(statistics.median(cpus), 4) if cpus else None,
                "last_cost": round(float(cost), 4),
            }
        )
    record["peak_rss_gb"] = round(_peak_rss_gb(), 3)
    try:
        record["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    sess.close()
    return record


def run_reference(
    dec_model: str,
    steps: int = 30,
    warmup: int = 3,
    *,
    data: str | os.PathLike[str] | None = None,
    wheel: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    hparams: str = "",
) -> dict[str, Any]:
    """Run this script in a fresh process (its peak RSS is its own) and return its record.

    Raises:
        ReferenceRunError: the child failed or printed no JSON record.
    """
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--dec-model",
        dec_model,
        "--steps",
        str(steps),
        "--warmup",
        str(warmup),
    ]
    if data is not None:
        cmd += ["--data", str(data)]
    if wheel is not None:
        cmd += ["--magenta-wheel", str(wheel)]
    if hparams:
        cmd += ["--hparams", hparams]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise ReferenceRunError(f"reference run failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    """Command line: print one JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dec-model", choices=DECODERS, default="lstm")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (default 3)")
    parser.add_argument("--data", type=Path, default=SHEEP, help="the .npz (aaron_sheep)")
    parser.add_argument("--hparams", default="",
                        help="magenta hparam overrides, e.g. config Q's sizes")
    parser.add_argument(
        "--magenta-wheel",
        type=Path,
        default=None,
        help=f"{WHEEL_NAME} (default: the cache, else pip download)",
    )
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="build the graph and report parameters, run no step",
    )
    parser.add_argument(
        "--no-eval-graph",
        dest="eval_graph",
        action="store_false",
        help="skip the eval model the trainer also builds",
    )
    parser.add_argument(
        "--list-variables",
        action="store_true",
        help="print trainable variable names and shapes on stderr",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    if not args.data.is_file():
        parser.error(f"no such data set: {args.data}")
    try:
        record = measure(
            args.dec_model,
            args.steps,
            args.warmup,
            args.data,
            wheel=args.magenta_wheel,
            build_only=args.build_only,
            eval_graph=args.eval_graph,
            list_variables=args.list_variables,
            hparams=args.hparams,
        )
    except ReferenceRunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(record), flush=True)
    return 2 if record["params_match"] is False else 0


if __name__ == "__main__":
    sys.exit(main())
