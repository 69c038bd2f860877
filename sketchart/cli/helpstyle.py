"""Help pages that read like a classic command line at any terminal width.

Typer's rich help prints a type after every flag (``--quiet <bool>``), puts required
arguments in braces (``{model}``) and cuts long words with an ellipsis. Flags take no
value, so their type is noise; click's ``MODEL`` is the convention users know; and a
cut example (``"data_set=cat.npz,nu…``) cannot be copied. Each tweak is applied only
when the typer version has the hook, so a newer typer degrades to its own style.
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply"]


def _flag_without_type(original: Any) -> Any:
    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        result: str | None = original(self, ctx)
        return result

    return display_type_rich


def _usage_name(self: Any) -> str:
    name = str(self.display_name_raw).upper()
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


def _folding_help(original: Any) -> Any:
    def get_help(*args: Any, **kwargs: Any) -> Any:
        columns = original(*args, **kwargs)
        for item in getattr(columns, "renderables", []):
            if hasattr(item, "overflow"):
                item.overflow = "fold"  # wrap a long word instead of cutting it
        return columns

    return get_help


def apply() -> None:
    """Install the tweaks (idempotent)."""
    from typer import core, rich_utils

    if getattr(core, "_sketchart_help_style", False):
        return
    option, argument = getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)
    if option is not None and hasattr(option, "display_type_rich"):
        option.display_type_rich = _flag_without_type(option.display_type_rich)
    if argument is not None and hasattr(argument, "_usage_display_name"):
        argument._usage_display_name = _usage_name
    if hasattr(rich_utils, "_get_parameter_help"):
        rich_utils._get_parameter_help = _folding_help(rich_utils._get_parameter_help)
    core._sketchart_help_style = True  # type: ignore[attr-defined]
