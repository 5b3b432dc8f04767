"""The gradio components of the img2img "Depth mask inpaint" script (gradio 3.41).

Built in the order of :data:`lib_depth3d.mask.inpaint.SCRIPT_ARGS`, so their values reach
``Script.run`` in that order. Kept apart from ``lib_depth3d/ui.py`` (the Depth 3D tab).
"""

from __future__ import annotations

from lib_depth3d.mask.inpaint import BAND_MODES, INPAINTING_FILL_CHOICES, SCRIPT_ARGS


def mask_inpaint_components(elem_prefix: str = "depth3d_mask") -> list:
    """Create the script's components inside the current gradio block; returns them in order."""
    import gradio as gr

    from lib_depth3d.depth.registry import DEFAULT_MODEL
    from lib_depth3d.depth.sources import USER_DEPTH_IMAGE, available_sources

    with gr.Row():
        depth_source = gr.Dropdown(available_sources(), value=DEFAULT_MODEL, label="Depth from",
                                   elem_id=f"{elem_prefix}_source")
        net_size = gr.Number(value=0, precision=0, label="Network size (0 = the model's own)",
                             elem_id=f"{elem_prefix}_net_size")
    depth_image = gr.Image(type="pil", label=f"Depth image, near = bright (for '{USER_DEPTH_IMAGE}')",
                           elem_id=f"{elem_prefix}_depth_image")
    with gr.Row():
        band_mode = gr.Radio(list(BAND_MODES), value=BAND_MODES[0], label="Band given as",
                             elem_id=f"{elem_prefix}_band_mode")
        band_low = gr.Slider(0, 100, value=50, step=1, label="Band from (% nearness: 0 = farthest)",
                             elem_id=f"{elem_prefix}_band_low")
        band_high = gr.Slider(0, 100, value=100, step=1, label="Band to (% nearness: 100 = nearest)",
                              elem_id=f"{elem_prefix}_band_high")
    with gr.Row():
        invert = gr.Checkbox(False, label="Repaint the band (instead of keeping it)", elem_id=f"{elem_prefix}_invert")
        hard = gr.Checkbox(False, label="Hard edges", elem_id=f"{elem_prefix}_hard")
        feather_px = gr.Slider(0, 64, value=0, step=0.5, label="Feather (px)", elem_id=f"{elem_prefix}_feather")
        grow_px = gr.Slider(-64, 64, value=0, step=1, label="Grow / shrink (px)", elem_id=f"{elem_prefix}_grow")
    with gr.Row():
        override_mask_blur = gr.Checkbox(True, label="Override mask blur", elem_id=f"{elem_prefix}_override_blur")
        mask_blur = gr.Slider(0, 64, value=0, step=1, label="Mask blur (px)", elem_id=f"{elem_prefix}_mask_blur")
        inpainting_fill = gr.Dropdown(list(INPAINTING_FILL_CHOICES), value="original", label="Masked content",
                                      elem_id=f"{elem_prefix}_fill")
    with gr.Row():
        gallery_depth = gr.Checkbox(False, label="Show the depth", elem_id=f"{elem_prefix}_gallery_depth")
        gallery_cutout = gr.Checkbox(False, label="Show the kept part (RGBA)", elem_id=f"{elem_prefix}_gallery_cutout")
        save_images = gr.Checkbox(False, label="Save mask and extras", elem_id=f"{elem_prefix}_save")
    components = {
        "depth_source": depth_source, "depth_image": depth_image, "band_mode": band_mode, "band_low": band_low,
        "band_high": band_high, "invert": invert, "hard": hard, "feather_px": feather_px, "grow_px": grow_px,
        "net_size": net_size, "override_mask_blur": override_mask_blur, "mask_blur": mask_blur,
        "inpainting_fill": inpainting_fill, "gallery_depth": gallery_depth, "gallery_cutout": gallery_cutout,
        "save_images": save_images,
    }
    return [components[name] for name in SCRIPT_ARGS]
