"""Find gradio components and the Python functions their events call, in a built ``gr.Blocks``
(gradio 3.41's ``dependencies``/``fns``), to test a UI's wiring without a browser."""

from __future__ import annotations


def component(blocks, elem_id: str):
    """The component of ``blocks`` with ``elem_id``; AssertionError naming it when there is none."""
    found = [block for block in blocks.blocks.values() if getattr(block, "elem_id", None) == elem_id]
    assert len(found) == 1, f"{len(found)} components with elem_id {elem_id!r}"
    return found[0]


def handler(blocks, source, trigger: str, target):
    """The function ``blocks`` calls when ``trigger`` (e.g. "change") happens on ``source`` and
    whose outputs include ``target``; AssertionError when no event connects them."""
    for dependency, function in zip(blocks.dependencies, blocks.fns):
        if (source._id in dependency["targets"] and dependency["trigger"] == trigger
                and target._id in dependency["outputs"]):
            return function.fn
    raise AssertionError(f"no {trigger} event of {source.elem_id!r} updates {target.elem_id!r}")
