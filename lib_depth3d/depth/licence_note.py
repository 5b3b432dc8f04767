"""The licence of a depth source in words, for the places where a model is chosen.

Some Depth Anything V2 weights (Base, Large) are CC BY-NC 4.0: whoever picks a model should see
that before using its depth commercially, not only in the ``models`` command. ControlNet's
preprocessors bring their own weights under their own licences; a user's depth image has none.
"""

from __future__ import annotations

from lib_depth3d.depth.registry import MODELS
from lib_depth3d.depth.sources import Licence, model_licence, parse_depth_source
from lib_depth3d.errors import InputError


def licence_note(source: str) -> str:
    """One Markdown line to show under a depth-source dropdown for the source named ``source``:
    the model's licence with its link, ControlNet's own for ``controlnet:…``, nothing for a
    depth image or a name that is no source."""
    try:
        return parse_depth_source(source).licence_markdown()
    except InputError:
        return ""


def models_by_licence() -> dict[Licence, list[str]]:
    """Every registry model grouped under its licence, non-commercial licences first."""
    groups: dict[Licence, list[str]] = {}
    for name, spec in MODELS.items():
        groups.setdefault(model_licence(spec), []).append(name)
    return dict(sorted(groups.items(), key=lambda item: not item[0].non_commercial))
