"""The licence of a depth source in words, for the places where a model is chosen.

Some Depth Anything V2 weights (Base, Large) are CC BY-NC 4.0: whoever picks a model should see
that before using its depth commercially, not only in the ``models`` command. ControlNet's
preprocessors bring their own weights under their own licences; a user's depth image has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib_depth3d.depth.registry import MODELS
from lib_depth3d.depth.sources import CONTROLNET_PREFIX

CONTROLNET_NOTE = "Licence: that of ControlNet's own preprocessor weights (see sd-webui-controlnet)."
NON_COMMERCIAL = "non-commercial use only"


@dataclass(frozen=True)
class Licence:
    """A weights licence: its name, where to read it, and whether it forbids commercial use."""

    name: str
    url: str
    non_commercial: bool

    def markdown(self) -> str:
        """``Licence: [name](url)``, saying "non-commercial use only" when the name does not."""
        text = f"Licence: [{self.name}]({self.url})"
        if self.non_commercial and NON_COMMERCIAL not in self.name.lower():
            text += f" — {NON_COMMERCIAL}"
        return text


def licence_of(source: str) -> Licence | None:
    """The licence of the registry model ``source``; None for any other source."""
    spec = MODELS.get(source)
    return None if spec is None else Licence(spec.licence, spec.licence_url, spec.non_commercial)


def licence_note(source: str) -> str:
    """One Markdown line to show under a depth-source dropdown for ``source``: the model's
    licence with its link, ControlNet's own for ``controlnet:…``, nothing for a depth image."""
    licence = licence_of(source)
    if licence is not None:
        return licence.markdown()
    return CONTROLNET_NOTE if source.startswith(CONTROLNET_PREFIX) else ""


def models_by_licence() -> dict[Licence, list[str]]:
    """Every registry model grouped under its licence, non-commercial licences first."""
    groups: dict[Licence, list[str]] = {}
    for name in MODELS:
        groups.setdefault(licence_of(name), []).append(name)
    return dict(sorted(groups.items(), key=lambda item: not item[0].non_commercial))
