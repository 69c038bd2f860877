"""``sketchart plotter raise|lower|toggle|walk|home|motors-off|version``: manual utilities.

As axicli's manual mode: set pen heights (``raise``/``lower`` with ``--pen-up``/
``--pen-down``), align paper (``walk --x MM --y MM``, relative to where the carriage is),
go ``home``, free the carriage (``motors-off``) and print the board's firmware line
(``version``). For ``--device axidraw`` (found by USB id unless ``--port``) and ``--device
grbl --port PORT``. Settings not given come from ``[sketchart.plot]`` in vpype's
configuration, as for ``sketchart plot``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sketchart.plot.driver import ManualControl

__all__ = ["register"]

plotter_app = typer.Typer(
    name="plotter",
    help="Manual plotter utilities: pen up/down, walk, home, motors off, firmware version.",
    no_args_is_help=True,
)

Device = Annotated[str, typer.Option("--device", help="Plotter: axidraw or grbl.")]
Port = Annotated[
    str | None, typer.Option("--port", help="Serial port or pyserial URL (GRBL needs one).")
]
Model = Annotated[
    str | None, typer.Option("--axidraw-model", help="AxiDraw model (axicli's 1-7 or name).")
]
PenUp = Annotated[float | None, typer.Option("--pen-up", help="AxiDraw pen-up height, %.")]
PenDown = Annotated[
    float | None, typer.Option("--pen-down", help="AxiDraw pen-down height, %.")
]
Penlift = Annotated[
    int | None, typer.Option("--penlift", help="1 default, 2 standard servo, 3 brushless.")
]
Profile = Annotated[str | None, typer.Option("--profile", help="gwrite profile for GRBL.")]


def _session(given: dict[str, Any], action: Callable[[ManualControl], None]) -> None:
    """Connect, run ``action``, release the port; a failure is one line."""
    from sketchart.errors import SketchartError
    from sketchart.plot.config import merge_config
    from sketchart.plot.options import options_from_values, plot_option_table
    from sketchart.plot.registry import get_device

    table = plot_option_table()
    values = {o.name: o.default for o in table} | {"define": {}}
    values = merge_config(values, table, lambda name: given.get(name) is not None)
    values |= {k: v for k, v in given.items() if v is not None}
    options = options_from_values(values, pause=None)
    spec = get_device(options.device)
    if spec.manual is None:
        raise SketchartError(f"{options.device!r} has no manual utilities")
    control = spec.manual(options, None)
    try:
        control.connect()
        action(control)
    except KeyboardInterrupt:
        from sketchart.plot.run import PlotInterrupted

        raise PlotInterrupted("interrupted (Ctrl-C)") from None  # exit status 130
    finally:
        control.close()


def _given(
    device: str | None,
    port: str | None,
    model: str | None = None,
    pen_up: float | None = None,
    pen_down: float | None = None,
    penlift: int | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    return {
        "device": device,
        "port": port,
        "axidraw_model": model,
        "pen_up": pen_up,
        "pen_down": pen_down,
        "penlift": penlift,
        "profile": profile,
    }


def _pen_command(name: str, doc: str, action: Callable[[ManualControl], None]) -> None:
    """Register a pen utility: every one takes the same device and pen options."""

    def command(
        device: Device = "axidraw",
        port: Port = None,
        model: Model = None,
        pen_up: PenUp = None,
        pen_down: PenDown = None,
        penlift: Penlift = None,
        profile: Profile = None,
    ) -> None:
        given = _given(device, port, model, pen_up, pen_down, penlift, profile)
        _session(given, action)

    command.__doc__ = doc
    plotter_app.command(name)(command)


_pen_command("raise", "Lift the pen (to --pen-up).", lambda c: c.raise_pen())
_pen_command("lower", "Lower the pen (to --pen-down).", lambda c: c.lower_pen())
_pen_command("toggle", "Lift a lowered pen, lower a lifted one.", lambda c: c.toggle_pen())


@plotter_app.command("walk")
def walk(
    x: Annotated[float, typer.Option("--x", help="mm to move right (negative: left).")] = 0.0,
    y: Annotated[float, typer.Option("--y", help="mm to move down (negative: up).")] = 0.0,
    device: Device = "axidraw",
    port: Port = None,
    model: Model = None,
    profile: Profile = None,
) -> None:
    """Move the carriage by --x/--y mm from where it is (pen as it is)."""
    given = _given(device, port, model, profile=profile)
    _session(given, lambda c: c.walk(x, y))


@plotter_app.command("home")
def home(
    device: Device = "axidraw", port: Port = None, profile: Profile = None
) -> None:
    """Lift the pen and move to the origin."""
    _session(_given(device, port, profile=profile), lambda c: c.home())


@plotter_app.command("motors-off")
def motors_off(
    device: Device = "axidraw", port: Port = None, profile: Profile = None
) -> None:
    """Turn the motors off, so the carriage moves by hand."""
    _session(_given(device, port, profile=profile), lambda c: c.motors_off())


@plotter_app.command("version")
def version(device: Device = "axidraw", port: Port = None, profile: Profile = None) -> None:
    """Print the board's firmware line."""
    _session(_given(device, port, profile=profile), lambda c: typer.echo(c.version))


def register(app: typer.Typer) -> None:
    """Add the ``plotter`` group to the ``sketchart`` CLI."""
    app.add_typer(plotter_app)
