"""Ship a finished training run as a model directory in ``models/`` (``models ship``).

:func:`ship` turns a training log root (``best/``, ``last/``, TensorBoard events) into
``<models_root>/<name>/``::

    model_config.json   the hparams (magenta's names)
    sketchart.json      ModelMeta: scale factor, steps, valid and test r_cost/kl_cost
    model.weights.h5    float16 weights (upcast to float32 on load)
    README.md           what it draws, the data's source and licence (first), the training
                        command, steps, wall time, hardware, losses, float16 check
    sample.png          16 sketches sampled at T=0.4 with a fixed seed
    curves.png          train/valid r_cost and kl_cost against steps, test points
    shipped.json        the same facts, machine-readable (for the gallery)

Everything is written into a hidden folder beside the target and renamed into place at the
end: a failure never leaves a half-shipped model, and ``force=True`` replaces an existing one
only once the new one is complete. The log root is only read (a live run may still write it):
``best/`` is copied first, and copied again if the trainer swapped it meanwhile.

TensorBoard events are read without TensorFlow (:mod:`tools.tbevents`); charts and sample
grids are drawn with Pillow (:mod:`tools.charts`).
Importing this module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.util.durations import format_duration
from tools.charts import render_curves, render_sketches
from tools.errors import ShipError
from tools.licences import DATASETS, DatasetInfo, dataset_info
from tools.tbevents import RunEvents, read_events

__all__ = [
    "DATASETS",
    "MODELS_SIZE_LIMIT",
    "DatasetInfo",
    "RunEvents",
    "ShipError",
    "ShipResult",
    "dataset_info",
    "hardware_description",
    "read_events",
    "render_curves",
    "render_sketches",
    "ship",
]

#: ``models/`` as a whole must stay under this many bytes (the wheel carries it).
MODELS_SIZE_LIMIT = 40_000_000
#: the README's sample image: temperature, seed, count
SAMPLE_TEMPERATURE = 0.4
SAMPLE_SEED = 1
SAMPLE_COUNT = 16
#: float16 storage is refused when it moves the deterministic test r_cost more than this
FLOAT16_TOLERANCE = 0.005
_STAGING = ".ship-"


# --------------------------------------------------------------------------- hardware
def hardware_description() -> str:
    """This machine: CPU model and logical cores, and NVIDIA GPUs when ``nvidia-smi`` sees
    any (e.g. ``"AMD EPYC, 2 CPU cores"``)."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine() or "unknown CPU"
    text = f"{cpu}, {os.cpu_count() or '?'} CPU cores"
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=False)
            gpus = [g.strip() for g in out.stdout.splitlines() if g.strip()]
        except (OSError, subprocess.SubprocessError):
            gpus = []
        if gpus:
            names = sorted(set(gpus))
            text += "; " + ", ".join(f"{gpus.count(n)}x {n}" for n in names)
    return text


