"""The img2img script "Depth mask inpaint" on the A1111 host double (tests/support/a1111)."""

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.errors import InputError
from lib_depth3d.mask import MaskOptions, depth_mask
from lib_depth3d.mask.inpaint import SCRIPT_ARGS
from tests.support.a1111.fixture import a1111  # noqa: F401
from tests.support.depth_weights import accept_random_weights, write_random_checkpoint

SCRIPT = "scripts/depth3d_mask_inpaint.py"
# A random-weight checkpoint of the real architecture placed in the models folder, accepted
# without the published size and hash (no download, no fake).
RANDOM_MODEL, RANDOM_FILE = "depth-anything-v2-metric-indoor-small", "depth_anything_v2_metric_hypersim_vits.pth"


def ui_values(script, runner, **changes) -> list:
    defaults = dict(zip(SCRIPT_ARGS, (component.value for component in runner.ui_components[script])))
    values = {**defaults, "depth_source": "depth-image", "hard": True, **changes}
    return runner.script_args_for(script, {script: [values[name] for name in SCRIPT_ARGS]})


def left_right_depth(width=64, height=32) -> Image.Image:
    values = np.zeros((height, width), np.uint8)
    values[:, width // 2:] = 255
    return Image.fromarray(values, "L")


def test_listed_in_img2img_only_with_its_components_in_argument_order(a1111):
    runner, script = a1111.img2img_script(SCRIPT)
    assert script.title() == "Depth mask inpaint"
    assert a1111.runner(a1111.load_script(SCRIPT), is_img2img=False).scripts == []
    components = runner.ui_components[script]
    assert len(components) == len(SCRIPT_ARGS)
    defaults = dict(zip(SCRIPT_ARGS, (component.value for component in components)))
    assert defaults["depth_source"] == "depth-anything-v2-small" and defaults["band_mode"] == "nearness"
    assert (defaults["band_low"], defaults["band_high"], defaults["inpainting_fill"]) == (50, 100, "original")


def test_run_sets_the_mask_and_overrides_then_extends_the_gallery_in_step(a1111):
    runner, script = a1111.img2img_script(SCRIPT)
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 64, 3), dtype=np.uint8))
    arguments = ui_values(script, runner, depth_image=left_right_depth(), mask_blur=3, inpainting_fill="latent noise",
                          gallery_depth=True, gallery_cutout=True, save_images=True)
    p, processed = a1111.img2img(runner, arguments, init_images=[picture], width=64, height=32, batch_size=2,
                                 seed=7, mask_blur=4, inpainting_fill=1)

    mask = np.asarray(p.image_mask)
    assert p.image_mask.mode == "L" and p.image_mask.size == (64, 32)
    assert (mask[:, :32] == 255).all() and (mask[:, 32:] == 0).all()  # far half repainted
    assert (p.mask_blur, p.inpainting_fill) == (3, 2)
    assert len(p.mask_used_for) == 2 and all((np.asarray(used) == mask).all() for used in p.mask_used_for)

    assert len(processed.images) == len(processed.infotexts) == 1 + 2 + 3  # grid, 2 results, mask, depth, cut-out
    extra_mask, extra_depth, extra_cutout = processed.images[-3:]
    assert (np.asarray(extra_mask) == mask).all()
    assert extra_depth.mode == "L" and np.asarray(extra_depth)[0, 63] == 255
    assert extra_cutout.mode == "RGBA" and (np.asarray(extra_cutout)[:, :32, 3] == 0).all()
    result = np.asarray(processed.images[1])
    np.testing.assert_array_equal(result[:, 32:], np.asarray(picture)[:, 32:])  # the kept half is untouched
    assert (result[:, :32] != np.asarray(picture)[:, :32]).any()
    expected_info = "Depth3D mask: depth-image nearness 0.50-1.00 kept hard feather 0 grow 0"
    assert all(expected_info in text for text in processed.infotexts)
    assert processed.infotexts[-1] == processed.infotexts[1]

    saved = sorted(path.name for path in (a1111.root / "outputs" / "img2img-images").iterdir())
    extras = [name for name in saved if "-depth3d-" in name]
    assert [name.rsplit("-", 1)[-1] for name in extras] == ["mask.png", "depth.png", "cutout.png"]
    assert all(name.split("-")[1] == "7" for name in extras)  # A1111's NNNNN-seed-… naming
    assert len(saved) == 2 + 3
    with Image.open(a1111.root / "outputs" / "img2img-images" / extras[2]) as cutout:
        assert cutout.mode == "RGBA" and expected_info in cutout.info["parameters"]


