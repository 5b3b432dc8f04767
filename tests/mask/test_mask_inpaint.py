"""The img2img script's settings and per-picture work, without the WebUI."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.errors import InputError
from lib_depth3d.mask.inpaint import SCRIPT_ARGS, InpaintMaskSettings, picture_mask
from tests.support.controlnet import fake_controlnet  # noqa: F401 (fixture)
from tests.support.depth_weights import write_random_checkpoint

DEFAULTS = {
    "depth_source": "depth-image", "depth_image": None, "band_mode": "nearness", "band_low": 50,
    "band_high": 100, "invert": False, "hard": True, "feather_px": 0, "grow_px": 0, "net_size": 0,
    "override_mask_blur": True, "mask_blur": 0, "inpainting_fill": "original", "gallery_depth": True,
    "gallery_cutout": False, "save_images": False,
}


def script_args(**changes) -> list:
    values = {**DEFAULTS, **changes}
    assert set(values) == set(SCRIPT_ARGS)
    return [values[name] for name in SCRIPT_ARGS]


def left_right_depth(width: int = 40, height: int = 20, mode: str = "L") -> Image.Image:
    """Far (dark) left half, near (bright) right half."""
    values = np.zeros((height, width), dtype=np.uint16 if mode == "I;16" else np.uint8)
    values[:, width // 2:] = 65535 if mode == "I;16" else 255
    return Image.fromarray(values, mode)


def test_script_args_become_checked_settings():
    settings = InpaintMaskSettings.from_script_args(
        script_args(band_low=20, band_high=60, invert=True, feather_px=2.5, grow_px=-3, net_size=392,
                    override_mask_blur=False, mask_blur=7, inpainting_fill="latent noise")
    )
    assert (settings.mask.near_min, settings.mask.near_max) == (0.2, 0.6)
    assert settings.mask.invert and settings.mask.hard
    assert (settings.mask.feather_px, settings.mask.grow_px) == (2.5, -3)
    assert settings.net_size == 392 and settings.mask_blur is None and settings.inpainting_fill == 2
    assert settings.describe() == "depth-image nearness 0.20-0.60 repainted hard feather 2.5 grow -3"
    default_fill = InpaintMaskSettings.from_script_args(script_args(inpainting_fill="img2img setting", mask_blur=4))
    assert default_fill.inpainting_fill is None and default_fill.mask_blur == 4 and default_fill.net_size is None
    no_blur = InpaintMaskSettings.from_script_args(script_args(override_mask_blur=False, mask_blur=None))
    assert no_blur.mask_blur is None
    percentiles = InpaintMaskSettings.from_script_args(script_args(band_mode="percentiles", band_low=70))
    assert percentiles.mask.percentiles == (70.0, 100.0)


def test_api_callers_may_send_the_depth_image_as_base64():
    buffer = io.BytesIO()
    left_right_depth().save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    for value in (encoded, "data:image/png;base64," + encoded):
        settings = InpaintMaskSettings.from_script_args(script_args(depth_image=value))
        assert settings.depth.depth.size == (40, 20)
    with pytest.raises(InputError, match="base64"):
        InpaintMaskSettings.from_script_args(script_args(depth_image="not base64!"))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"band_mode": "metres"}, "band_mode"),
        ({"band_low": 150}, "percent"),
        ({"inpainting_fill": "paint"}, "inpainting_fill"),
        ({"mask_blur": -1}, "mask blur"),
        ({"grow_px": 1000}, "Grow/shrink"),
        ({"grow_px": 1.5}, "grow_px must be a whole number"),
        ({"feather_px": "soft"}, "feather_px must be a number"),
        ({"net_size": None, "band_high": None}, "band_high must be a number"),
    ],
)
def test_bad_script_args_are_refused_by_name(changes, words):
    with pytest.raises(InputError, match=words):
        InpaintMaskSettings.from_script_args(script_args(**changes))


def test_a_wrong_number_of_script_args_names_them_all():
    with pytest.raises(InputError, match="takes 16 arguments.*depth_source.*got 3"):
        InpaintMaskSettings.from_script_args([1, 2, 3])


@pytest.mark.parametrize("mode", ["L", "I;16"])
@pytest.mark.parametrize("picture_mode", ["RGB", "RGBA", "L", "I;16"])
def test_uploaded_depth_gives_the_mask_at_the_picture_size(mode, picture_mode):
    picture = Image.new(picture_mode, (80, 40))
    settings = InpaintMaskSettings.from_script_args(
        script_args(depth_image=left_right_depth(mode=mode), gallery_cutout=True)
    )
    result = picture_mask(picture, settings)
    mask = np.asarray(result.mask)
    assert result.mask.size == result.depth.size == result.cutout.size == (80, 40)
    assert (mask[:, :38] == 255).all() and (mask[:, 42:] == 0).all()
    assert result.cutout.mode == "RGBA" and (np.asarray(result.cutout)[:, :38, 3] == 0).all()
    assert result.warnings == []


def test_an_uploaded_depth_of_another_shape_is_stretched_with_a_warning():
    settings = InpaintMaskSettings.from_script_args(script_args(depth_image=left_right_depth(40, 40)))
    result = picture_mask(Image.new("RGB", (60, 20)), settings)
    assert result.mask.size == (60, 20)
    assert "stretched" in result.warnings[0]


def test_the_depth_image_source_needs_an_upload():
    with pytest.raises(InputError, match="needs a depth image"):
        picture_mask(Image.new("RGB", (8, 8)), InpaintMaskSettings.from_script_args(script_args()))


def test_a_real_network_gives_each_picture_its_own_mask(tmp_path):
    """Depth Anything V2 Small with random weights: real depth of each picture, no downloads."""
    from lib_depth3d.depth.estimate import estimate_depth

    weights = write_random_checkpoint(tmp_path / "small.pth", "depth-anything-v2-small", seed=31)
    settings = InpaintMaskSettings.from_script_args(
        script_args(depth_source="depth-anything-v2-small", band_low=1, net_size=70), weights_path=weights
    )
    rng = np.random.default_rng(3)
    pictures = [Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for _ in range(2)]
    masks = []
    for picture in pictures:
        mask = np.asarray(picture_mask(picture, settings).mask)
        nearness = estimate_depth(picture, "depth-anything-v2-small", weights_path=weights, input_size=70).nearness()
        expected = np.where(nearness >= 0.01, 0, 255)
        np.testing.assert_array_equal(mask, expected)
        assert 0 < (mask == 0).sum() < mask.size
        masks.append(mask)
    assert (masks[0] != masks[1]).any()


def test_a_controlnet_source_gets_the_scripts_progress_and_net_size(fake_controlnet):
    settings = InpaintMaskSettings.from_script_args(
        script_args(depth_source="controlnet:depth_midas", band_low=50, net_size=256)
    )
    heard = []
    result = picture_mask(Image.new("RGB", (64, 48)), settings, progress=lambda message, fraction: heard.append(message))
    assert result.mask.size == (64, 48)
    assert heard == ["Estimating depth with ControlNet's depth_midas"]
    assert fake_controlnet.calls[-1][2] == 256
    # The fake's nearness rises from top to bottom: the top half (nearness < 0.5) is repainted.
    mask = np.asarray(result.mask)
    assert mask[0].min() == 255 and mask[-1].max() == 0
