"""Key renaming from the Hugging Face transformers layouts to the original checkpoint layouts.

Our networks use the names of the authors' releases (``pretrained.…``, ``depth_head.…`` /
``scratch.…``). A ``-hf`` checkpoint is renamed with the rules below (the inverse of the
conversion scripts that produced it) and its separate query/key/value projections are stacked
back into the fused ``qkv`` of the original ViTs. Every rule is anchored on a transformers prefix
(``backbone.``, ``dpt.``, ``neck.``, ``head.``), so an original checkpoint passes through
unchanged. Keys no rule matches are kept as they are, so that a strict load reports them.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

Rule = tuple[re.Pattern, "str | Callable[[re.Match], str]"]


def _rule(pattern: str, replacement: "str | Callable[[re.Match], str]") -> Rule:
    return re.compile(pattern), replacement


def _refinenet(prefix: str) -> Callable[[re.Match], str]:
    # transformers orders the fusion stage from the coarsest level: its layer j is refinenet 4 - j.
    def rename(match: re.Match) -> str:
        unit = match.group(2)
        unit = re.sub(r"residual_layer(\d)\.convolution(\d)", r"resConfUnit\1.conv\2", unit)
        unit = unit.replace("projection", "out_conv")
        return f"{prefix}refinenet{4 - int(match.group(1))}.{unit}"

    return rename


DEPTH_ANYTHING_RULES: tuple[Rule, ...] = (
    _rule(r"^backbone\.embeddings\.cls_token$", "pretrained.cls_token"),
    _rule(r"^backbone\.embeddings\.mask_token$", "pretrained.mask_token"),
    _rule(r"^backbone\.embeddings\.position_embeddings$", "pretrained.pos_embed"),
    _rule(r"^backbone\.embeddings\.patch_embeddings\.projection\.", "pretrained.patch_embed.proj."),
    _rule(r"^backbone\.encoder\.layer\.(\d+)\.layer_scale(\d)\.lambda1$", r"pretrained.blocks.\1.ls\2.gamma"),
    _rule(r"^backbone\.encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"pretrained.blocks.\1.attn.proj."),
    _rule(r"^backbone\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.", r"pretrained.blocks.\1.attn.\2."),
    _rule(r"^backbone\.encoder\.layer\.(\d+)\.(norm1|norm2|mlp\.fc1|mlp\.fc2)\.", r"pretrained.blocks.\1.\2."),
    _rule(r"^backbone\.layernorm\.", "pretrained.norm."),
    _rule(r"^neck\.reassemble_stage\.layers\.(\d)\.projection\.", r"depth_head.projects.\1."),
    _rule(r"^neck\.reassemble_stage\.layers\.(\d)\.resize\.", r"depth_head.resize_layers.\1."),
    _rule(r"^neck\.convs\.(\d)\.", lambda m: f"depth_head.scratch.layer{int(m.group(1)) + 1}_rn."),
    _rule(r"^neck\.fusion_stage\.layers\.(\d)\.(.*)$", _refinenet("depth_head.scratch.")),
    _rule(r"^head\.conv1\.", "depth_head.scratch.output_conv1."),
    _rule(r"^head\.conv2\.", "depth_head.scratch.output_conv2.0."),
    _rule(r"^head\.conv3\.", "depth_head.scratch.output_conv2.2."),
)

DPT_RULES: tuple[Rule, ...] = (
    _rule(r"^dpt\.embeddings\.cls_token$", "pretrained.model.cls_token"),
    _rule(r"^dpt\.embeddings\.position_embeddings$", "pretrained.model.pos_embed"),
    _rule(r"^dpt\.embeddings\.patch_embeddings\.projection\.", "pretrained.model.patch_embed.proj."),
    _rule(r"^dpt\.embeddings\.projection\.", "pretrained.model.patch_embed.proj."),
    _rule(r"^dpt\.embeddings\.backbone\.bit\.embedder\.convolution\.", "pretrained.model.patch_embed.backbone.stem.conv."),
    _rule(r"^dpt\.embeddings\.backbone\.bit\.embedder\.norm\.", "pretrained.model.patch_embed.backbone.stem.norm."),
    _rule(r"^dpt\.embeddings\.backbone\.bit\.encoder\.stages\.(\d+)\.layers\.(\d+)\.",
          r"pretrained.model.patch_embed.backbone.stages.\1.blocks.\2."),
    _rule(r"^dpt\.encoder\.layer\.(\d+)\.layernorm_before\.", r"pretrained.model.blocks.\1.norm1."),
    _rule(r"^dpt\.encoder\.layer\.(\d+)\.layernorm_after\.", r"pretrained.model.blocks.\1.norm2."),
    _rule(r"^dpt\.encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"pretrained.model.blocks.\1.attn.proj."),
    _rule(r"^dpt\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.", r"pretrained.model.blocks.\1.attn.\2."),
    _rule(r"^dpt\.encoder\.layer\.(\d+)\.intermediate\.dense\.", r"pretrained.model.blocks.\1.mlp.fc1."),
    _rule(r"^dpt\.encoder\.layer\.(\d+)\.output\.dense\.", r"pretrained.model.blocks.\1.mlp.fc2."),
    _rule(r"^dpt\.layernorm\.", "pretrained.model.norm."),
    _rule(r"^neck\.reassemble_stage\.readout_projects\.(\d)\.0\.",
          lambda m: f"pretrained.act_postprocess{int(m.group(1)) + 1}.0.project.0."),
    _rule(r"^neck\.reassemble_stage\.layers\.(\d)\.projection\.",
          lambda m: f"pretrained.act_postprocess{int(m.group(1)) + 1}.3."),
    _rule(r"^neck\.reassemble_stage\.layers\.(\d)\.resize\.",
          lambda m: f"pretrained.act_postprocess{int(m.group(1)) + 1}.4."),
    _rule(r"^neck\.convs\.(\d)\.", lambda m: f"scratch.layer{int(m.group(1)) + 1}_rn."),
    _rule(r"^neck\.fusion_stage\.layers\.(\d)\.(.*)$", _refinenet("scratch.")),
    _rule(r"^head\.head\.(\d)\.", r"scratch.output_conv.\1."),
)


def rename(state: Mapping[str, object], rules: tuple[Rule, ...]) -> dict[str, object]:
    """Apply the first matching rule to each key; then fuse ``attn.query/key/value`` into ``attn.qkv``."""
    import torch

    renamed: dict[str, object] = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            if pattern.search(key):
                key = pattern.sub(replacement, key)
                break
        renamed[key] = value
    for key in [k for k in renamed if ".attn.query." in k]:
        prefix, suffix = key.split(".attn.query.")
        parts = [f"{prefix}.attn.{name}.{suffix}" for name in ("query", "key", "value")]
        if all(part in renamed for part in parts):
            renamed[f"{prefix}.attn.qkv.{suffix}"] = torch.cat([renamed.pop(part) for part in parts], dim=0)
    return renamed


def original_layout(
    state: Mapping[str, object], rules: tuple[Rule, ...], unused_prefixes: tuple[str, ...] = ()
) -> dict[str, object]:
    """``state`` (original or transformers layout) under the original names, without the keys
    under ``unused_prefixes`` (checkpoint parts the depth network never runs)."""
    return {key: value for key, value in rename(state, rules).items() if not key.startswith(unused_prefixes)}