# --------------------------------------------------------------------------- results
@dataclass
class ShipResult:
    """What :func:`ship` wrote and measured.

    Attributes:
        path: the shipped model directory.
        bytes: its size on disk.
        models_bytes: the whole models root's size after shipping.
        steps: the shipped model's step (best on validation).
        steps_trained: the run's last step.
        wall_time_s: training wall time (summed active spans of the event files).
        sessions: how many times the trainer was started or resumed.
        valid: valid ``r_cost``/``kl_cost``.
        test: test ``r_cost``/``kl_cost``.
        test_evaluated: the test costs were computed here (the run had not recorded them).
        command: the training command in the README.
        command_source: ``given``, ``recorded`` or ``reconstructed``.
        float16: measurements of float16 against float32 weights.
        datasets: source and licence of each training file.
        warnings: things a person should look at (size limit, missing data).
    """

    path: Path
    bytes: int
    models_bytes: int
    steps: int | None
    steps_trained: int | None
    wall_time_s: float | None
    sessions: int
    valid: dict[str, float] | None
    test: dict[str, float] | None
    test_evaluated: bool
    command: str
    command_source: str
    float16: dict[str, Any]
    datasets: list[DatasetInfo]
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI."""
        parts = [(f"shipped {self.path} ({self.bytes / 1e6:.2f} MB; models/ now "
                 f"{self.models_bytes / 1e6:.2f} MB of {MODELS_SIZE_LIMIT / 1e6:.0f} MB)")]
        if self.steps is not None:
            parts.append(f"step {self.steps}")
        if self.test:
            parts.append(f"test r_cost {self.test['r_cost']:.4f} kl_cost "
                         f"{self.test['kl_cost']:.4f}")
        return "; ".join(parts)


# ------------------------------------------------------------------------- shipping
def _dir_bytes(path: Path, skip_hidden: bool = False) -> int:
    total = 0
    for p in path.rglob("*"):
        rel = p.relative_to(path)
        if skip_hidden and any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file():
            total += p.stat().st_size
    return total


def _copy_best(best: Path, dest: Path) -> None:
    """Copy ``best/`` while a live trainer may swap it: copy again if it changed."""
    for _ in range(5):
        try:
            before = best.stat().st_ino
            shutil.copytree(best, dest)
            if best.stat().st_ino == before:
                return
        except FileNotFoundError:  # mid-swap (two-rename fallback): try again
            pass
        shutil.rmtree(dest, ignore_errors=True)
    raise ShipError(f"{best}: changed during every copy (the run keeps saving); try again")


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ShipError(
            f"model name {name!r}: use lowercase letters, digits, '-' and '_' (it is the "
            "folder name under models/ and the --category name)")


def _train_state(log_root: Path) -> dict[str, Any]:
    path = log_root / "last" / "train_state.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _data_files(log_root: Path, data_set: Sequence[str], state: dict[str, Any],
                data_dir: str | os.PathLike[str] | None) -> list[Path] | None:
    """The run's dataset files: ``data_dir`` when given, else where the run recorded them
    (relative to the log root). None when they cannot be found."""
    if data_dir is not None:
        from sketchart.data.quickdraw import resolve_data_set

        try:
            return [resolve_data_set(n, data_dir, download=False, progress=False)
                    for n in data_set]
        except SketchartError:
            return None
    paths = state.get("options", {}).get("data_paths", [])
    recorded = [(log_root / p).resolve() for p in paths]
    if recorded and len(recorded) == len(data_set) and all(p.is_file() for p in recorded):
        return recorded
    return None


def _format_hparam(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return value[0] if len(value) == 1 else "[" + ",".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def _reconstruct_command(log_root: Path, hps: Any, state: dict[str, Any],
                         data_files: list[Path] | None) -> str:
    """A ``sketchart train`` line equivalent to the run, from what the log root records:
    the non-default hparams, the data folder, ``--bucketed`` and the seed."""
    from sketchart.hparams import HParams

    defaults = HParams().to_dict()
    values = hps.to_dict()
    if data_files is not None:
        from sketchart.data.datasets import load_datasets

        if values["max_seq_len"] == max(load_datasets(data_files).max_len(), 1):
            values["max_seq_len"] = defaults["max_seq_len"]  # derived from the data
    values["data_set"] = [Path(n).name for n in values["data_set"]]
    items = [f"{k}={_format_hparam(v)}" for k, v in values.items() if v != defaults[k]
             or k == "data_set"]
    cwd = Path.cwd()

    def rel(p: Path) -> str:
        r = os.path.relpath(p.resolve(), cwd)
        return r if not r.startswith("../../") else str(p)

    args = ["sketchart", "train", "--log-root", rel(log_root)]
    if data_files:
        args += ["--data-dir", rel(data_files[0].parent)]
    args += ["--hparams", ",".join(items)]
    options = state.get("options", {})
    if options.get("bucketed"):
        args.append("--bucketed")
    if "seed" in state:
        args += ["--seed", str(state["seed"])]
    return shlex.join(args)


def _hms(seconds: float) -> str:
    return format_duration(seconds, resolution="min")


def _forward_costs(model: Any, batch: Any) -> tuple[float, list[np.ndarray], Any]:
    """``(r_cost, mixture parameters, mu or None)`` of one deterministic forward pass
    (z = mu)."""
    import keras

    inputs = {"strokes5": batch.strokes5, "lengths": batch.lengths}
    eps = np.zeros((len(batch.lengths), model.hps.z_size), np.float32) \
        if model.hps.conditional else None
    out = model.losses_for(inputs, model.hps.kl_weight, eps=eps)
    params = [keras.ops.convert_to_numpy(p) for p in out["outputs"]["params"]]
    mu = out["outputs"].get("mu")
    return (float(keras.ops.convert_to_numpy(out["r_cost"])), params,
            None if mu is None else keras.ops.convert_to_numpy(mu))


def _float16_check(model32: Any, model16: Any, data_files: list[Path] | None
                   ) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Compare float16-stored weights (loaded as ``model16``) with the float32 originals:
    the weights, one deterministic forward pass over up to 100 test sketches (r_cost and
    mixture parameters, z = mu), and samples drawn with one seed.

    Returns:
        ``(measurements, the float16 model's samples)`` (the samples become sample.png).
    """
    from sketchart.generate.sampling import sample

    w32 = [np.asarray(v.value) for v in model32.weights]
    w16 = [np.asarray(v.value) for v in model16.weights]
    pairs = [(a, b) for a, b in zip(w32, w16, strict=True) if a.size]
    out: dict[str, Any] = {
        "stored": "float16",
        "loaded_dtypes": sorted({str(v.dtype) for v in model16.weights}),
        "max_abs_weight_error": max(float(np.max(np.abs(a - b))) for a, b in pairs),
        "max_rel_weight_error": max(float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-3)))
                                    for a, b in pairs)}
    n, seed = SAMPLE_COUNT, SAMPLE_SEED
    drawn16 = sample(model16, n, SAMPLE_TEMPERATURE, seed=seed)
    drawn32 = sample(model32, n, SAMPLE_TEMPERATURE, seed=seed)
    same, prefix_err, fractions = 0, 0.0, []
    for x, y in zip(drawn32, drawn16, strict=True):
        longest = max(len(x), len(y))
        k = min(len(x), len(y))
        # leading points where both agree on the pen and stay within 1% of a typical step
        tol = max(0.01 * float(np.mean(np.abs(x[:, :2]))) if len(x) else 0.0, 1e-6)
        agree = 0
        while agree < k and x[agree, 2] == y[agree, 2] \
                and np.max(np.abs(x[agree, :2] - y[agree, :2])) <= tol:
            agree += 1
        fractions.append(agree / longest if longest else 1.0)
        if agree:
            prefix_err = max(prefix_err, float(np.max(np.abs(x[:agree, :2] - y[:agree, :2]))))
        same += int(len(x) == len(y) and agree == len(x))
    out.update({"samples": n, "temperature": SAMPLE_TEMPERATURE, "seed": seed,
                "samples_identical_in_tolerance": same,
                "mean_agreeing_fraction": float(np.mean(fractions)),
                "max_abs_offset_error_in_agreeing_prefix": prefix_err})
    if data_files:
        from sketchart.data.datasets import BatchLoader, load_npz

        sketches, labels = load_npz(data_files[0]).split("test")
        limit = model32.hps.max_seq_len
        keep = [i for i, s in enumerate(sketches) if len(s) <= limit][:100]
        if keep:
            loader = BatchLoader([sketches[i] for i in keep], np.asarray(labels)[keep],
                                 batch_size=len(keep), max_seq_len=limit,
                                 scale_factor=model32.meta.scale_factor or 1.0)
            batch = next(iter(loader.eval_batches()))
            r32, p32, mu32 = _forward_costs(model32, batch)
            r16, p16, mu16 = _forward_costs(model16, batch)
            # the steps that predict real points (and the end), relative to each
            # parameter's largest magnitude; the max and the 99.9th percentile, since a
            # layer-norm RNN can amplify rounding for the odd sketch
            real = np.arange(p32[0].shape[1])[None, :] <= batch.lengths[:, None]
            errors = np.concatenate([
                (np.abs(a - b)[real] / max(float(np.max(np.abs(a))), 1e-6)).ravel()
                for a, b in zip(p32, p16, strict=True)])
            out.update({"test_sketches": len(keep), "test_r_cost_mu_float32": r32,
                        "test_r_cost_mu_float16": r16,
                        "max_rel_mixture_param_error": float(errors.max()),
                        "p999_rel_mixture_param_error": float(np.quantile(errors, 0.999))})
            if mu32 is not None:
                moved = np.max(np.abs(mu32 - mu16), axis=1)
                out.update({"max_mu_error": float(moved.max()),
                            "median_mu_error": float(np.median(moved)),
                            "sketches_mu_moved_over_0.05": int(np.sum(moved > 0.05))})
    return out, drawn16


