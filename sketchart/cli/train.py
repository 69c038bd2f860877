"""``sketchart train`` and ``sketchart evaluate``.

``train`` accepts magenta's spellings too (``--log_root``, ``--data_dir``,
``--resume_training``), so a reference command line works unchanged::

    sketchart train --log-root runs/sheep --data-dir data \\
        --hparams "data_set=aaron_sheep.npz,num_steps=20000"
    sketchart train --log-root runs/mix cat.npz bus.npz      # direct paths
    sketchart train --log-root runs/sheep --resume           # continue after a stop

The bodies are thin over :mod:`sketchart.training.trainer`; TensorFlow/Keras are imported
only when a command runs.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]


@contextlib.contextmanager
def _plain_warnings() -> Iterator[None]:
    """Show library warnings as ``Warning: message`` lines, without file and line."""
    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
             line: Any = None) -> None:
        print(f"Warning: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = show
        yield


def _train_command(
    data: Annotated[list[str] | None, typer.Argument(
        help="Dataset .npz files (or QuickDraw category names); same as data_set=[...].",
        show_default=False)] = None,
    log_root: Annotated[Path, typer.Option(
        "--log-root", help="Folder for best/, last/ and TensorBoard events.")]
    = Path("runs/default"),
    data_dir: Annotated[str | None, typer.Option(
        "--data-dir",
        help="Where data_set names are found; QuickDraw categories missing here are "
             "downloaded into it. An http(s) URL (as magenta's default) is fetched into "
             "the user's cache.")] = None,
    hparams: Annotated[str, typer.Option(
        "--hparams", help='Magenta hparams, e.g. "data_set=cat.npz,num_steps=20000".')] = "",
    resume: Annotated[bool, typer.Option(
        "--resume",
        help="Continue the run in LOG_ROOT/last at the same step and data order.")] = False,
    bucketed: Annotated[bool, typer.Option(
        "--bucketed", help="Length-bucketed batches, each run only to its longest sketch "
                           "+ 1 (faster; drops the pen loss of the steps not run).")] = False,
    data_parallel: Annotated[bool, typer.Option(
        "--data-parallel", help="Split each batch over all GPUs (or virtual devices).")]
    = False,
    distributed: Annotated[bool, typer.Option(
        "--distributed", help="One process of a multi-process run (JAX: SKETCHART_* "
        "variables or cluster auto-detection; TensorFlow: TF_CONFIG). See "
        "docs/distributed.md.")] = False,
    local_processes: Annotated[int | None, typer.Option(
        "--local-processes", help="Run as N processes on this machine (implies "
                                  "--distributed).", show_default=False)] = None,
    precision: Annotated[str | None, typer.Option(
        "--precision", help="float32 (default) or bfloat16 (mixed precision: bfloat16 "
                            "products; float32 weights, gates, loss and mixture head); "
                            "--resume keeps the run's.",
        show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(
        help="Seed of weights, data order and noise (default: random, recorded).")] = None,
    jit_compile: Annotated[bool, typer.Option(
        "--jit-compile", help="TensorFlow: compile the step with XLA (slower on CPU).")]
    = False,
    tensorboard: Annotated[bool, typer.Option(
        "--tensorboard/--no-tensorboard", help="Write TensorBoard events.")] = True,
    samples: Annotated[int, typer.Option(
        help="Sketches drawn into TensorBoard at each save.")] = 8,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a Sketch-RNN with magenta's schedules; crash-safe and resumable.

    Magenta's spellings --log_root, --data_dir and --resume_training work too.
    """
    from sketchart.training.trainer import train

    text = hparams
    if data:
        if "data_set" in text:
            raise typer.BadParameter("give the datasets either as arguments or as "
                                     "data_set=[...] in --hparams, not both")
        text = ",".join(s for s in (text, f"data_set=[{','.join(data)}]") if s)
    if local_processes is not None:
        from sketchart.training.launcher import launch_local, worker_args

        args = worker_args(log_root=log_root, data_dir=data_dir, hparams=text,
                           resume=resume, bucketed=bucketed, seed=seed,
                           jit_compile=jit_compile, tensorboard=tensorboard,
                           samples=samples, quiet=quiet, precision=precision)
        raise typer.Exit(launch_local(local_processes, args, log_root=log_root))
    with _plain_warnings():
        result = train(log_root, text, data_dir=data_dir, resume=resume, bucketed=bucketed,
                       precision=precision,
                       data_parallel=data_parallel, distributed=distributed, seed=seed,
                       jit_compile=jit_compile,
                       progress=not quiet, tensorboard=tensorboard, samples=samples)
    typer.echo(result.summary())


def _evaluate_command(
    model: Annotated[str, typer.Argument(
        help="Model name (google/cat, magenta/owl/lstm, a shipped model) or path (model "
             "directory, log root, .gen.json/.vae.json, magenta checkpoint).")],
    data: Annotated[Path, typer.Argument(help="A sketch-rnn .npz dataset.")],
    split: Annotated[str, typer.Option(help="train, valid or test.")] = "test",
    kl_weight: Annotated[float | None, typer.Option(
        help="KL weight in cost (default: the schedule at the model's step).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Rows per batch (default: the model's).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the z noise.")] = 0,
    use_mu: Annotated[bool, typer.Option(
        "--use-mu", help="Decode from z = mu (deterministic) instead of sampling z.")]
    = False,
) -> None:
    """Print a model's r_cost and kl_cost on one split of a dataset."""
    from sketchart.training.trainer import evaluate_model

    with _plain_warnings():
        out = evaluate_model(model, data, split, kl_weight=kl_weight,
                             batch_size=batch_size, seed=seed, use_mu=use_mu,
                             progress=True)
    typer.echo(f"r_cost {out['r_cost']:.4f}  kl_cost {out['kl_cost']:.4f}  "
               f"cost {out['cost']:.4f}  (kl_weight {out['kl_weight']:.4f}, "
               f"{out['sketches']} {split} sketches)")


def _magenta_spelling(name: str) -> str:
    """Option names as magenta spells them (``--log_root``, ``--resume_training``) read as
    ours; accepted this way, they stay out of the help's option column."""
    return {"resume_training": "resume"}.get(name, name.replace("_", "-"))


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``evaluate`` to the main CLI."""
    app.command("train", context_settings={"token_normalize_func": _magenta_spelling})(
        _train_command)
    app.command("evaluate")(_evaluate_command)
