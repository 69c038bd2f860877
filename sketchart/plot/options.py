"""Plot options: declared once here, turned into typer and click options by the two CLIs.

:class:`PlotOption` says what an option is (name, flags, type, default, help);
:func:`plot_option_table` lists the options of ``sketchart plot`` and vpype's ``plot`` in
help order: the common ones, then each registered device's own. The typer adapter lives in
:mod:`sketchart.cli.plot`, the click one in ``vpype_sketchart.plot_command``; both hand the
parsed values to :func:`options_from_values`, which builds :class:`PlotOptions`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sketchart.plot.drivers.ebb_planner import AxiDrawSettings

__all__ = [
    "COMMON_HEAD",
    "COMMON_TAIL",
    "OptionKind",
    "PlotOption",
    "PlotOptions",
    "options_from_values",
    "plot_option_table",
]

#: ``value``: one typed value; ``flag``: a boolean switch; ``pairs``: repeatable KEY VALUE
#: pairs collected into a ``dict[str, str]`` (the CLIs spell a pair differently);
#: ``multiple``: a repeatable value collected into a list
OptionKind = Literal["value", "flag", "pairs", "multiple"]


@dataclass(frozen=True)
class PlotOption:
    """One command-line option of the plot commands.

    Attributes:
        name: the parameter name (``pen_up``); the key in :func:`options_from_values`.
        flags: the spellings (``("--pen-up",)``, ``("-d", "--define")``).
        type: ``str``, ``float``, ``int``, ``bool`` or ``Path``.
        default: the value when the option is not given (``None``: not given).
        help: one sentence; ``{journal_default}`` is filled in by each CLI.
        kind: see :data:`OptionKind`.
        choices: the accepted values, when they form a closed set.
        hidden: left out of the help (a deprecated spelling kept for one release).
    """

    name: str
    flags: tuple[str, ...]
    type: type
    default: Any
    help: str
    kind: OptionKind = "value"
    choices: tuple[str, ...] | None = None
    hidden: bool = False


@dataclass
class PlotOptions:
    """Everything a plot needs besides the drawing.

    Attributes:
        device: a registered device name (``"axidraw"``, ``"grbl"``).
        port: port path or pyserial URL; ``None`` lets the driver discover its device.
        axidraw: AxiDraw pen/speed settings (model and travel included).
        profile: the ``gwrite`` profile for GRBL.
        defaults: template values for the profile (like ``gwrite -d KEY VALUE``).
        device_settings: per device name, the values of its declared options, for devices
            that keep their settings nowhere else.
        journal: journal path; ``None`` uses :func:`~sketchart.plot.progress.
            default_journal_path`.
        resume: continue from the journal's first unfinished path.
        dry_run: print the plan and time; touch no device.
        pause: called with a message before each layer of a multi-layer drawing (change the
            pen, then return); ``None`` plots without pausing.
        layer_pauses: pause between layers (``--no-pause`` turns it off; a layer whose
            name starts with ``!`` still pauses).
        quiet: no live progress.
        park: where the carriage waits after a stop: ``"home"`` or ``"stay"``.
        layers: plot only the layers with these numbers (empty: all).
        copies: plot the drawing this many times.
        page_delay: seconds to wait between copies (to change the paper).
    """

    device: str = "axidraw"
    port: str | None = None
    axidraw: AxiDrawSettings = field(default_factory=AxiDrawSettings)
    profile: str = "grbl-servo"
    defaults: dict[str, Any] = field(default_factory=dict)
    device_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal: Path | None = None
    resume: bool = False
    dry_run: bool = False
    pause: Callable[[str], None] | None = None
    layer_pauses: bool = True
    quiet: bool = False
    park: str = "home"
    layers: tuple[int, ...] = ()
    copies: int = 1
    page_delay: float = 0.0


COMMON_HEAD: tuple[PlotOption, ...] = (
    PlotOption("device", ("--device",), str, "axidraw", "Plotter: {devices}."),
    PlotOption(
        "port",
        ("--port",),
        str,
        None,
        "Serial port or pyserial URL (default: find the AxiDraw by USB id).",
    ),
)

COMMON_TAIL: tuple[PlotOption, ...] = (
    PlotOption("journal", ("--journal",), Path, None, "Progress journal ({journal_default})."),
    PlotOption(
        "resume",
        ("--resume",),
        bool,
        False,
        "Continue from the first unfinished path.",
        kind="flag",
    ),
    PlotOption(
        "dry_run",
        ("--dry-run",),
        bool,
        False,
        "Print the plan and estimated time; no device.",
        kind="flag",
    ),
    PlotOption(
        "no_pause",
        ("--no-pause",),
        bool,
        False,
        "Do not stop for a pen change between layers (a layer named '!...' still does).",
        kind="flag",
    ),
    PlotOption(
        "layer",
        ("--layer",),
        int,
        None,
        "Plot only this layer (its name's leading number, else its id); repeatable.",
        kind="multiple",
    ),
    PlotOption("copies", ("--copies",), int, 1, "Plot the drawing this many times."),
    PlotOption(
        "page_delay", ("--page-delay",), float, 0.0, "Seconds to wait between copies."
    ),
    PlotOption(
        "park",
        ("--park",),
        str,
        "home",
        "Where the carriage waits after a stop or the pause button: home or stay.",
        choices=("home", "stay"),
    ),
    PlotOption(
        "quiet", ("--quiet",), bool, False, "No live progress while plotting.", kind="flag"
    ),
)


def plot_option_table() -> list[PlotOption]:
    """Every plot option in help order, the device choices filled from the registry."""
    from sketchart.plot.registry import devices

    specs = devices()
    names = tuple(spec.name for spec in specs)
    device, *head = COMMON_HEAD
    device = PlotOption(
        device.name,
        device.flags,
        device.type,
        device.default,
        device.help.format(devices=" or ".join(names)),
        choices=names,
    )
    table = [device, *head]
    for spec in specs:
        table += spec.options
    return table + list(COMMON_TAIL)


def options_from_values(
    values: Mapping[str, Any], *, pause: Callable[[str], None] | None
) -> PlotOptions:
    """Build :class:`PlotOptions` from the parsed values of :func:`plot_option_table`.

    Every device's options are applied, whichever device is chosen, as the plot commands
    always did (an AxiDraw option beside ``--device grbl`` is accepted and unused).
    """
    from sketchart.plot.registry import devices

    journal = values.get("journal")
    options = PlotOptions(
        device=values["device"],
        port=values.get("port"),
        journal=Path(journal) if journal else None,
        resume=bool(values.get("resume")),
        dry_run=bool(values.get("dry_run")),
        pause=pause,
        layer_pauses=not values.get("no_pause"),
        quiet=bool(values.get("quiet")),
        park=str(values.get("park") or "home"),
        layers=tuple(int(n) for n in values.get("layer") or ()),
        copies=int(values.get("copies") or 1),
        page_delay=float(values.get("page_delay") or 0.0),
    )
    for spec in devices():
        options = spec.configure(options, {o.name: values[o.name] for o in spec.options})
    return options
