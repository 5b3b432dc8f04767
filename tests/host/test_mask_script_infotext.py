"""The "Depth mask inpaint" script's settings go into the infotext and paste back into its controls.

Pasting follows A1111's ``connect_paste`` as the double's ``paste_values`` does: each control of
``Script.infotext_fields`` gets its reader's value converted to the type of its current value.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lib_depth3d.depth.registry import MODELS
from lib_depth3d.mask.infotext import READERS, infotext_params, paste_fields
from lib_depth3d.mask.inpaint import INPAINTING_FILL_CHOICES, SCRIPT_ARGS, InpaintMaskSettings
from tests.support.a1111.fixture import a1111, paste_values  # noqa: F401

SCRIPT = "scripts/depth3d_mask_inpaint.py"
PASTED = list(READERS)
"""The controls pasting sets, in ``infotext_fields`` order: all but the uploaded depth image."""


def controls(runner, script) -> dict:
    return dict(zip(SCRIPT_ARGS, runner.ui_components[script]))


def left_right_depth(width=64, height=32) -> Image.Image:
    values = np.zeros((height, width), np.uint8)
    values[:, width // 2:] = 255
    return Image.fromarray(values, "L")


def run(host, runner, script, **changes):
    """Run the script on a 64×32 picture with the uploaded depth; the UI values and the result."""
    by_name = {**{name: control.value for name, control in controls(runner, script).items()},
               "depth_source": "depth-image", "depth_image": left_right_depth(), **changes}
    values = [by_name[name] for name in SCRIPT_ARGS]
    p, processed = host.img2img(runner, runner.script_args_for(script, {script: values}),
                                init_images=[Image.new("RGB", (64, 32), "white")], width=64, height=32, seed=5)
    return by_name, processed


def show(runner, script, values: dict) -> None:
    """Set the controls as a user would before pasting."""
    for name, control in controls(runner, script).items():
        control.value = values[name]


SETTINGS_A = dict(band_mode="percentiles", band_low=20, band_high=85, invert=True, hard=False, feather_px=2.5,
                  grow_px=-3, net_size=70, override_mask_blur=True, mask_blur=5, inpainting_fill="latent nothing",
                  gallery_depth=True, gallery_cutout=True, save_images=True)
SETTINGS_B = dict(band_mode="nearness", band_low=35, band_high=90, invert=False, hard=True, feather_px=0.0,
                  grow_px=4, net_size=0, override_mask_blur=False, inpainting_fill="img2img setting",
                  gallery_depth=False, gallery_cutout=False, save_images=False)


def test_infotext_pastes_back_every_control_and_selects_the_script(a1111):
    runner, script = a1111.img2img_script(SCRIPT)
    values_a, processed_a = run(a1111, runner, script, **SETTINGS_A)
    values_b, processed_b = run(a1111, runner, script, **SETTINGS_B)
    infotext_a, infotext_b = processed_a.infotexts[0], processed_b.infotexts[0]
    assert infotext_a.endswith(
        "Script: Depth mask inpaint, Depth3D mask: depth-image percentiles 20-85 repainted ramp 0.05 feather 2.5 "
        "grow -3, Depth3D mask net size: 70, Depth3D mask blur: 5, Depth3D mask masked content: latent nothing, "
        "Depth3D mask gallery: depth+cutout, Depth3D mask save: True")
    saved = sorted((a1111.root / "outputs" / "img2img-images").glob("*-5.png"))[0]
    with Image.open(saved) as picture:
        assert picture.info["parameters"] == infotext_a
    parse = a1111.generation_parameters_copypaste.parse_generation_parameters
    assert parse(infotext_a)["Script"] == parse(infotext_b)["Script"] == script.title()

    # Each infotext is pasted over the other run's settings: every control takes its own run's
    # value, also those B leaves out of its infotext (no net size, img2img's mask blur and fill,
    # no extras), except B's mask blur slider, which was not used and stays as it is.
    show(runner, script, values_b)
    assert paste_values(infotext_a, script.infotext_fields) == [values_a[name] for name in PASTED]
    show(runner, script, values_a)
    expected_b = {**values_b, "mask_blur": values_a["mask_blur"]}
    assert paste_values(infotext_b, script.infotext_fields) == [expected_b[name] for name in PASTED]


@pytest.mark.parametrize("infotext", [
    "a room\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x32",
    "a room\nSteps: 20, Sampler: Euler a, Seed: 1, Depth3D mask: written by a later version, Depth3D mask blur: 9",
])
def test_other_infotexts_leave_the_controls_as_they_are(a1111, infotext):
    runner, script = a1111.img2img_script(SCRIPT)
    show(runner, script, {**{name: c.value for name, c in controls(runner, script).items()}, **SETTINGS_A})
    current = [controls(runner, script)[name].value for name in PASTED]
    assert paste_values(infotext, script.infotext_fields) == current


percent = st.integers(0, 100)
ui_values = st.fixed_dictionaries({
    "depth_source": st.sampled_from([*MODELS, "controlnet:depth_leres++", "controlnet:depth_midas", "depth-image"]),
    "band_mode": st.sampled_from(["nearness", "percentiles"]),
    "band": st.tuples(percent, percent).map(sorted),
    "invert": st.booleans(),
    "hard": st.booleans(),
    "feather_px": st.integers(0, 128).map(lambda halves: halves / 2),
    "grow_px": st.integers(-64, 64),
    "net_size": st.sampled_from([0, 14, 70, 518, 1022]),
    "override_mask_blur": st.booleans(),
    "mask_blur": st.integers(0, 64),
    "inpainting_fill": st.sampled_from(INPAINTING_FILL_CHOICES),
    "gallery_depth": st.booleans(),
    "gallery_cutout": st.booleans(),
    "save_images": st.booleans(),
})


@pytest.fixture(scope="module")
def control_types() -> dict:
    """The type of each real control's value: A1111 converts a pasted value to it."""
    import gradio as gr

    from lib_depth3d.ui import build_mask_script_controls

    with gr.Blocks():
        built = build_mask_script_controls()
    return {name: type(control.value) for name, control in zip(SCRIPT_ARGS, built)}


class Control:
    def __init__(self, value):
        self.value = value


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=ui_values)
def test_any_settings_the_controls_can_hold_survive_the_infotext(a1111, control_types, drawn):
    """The script's infotext, as A1111 writes it, pasted over controls that show other values
    gives every setting back; a mask blur that was not used leaves its slider alone."""
    low, high = drawn.pop("band")
    values = {**drawn, "band_low": low, "band_high": high, "depth_image": None}
    p = a1111.processing.StableDiffusionProcessingImg2Img(prompt="a room", width=64, height=32)
    p.setup_prompts()
    p.extra_generation_params.update(
        infotext_params(InpaintMaskSettings.from_script_args([values[name] for name in SCRIPT_ARGS])))
    infotext = a1111.processing.create_infotext(p, p.all_prompts, p.all_seeds)

    def other_than(name):
        kind = control_types[name]
        return not values[name] if kind is bool else kind("") if kind is str else kind(-999)

    shown = {name: other_than(name) for name in PASTED}
    fields = paste_fields([Control(shown.get(name)) for name in SCRIPT_ARGS])
    expected = {**values, "mask_blur": values["mask_blur"] if values["override_mask_blur"] else shown["mask_blur"]}
    assert paste_values(infotext, fields) == [expected[name] for name in PASTED]
