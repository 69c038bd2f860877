"""The device registry: plotter name -> driver factory and its options.

A device is a :class:`DeviceSpec`: its name (``--device NAME``), the options it adds to
both plot commands, how their values go into :class:`~sketchart.plot.options.PlotOptions`,
and a factory that makes a :class:`~sketchart.plot.driver.PlotterDriver` for one drawing.

Adding a plotter:

1. write one module with a driver class (see :mod:`sketchart.plot.driver`; the serial
   plumbing is in :class:`~sketchart.plot.drivers.base.SerialDriver`) and a module-level
   ``DEVICE = DeviceSpec(...)``;
2. add the module's name to :data:`BUILTIN_DEVICE_MODULES` (or, from outside the package,
   call :func:`register_device`).

The built-in modules are imported on the first lookup, not when this module is.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sketchart.errors import SketchartError
from sketchart.plot.driver import ManualControl, PlotterDriver
from sketchart.plot.options import COMMON_HEAD, COMMON_TAIL, PlotOption, PlotOptions
from sketchart.plot.paths import PlotDocument

__all__ = [
    "BUILTIN_DEVICE_MODULES",
    "DeviceFactory",
    "DeviceSpec",
    "ManualFactory",
    "PortLister",
    "devices",
    "get_device",
    "register_device",
    "unregister_device",
]

#: lists serial ports (``serial.tools.list_ports.comports``); tests pass fakes
PortLister = Callable[[], list[Any]]

#: ``(document, options, list_ports) -> driver``; raises ``SketchartError`` for bad input
DeviceFactory = Callable[[PlotDocument, PlotOptions, PortLister | None], PlotterDriver]

#: ``(options, list_ports) -> manual control`` for ``sketchart plotter ...``
ManualFactory = Callable[[PlotOptions, PortLister | None], ManualControl]

#: modules that define a ``DEVICE``, in the order ``--device`` lists them
BUILTIN_DEVICE_MODULES = ("sketchart.plot.drivers.ebb", "sketchart.plot.drivers.grbl")


def _store_settings(
    spec: DeviceSpec, options: PlotOptions, values: dict[str, Any]
) -> PlotOptions:
    settings = {**options.device_settings, spec.name: dict(values)}
    return dataclasses.replace(options, device_settings=settings)


@dataclass(frozen=True)
class DeviceSpec:
    """One registry entry.

    Attributes:
        name: the ``--device`` value.
        create: the driver factory.
        options: the device's own plot options (names unique across devices).
        apply: puts the parsed values of ``options`` into :class:`PlotOptions`; ``None``
            stores them in ``PlotOptions.device_settings[name]``.
        manual: the factory of the manual utilities (``sketchart plotter``); ``None``
            when the device has none.
    """

    name: str
    create: DeviceFactory
    options: tuple[PlotOption, ...] = ()
    apply: Callable[[PlotOptions, Mapping[str, Any]], PlotOptions] | None = None
    manual: ManualFactory | None = None

    def configure(self, options: PlotOptions, values: Mapping[str, Any]) -> PlotOptions:
        """``options`` with this device's option ``values`` applied."""
        if self.apply is not None:
            return self.apply(options, values)
        return _store_settings(self, options, dict(values))


_DEVICES: dict[str, DeviceSpec] = {}
_loaded = False


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_DEVICE_MODULES:
        spec = importlib.import_module(module).DEVICE
        if spec.name not in _DEVICES:
            register_device(spec)


def register_device(spec: DeviceSpec) -> None:
    """Add a plotter (``--device spec.name``) to both plot commands and to the run loop.

    Raises:
        ValueError: the name is taken, or an option name or flag clashes with another's.
    """
    _load_builtins()
    if spec.name in _DEVICES:
        raise ValueError(f"a plotter named {spec.name!r} is already registered")
    taken = {o.name for o in COMMON_HEAD + COMMON_TAIL}
    flags = {f for o in COMMON_HEAD + COMMON_TAIL for f in o.flags}
    for other in _DEVICES.values():
        taken |= {o.name for o in other.options}
        flags |= {f for o in other.options for f in o.flags}
    for option in spec.options:
        if option.name in taken or flags.intersection(option.flags):
            raise ValueError(f"plot option {option.flags[0]} of {spec.name!r} is taken")
    _DEVICES[spec.name] = spec


def unregister_device(name: str) -> None:
    """Remove a plotter added with :func:`register_device` (tests use this)."""
    _DEVICES.pop(name, None)


def devices() -> list[DeviceSpec]:
    """Every registered plotter, built-ins first."""
    _load_builtins()
    return list(_DEVICES.values())


def get_device(name: str) -> DeviceSpec:
    """The plotter registered as ``name``.

    Raises:
        SketchartError: no such plotter (the message lists the registered ones).
    """
    _load_builtins()
    spec = _DEVICES.get(name)
    if spec is None:
        raise SketchartError(f"unknown device {name!r}; choose {' or '.join(_DEVICES)}")
    return spec