def _evaluate_test(model_dir: Path, data_files: list[Path]) -> dict[str, float]:
    """Test ``r_cost``/``kl_cost`` over all files, weighted by their sketches (the
    trainer's evaluation: sampled z, seed 0)."""
    from sketchart.training.trainer import evaluate_model

    totals = {"r_cost": 0.0, "kl_cost": 0.0}
    count = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for path in data_files:
            result = evaluate_model(model_dir, path, "test")
            for k in totals:
                totals[k] += result[k] * result["sketches"]
            count += result["sketches"]
    return {k: v / max(count, 1) for k, v in totals.items()}


def ship(
    log_root: str | os.PathLike[str],
    name: str,
    models_root: str | os.PathLike[str] = "models",
    *,
    command: str | None = None,
    licence: str | None = None,
    hardware: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    float16: bool = True,
    force: bool = False,
    pause_gap_s: float = 900.0,
) -> ShipResult:
    """Ship a training run's best model as ``<models_root>/<name>/`` (module docstring).

    Args:
        log_root: a ``sketchart train`` log root (``best/``; ``last/`` and TensorBoard
            events for the run's history). Only read.
        name: the model's name (``sheep``, ``sheep-uncond``): its folder and the name
            ``--category`` resolves.
        models_root: the folder of shipped models.
        command: the exact training command for the README (default: recorded by the run,
            else reconstructed from its hparams and options, and marked so).
        licence: the training data's licence, for data this module does not know.
        hardware: what the run trained on (default: this machine, see
            :func:`hardware_description`).
        data_dir: where the run's dataset files are (default: where the run recorded
            them); needed only to evaluate missing test costs and for the float16 check.
        float16: store the weights as float16 (refused when that moves the deterministic
            test r_cost by more than ``FLOAT16_TOLERANCE``).
        force: replace an existing ``<models_root>/<name>`` (only once the new one is
            complete).
        pause_gap_s: silences in the event files longer than this are pauses, not work.

    Returns:
        A :class:`ShipResult`.

    Raises:
        ShipError: no ``best/`` model, an existing target without ``force``, a dataset of
            unknown licence without ``licence``, missing test costs and no dataset to
            evaluate them, float16 weights that change the results.
    """
    from sketchart.hparams import HParams, HParamsError
    from sketchart.hub.catalog import normalize_name
    from sketchart.modeldir import (
        CONFIG_FILE,
        META_FILE,
        ModelDirError,
        is_model_dir,
        load_model_dir,
    )

    log_root = Path(log_root)
    _check_name(name)
    best = log_root / "best"
    if not log_root.is_dir():
        raise ShipError(f"{log_root}: no such training log root")
    if not is_model_dir(best):
        raise ShipError(f"{log_root}: no best/ model (a log root of `sketchart train` holds "
                        "best/ once the run has saved; train at least save_every steps)")
    try:  # the licence question first, before anything is loaded or written
        dataset_info(HParams.from_json(best / CONFIG_FILE).data_set, licence)
    except HParamsError as exc:
        raise ShipError(str(exc)) from None
    models_root = Path(models_root)
    target = models_root / name
    if target.exists() and not force:
        raise ShipError(f"{target} already exists; pass --force to replace it")
    if models_root.is_dir():
        # names resolve normalised (sheep-uncond == sheep_uncond): one folder per name
        key = normalize_name(name)
        twins = [p.name for p in models_root.iterdir() if p.name != name
                 and not p.name.startswith(".") and normalize_name(p.name) == key]
        if twins:
            raise ShipError(f"{models_root / twins[0]} already holds the model that "
                            f"--category {name} resolves to; remove it or ship as {twins[0]}")
    try:
        models_root.mkdir(parents=True, exist_ok=True)
        # a killed ship leaves its hidden staging folder: never packaged, removed here
        for leftover in models_root.glob(f"{_STAGING}{name}.*"):
            shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{name}.", dir=models_root))
    except OSError as exc:
        raise ShipError(f"models root {models_root} is not writable: "
                        f"{exc.strerror or exc}") from None
    try:
        best_copy = staging / "best"
        _copy_best(best, best_copy)
        try:
            model = load_model_dir(best_copy)
        except ModelDirError as exc:
            raise ShipError(f"{log_root}/best: {exc}") from None
        hps, meta = model.hps, model.meta
        datasets = dataset_info(hps.data_set, licence)
        state = _train_state(log_root)
        data_files = _data_files(log_root, hps.data_set, state, data_dir)
        notes: list[str] = []

        test_evaluated = False
        if not meta.test:
            if data_files is None:
                raise ShipError(
                    f"{log_root}/best/{META_FILE} records no test costs and the run's data "
                    "files are not where it recorded them; pass --data-dir to evaluate them")
            meta.test = _evaluate_test(best_copy, data_files)
            test_evaluated = True

        out_dir = staging / name
        from sketchart.modeldir import save_model_dir

        save_model_dir(model, out_dir, meta, float16=float16)
        shipped = load_model_dir(out_dir)
        if float16:
            check, drawings = _float16_check(model, shipped, data_files)
            if "test_r_cost_mu_float16" in check:
                delta = abs(check["test_r_cost_mu_float16"] - check["test_r_cost_mu_float32"])
                if delta > FLOAT16_TOLERANCE:
                    raise ShipError(
                        f"float16 weights change the test r_cost by {delta:.4f} (more than "
                        f"{FLOAT16_TOLERANCE}); ship with --float32")
            else:
                notes.append("float16 check without test data: samples only")
        else:
            from sketchart.generate.sampling import sample

            check = {"loaded_dtypes": sorted({str(v.dtype) for v in model.weights}),
                     "stored": "float32"}
            drawings = sample(shipped, SAMPLE_COUNT, SAMPLE_TEMPERATURE, seed=SAMPLE_SEED)

        events = read_events(log_root)
        known = [s for s in (state.get("step"), events.last_step()) if s is not None]
        steps_trained = max(known) if known else None
        sessions = sum(1 for s in events.sessions if len(s) > 1)
        wall = events.active_seconds(pause_gap_s) if events.sessions else None
        wall_to_best = (events.active_seconds(pause_gap_s, until_step=meta.steps)
                        if events.sessions and meta.steps is not None else None)
        if wall is None and "elapsed_s" in state:
            wall = float(state["elapsed_s"])
            notes.append("wall time from train_state.json (no TensorBoard events)")

        if command:
            command_source = "given"
        elif state.get("options", {}).get("command"):
            command, command_source = str(state["options"]["command"]), "recorded"
        else:
            command = _reconstruct_command(log_root, hps, state, data_files)
            command_source = "reconstructed"
            if any(os.path.isabs(arg) for arg in shlex.split(command)):
                notes.append("the reconstructed training command names absolute paths of "
                             "this machine; pass --command with the command as run")

        recorded_hw = state.get("options", {}).get("hardware")
        if hardware:
            hw, hw_source = hardware, "given"
        elif recorded_hw:
            hw, hw_source = str(recorded_hw), "recorded"
        else:
            hw, hw_source = hardware_description(), "detected when shipping"
        what = _what(hps, datasets)
        if events.scalars:
            render_curves(events, out_dir / "curves.png",
                          title=f"{name}: {what}, best at step {meta.steps}",
                          kl_floor=hps.kl_tolerance if hps.conditional else None)
        else:
            notes.append("no TensorBoard scalars in the log root: no curves.png")
        render_sketches(drawings, out_dir / "sample.png",
                        caption=f"{name}: {SAMPLE_COUNT} samples, T={SAMPLE_TEMPERATURE}, "
                                f"seed {SAMPLE_SEED}")

        facts = {
            "name": name, "draws": what, "conditional": bool(hps.conditional),
            "data": [d.__dict__ for d in datasets],
            "command": command, "command_source": command_source,
            "steps": meta.steps, "steps_trained": steps_trained,
            "wall_time_s": wall, "wall_time_to_best_s": wall_to_best, "sessions": sessions,
            "hardware": hw,
            "hardware_source": hw_source,
            "backend": state.get("options", {}).get("backend"),
            "bucketed": state.get("options", {}).get("bucketed"),
            "valid": meta.valid, "test": meta.test, "test_evaluated_when_shipping":
            test_evaluated, "float16": check,
            "sample": {"file": "sample.png", "count": SAMPLE_COUNT,
                       "temperature": SAMPLE_TEMPERATURE, "seed": SAMPLE_SEED},
            "sketchart_version": meta.sketchart_version, "keras_version": meta.keras_version,
        }
        (out_dir / "shipped.json").write_text(json.dumps(facts, indent=2) + "\n",
                                              encoding="utf-8")
        (out_dir / "README.md").write_text(_readme(facts, hps, meta, out_dir),
                                           encoding="utf-8")
        size = _dir_bytes(out_dir)

        # the usual permissions (mkdtemp made it private), then into place: swapped with
        # the old model (if any) in one atomic exchange where the system has one
        from sketchart.util.atomic import chmod_as_umask, swap_dir

        chmod_as_umask(out_dir)
        swap_dir(out_dir, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    total = _dir_bytes(models_root, skip_hidden=True)
    if total > MODELS_SIZE_LIMIT:
        notes.append(f"{models_root} holds {total / 1e6:.1f} MB, over the "
                     f"{MODELS_SIZE_LIMIT / 1e6:.0f} MB limit")
    return ShipResult(path=target, bytes=size, models_bytes=total, steps=meta.steps,
                      steps_trained=steps_trained, wall_time_s=wall, sessions=sessions,
                      valid=meta.valid, test=meta.test, test_evaluated=test_evaluated,
                      command=command, command_source=command_source, float16=check,
                      datasets=datasets, warnings=notes)


# --------------------------------------------------------------------------- README
def _what(hps: Any, datasets: list[DatasetInfo]) -> str:
    kind = "conditional VAE" if hps.conditional else "decoder-only model"
    draws = " and ".join(dict.fromkeys(d.draws for d in datasets))
    return f"{kind} of {draws}"


def _cost(d: dict[str, float] | None, key: str) -> str:
    return f"{d[key]:.4f}" if d and key in d else "n/a"


def _readme(facts: dict[str, Any], hps: Any, meta: Any, out_dir: Path) -> str:
    name = facts["name"]
    lines = [f"# {name}: a Sketch-RNN {facts['draws']}", ""]
    for d in {d["key"]: d for d in facts["data"]}.values():
        lic = f"[{d['licence']}]({d['licence_url']})" if d["licence_url"] else d["licence"]
        if d["non_commercial"]:
            lines.append(f"> **Licence: {lic} - non-commercial use only.** Trained on "
                         f"{d['title']}; {d['terms']}")
        else:
            lines.append(f"> **Licence of the training data: {lic}.** Trained on "
                         f"{d['title']}" + (f"; {d['terms']}" if d["terms"] else "."))
        lines.append("")
    lines += ["![16 samples at temperature 0.4](sample.png)", "",
              (f"Samples at T={SAMPLE_TEMPERATURE} (seed {SAMPLE_SEED}, sketch-rnn-js "
               f"temperature convention), drawn from the shipped "
               f"{facts['float16'].get('stored', 'float16')} weights."),
              "", "## Use", "", "```sh",
              f"sketchart sample --category {name} -n 16 -t 0.4 -o {name}.svg",
              f"vpype sketchrnn-sample --category {name} -t 0.4 write {name}.svg",
              "```", "", "## Data", ""]
    for d in {d["key"]: d for d in facts["data"]}.values():
        lines.append(f"- **{d['title']}**")
        lines.append(f"  - source: {d['source']}")
        lic = f"{d['licence']} ({d['licence_url']})" if d["licence_url"] else d["licence"]
        lines.append(f"  - licence: {lic}" + (f"; {d['copyright']}" if d["copyright"] else ""))
    lines += ["", "## Model", ""]
    if hps.conditional:
        lines.append(f"- conditional VAE: encoder {hps.enc_model} {hps.enc_rnn_size} "
                     f"(bidirectional), z {hps.z_size}")
    else:
        lines.append("- decoder-only (unconditional)")
    lines += [f"- decoder {hps.dec_model} {hps.dec_rnn_size}, {hps.num_mixture} mixtures",
              f"- max_seq_len {meta.max_seq_len}, scale_factor "
              + (f"{meta.scale_factor:.4f}" if meta.scale_factor else "unknown"),
              f"- weights stored as float16 ({_weights_mb(out_dir)}), upcast to float32 "
              "on load" if facts["float16"].get("stored") != "float32"
              else f"- weights stored as float32 ({_weights_mb(out_dir)})", ""]
    lines += ["## Training", "", "```sh", facts["command"], "```", ""]
    if facts["command_source"] == "reconstructed":
        lines += [("(Reconstructed from the run's recorded hparams and options; the run did "
                  "not record its command line.)"), ""]
    steps = facts["steps"]
    trained = facts["steps_trained"]
    lines.append(f"- steps: {steps}" + (f" (best on validation, of {trained} trained)"
                                       if trained and trained != steps else ""))
    if facts["wall_time_s"] is not None:
        wall = f"- wall time: {_hms(facts['wall_time_s'])}"
        if facts["sessions"] > 1:
            wall += f" over {facts['sessions']} sessions (stopped and resumed)"
        if facts["wall_time_to_best_s"] is not None and trained != steps:
            wall += f"; {_hms(facts['wall_time_to_best_s'])} to step {steps}"
        lines.append(wall)
    lines.append(f"- hardware: {facts['hardware']}"
                 + (f"; Keras backend {facts['backend']}" if facts["backend"] else "")
                 + ("; length-bucketed batches" if facts["bucketed"] else ""))
    lines.append(f"- sketchart {facts['sketchart_version']}, Keras {facts['keras_version']}")
    how = (f"z sampled as the reference's evaluation does; kl_cost after the kl_tolerance "
           f"floor ({hps.kl_tolerance})" if hps.conditional
           else "decoder-only: no latent, so no KL term")
    lines += ["", "## Losses", "", f"At step {steps} ({how}).", "",
              "| split | r_cost | kl_cost |", "|---|---|---|",
              (f"| valid | {_cost(facts['valid'], 'r_cost')} | "
              f"{_cost(facts['valid'], 'kl_cost')} |"),
              (f"| test | {_cost(facts['test'], 'r_cost')} | "
              f"{_cost(facts['test'], 'kl_cost')} |"), ""]
    if facts["test_evaluated_when_shipping"]:
        lines += ["(Test costs evaluated when shipping; the run had not recorded them.)", ""]
    if (out_dir / "curves.png").exists():
        lines += ["![training curves](curves.png)", ""]
    f16 = facts["float16"]
    if "max_rel_weight_error" in f16:
        check = (f"Weights stored as float16 differ from the float32 originals by at most "
                 f"{f16['max_rel_weight_error']:.1e} (relative)")
        if "test_r_cost_mu_float16" in f16:
            mu = " with z = mu" if hps.conditional else ""
            check += (f"; on {f16['test_sketches']} test sketches{mu}, r_cost is "
                      f"{f16['test_r_cost_mu_float32']:.5f} (float32) and "
                      f"{f16['test_r_cost_mu_float16']:.5f} (float16); 99.9% of the mixture "
                      f"parameters of real points move by less than "
                      f"{f16['p999_rel_mixture_param_error']:.1e} of their largest magnitude "
                      f"(at most {f16['max_rel_mixture_param_error']:.1e})")
            if "max_mu_error" in f16:
                check += (f"; the encoding mu moves by {f16['median_mu_error']:.1e} (median), "
                          f"by more than 0.05 for {f16['sketches_mu_moved_over_0.05']} "
                          f"sketch(es), at most {f16['max_mu_error']:.2f}")
        check += (f"; {f16['samples']} samples at T={f16['temperature']} with one seed: "
                  f"{f16['mean_agreeing_fraction'] * 100:.0f}% of points agree")
        if f16["mean_agreeing_fraction"] < 1:
            check += (" (the rest follow a different random branch once rounding flips a "
                      "discrete choice)")
        check += "."
        lines += ["## float16 storage", "", check, ""]
    return "\n".join(lines)


def _weights_mb(out_dir: Path) -> str:
    from sketchart.modeldir import WEIGHTS_FILE

    path = out_dir / WEIGHTS_FILE
    return f"{path.stat().st_size / 1e6:.2f} MB" if path.exists() else "?"