def test_without_overrides_img2img_settings_stay_and_nothing_extra_is_saved(a1111):
    runner, script = a1111.img2img_script(SCRIPT)
    arguments = ui_values(script, runner, depth_image=left_right_depth(), override_mask_blur=False,
                          inpainting_fill="img2img setting", invert=True)
    p, processed = a1111.img2img(runner, arguments, init_images=[Image.new("RGB", (64, 32), "white")],
                                 width=64, height=32, mask_blur=4, inpainting_fill=1)
    assert (p.mask_blur, p.inpainting_fill) == (4, 1)
    assert (np.asarray(p.image_mask)[:, 32:] == 255).all()  # invert: the near half is repainted
    assert len(processed.images) == len(processed.infotexts) == 2
    saved = [path.name for path in (a1111.root / "outputs" / "img2img-images").iterdir()]
    assert len(saved) == 1 and "-depth3d-" not in saved[0]


@pytest.mark.parametrize("mode", ["RGBA", "L", "I;16"])
def test_init_pictures_of_any_mode_get_a_mask_of_their_size(a1111, mode):
    runner, script = a1111.img2img_script(SCRIPT)
    picture = Image.new(mode, (96, 48))
    arguments = ui_values(script, runner, depth_image=left_right_depth(), gallery_cutout=True)
    p, processed = a1111.img2img(runner, arguments, init_images=[picture], width=64, height=32)
    assert p.image_mask.size == (96, 48)
    assert processed.images[-1].mode == "RGBA" and processed.images[-1].size == (96, 48)


def test_constant_depth_is_reported_below_the_gallery(a1111):
    runner, script = a1111.img2img_script(SCRIPT)
    arguments = ui_values(script, runner, depth_image=Image.new("L", (64, 32), 30))
    p, _ = a1111.img2img(runner, arguments, init_images=[Image.new("RGB", (64, 32))], width=64, height=32)
    assert (np.asarray(p.image_mask) == 255).all()
    (comment,) = p.comments
    assert comment.startswith("Depth3D mask: The depth map is constant")


def test_missing_upload_stops_with_a_message(a1111):
    runner, script = a1111.img2img_script(SCRIPT)
    arguments = ui_values(script, runner, depth_image=None)
    with pytest.raises(InputError, match="needs a depth image"):
        a1111.img2img(runner, arguments, init_images=[Image.new("RGB", (64, 32))], width=64, height=32)


def test_batch_of_three_pictures_gets_three_masks_from_their_own_depth(a1111, tmp_path, monkeypatch):
    """As the img2img Batch tab does: one run per picture with the same script object."""
    models = tmp_path / "models"
    models.mkdir()
    write_random_checkpoint(models / RANDOM_FILE, RANDOM_MODEL, seed=11)
    a1111.shared.opts.data["depth3d_models_dir"] = str(models)
    accept_random_weights(monkeypatch, RANDOM_MODEL)
    runner, script = a1111.img2img_script(SCRIPT)
    arguments = ui_values(script, runner, depth_source=RANDOM_MODEL, band_mode="percentiles", band_low=60,
                          net_size=70)
    rng = np.random.default_rng(2)
    pictures = [Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)) for _ in range(3)]
    from lib_depth3d.depth.estimate import estimate_depth

    masks = []
    for picture in pictures:
        p, processed = a1111.img2img(runner, arguments, init_images=[picture], width=56, height=40)
        depth = estimate_depth(picture, RANDOM_MODEL, input_size=70, models_folder=models)
        expected = depth_mask(depth, MaskOptions(percentiles=(60, 100), hard=True), picture.size).mask
        np.testing.assert_array_equal(np.asarray(p.image_mask), np.asarray(expected))
        assert (np.asarray(processed.images[-1]) == np.asarray(expected)).all()
        masks.append(np.asarray(p.image_mask))
    assert f"Depth3D: Estimating depth with {RANDOM_MODEL}" in a1111.shared.state.textinfo_history
    assert all(0 < (mask == 255).mean() < 1 for mask in masks)
    assert (masks[0] != masks[1]).any() and (masks[1] != masks[2]).any() and (masks[0] != masks[2]).any()
