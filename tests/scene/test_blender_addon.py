"""The Blender add-on (File > Import > Depth3D scene): the zip the command writes, what it reads
from a scene file, and, in Debian's Blender 3.4 and in Blender 4.x (the ``bpy`` module of the
Python that ``DEPTH3D_BLENDER4_PYTHON`` names), a render from the camera it sets up.

The Blender tests install the zip in a fresh user folder and call ``import_scene.depth3d``;
render size, camera, lens shift, view transform and frames are then the add-on's alone. One
sample per pixel lands on the pixel centre, so a render of the picture's own surface from the
picture's camera reproduces the picture: ≥ 40 dB over every pixel.
"""

import ast
import importlib.util
import io
import json
import math
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from lib_depth3d import cli
from lib_depth3d.blender_addon import ADDON_MODULE, ADDON_SOURCE, addon_zip_bytes
from lib_depth3d.camera import Camera
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.options import SceneOptions
from lib_depth3d.scene import build_scene, write_scene
from lib_depth3d.scene.frames import blender_camera_settings
from tests.support.blender import import_with_addon
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

WIDTH, HEIGHT = 160, 120


def _addon_scene_file_module():
    """The add-on's ``scene_file`` module, loaded from its file (its package imports bpy)."""
    name = f"{ADDON_MODULE}_scene_file"
    spec = importlib.util.spec_from_file_location(name, ADDON_SOURCE / "scene_file.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the classes are made
    spec.loader.exec_module(module)
    return module


scene_file = _addon_scene_file_module()


def _off_centre_camera(width: int, height: int) -> Camera:
    pitch = math.radians(70)
    camera_to_world = np.eye(4)
    camera_to_world[:3, :3] = [[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]]
    camera_to_world[:3, 3] = [0.5, -4.0, 1.5]
    scale = width / WIDTH
    return Camera(width, height, 140.0 * scale, (100.0 * scale, 45.0 * scale), np.linalg.inv(camera_to_world))


def _camera(principal: str, width: int = WIDTH, height: int = HEIGHT) -> Camera:
    return Camera.from_fov(width, height, 60.0) if principal == "centred" else _off_centre_camera(width, height)


def _scene(principal, animation, tmp_path, width=WIDTH, height=HEIGHT, seconds=4.0):
    picture = smooth_picture(width, height)
    options = SceneOptions(animation=animation, animation_seconds=seconds)
    scene = build_scene(picture, DepthMap(wavy_zdepth(width, height, 7), "depth"), _camera(principal, width, height),
                        options)
    return picture, scene, write_scene(scene, tmp_path / "scene.glb").glb


def _zip_source(name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(addon_zip_bytes())) as archive:
        return archive.read(f"{ADDON_MODULE}/{name}").decode("utf-8")


def _module_assignment(source: str, target: str):
    """The literal value assigned to ``target`` at the top of ``source`` (as Blender reads bl_info)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(name, "id", None) == target for name in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{target} is not assigned")


def _operator_classes(source: str) -> dict[str, ast.ClassDef]:
    """bl_idname → class for every class of ``source`` that has one."""
    operators = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, ast.Assign) and getattr(statement.targets[0], "id", None) == "bl_idname":
                    operators[ast.literal_eval(statement.value)] = node
    return operators


def test_the_command_writes_the_addon_zip(tmp_path, capsys):
    output = tmp_path / "depth3d_blender.zip"
    assert cli.main(["blender-addon", "-o", str(output)]) == 0
    assert output.read_bytes() == addon_zip_bytes()
    assert "File > Import > Depth3D scene" in capsys.readouterr().out
    with zipfile.ZipFile(output) as archive:
        names = sorted(archive.namelist())
        assert archive.testzip() is None
    assert names == sorted(f"{ADDON_MODULE}/{path.name}" for path in ADDON_SOURCE.glob("*.py"))
    assert f"{ADDON_MODULE}/__init__.py" in names and f"{ADDON_MODULE}/scene_file.py" in names


def test_the_zip_holds_an_addon_blender_accepts():
    source = _zip_source("__init__.py")
    info = _module_assignment(source, "bl_info")
    assert info["blender"] == (3, 4, 0)
    assert info["category"] == "Import-Export" and "Depth3D" in info["name"]
    operator = _operator_classes(source)["import_scene.depth3d"]
    assert "ImportHelper" in {getattr(base, "id", None) for base in operator.bases}  # gives it `filepath`
    assert "picture_background" in ast.unparse(operator)
    assert {"register", "unregister"} <= {node.name for node in ast.parse(source).body
                                           if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize("output, message", [
    ("addon.txt", "must end in .zip"),
    ("missing/addon.zip", "does not exist"),
])
def test_the_command_refuses_an_output_it_cannot_write(tmp_path, capsys, output, message):
    assert cli.main(["blender-addon", "-o", str(tmp_path / output)]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("principal", ["centred", "off-centre"])
def test_the_addon_reads_the_camera_settings_the_file_holds(tmp_path, principal):
    _, scene, glb = _scene(principal, None, tmp_path, 40, 30)
    read = scene_file.read_scene_file(str(glb))
    expected = blender_camera_settings(_camera(principal, 40, 30))
    camera = read.camera
    assert camera.resolution_px == (40, 30)
    assert camera.sensor_fit == expected["sensor_fit"] and camera.sensor_width_mm == expected["sensor_width"]
    assert camera.lens_mm == pytest.approx(expected["lens"], rel=1e-12)
    assert (camera.shift_x, camera.shift_y) == pytest.approx((expected["shift_x"], expected["shift_y"]), abs=1e-12)
    assert (camera.shift_x, camera.shift_y) != (0.0, 0.0) or principal == "centred"
    assert read.move is None


@settings(max_examples=8, deadline=None)
@given(seconds=st.floats(0.1, 20.0), animation=st.sampled_from(["walk", "dolly", "orbit"]))
def test_the_addon_reads_the_frame_rate_and_range_of_the_move(tmp_path_factory, seconds, animation):
    _, scene, glb = _scene("off-centre", animation, tmp_path_factory.mktemp("move"), 24, 18, seconds)
    move = scene_file.read_scene_file(str(glb)).move
    assert move.name == f"Depth3D {animation}"
    keys = len(scene.animation.times_s)
    assert move.keys_per_second == pytest.approx((keys - 1) / float(scene.animation.times_s[-1]), rel=1e-6)
    assert move.frames_per_second == 30
    assert move.frame_range == (0, keys - 1)


@pytest.mark.parametrize("content, message", [
    (b"not a glb at all", "is not a binary glTF file"),
    (b"glTF\x02\x00\x00\x00\x20\x00\x00\x00\x08\x00\x00\x00BIN\x00", "has no glTF JSON chunk"),
    (b"glTF\x02\x00\x00\x00\x20\x00\x00\x00\x08\x00\x00\x00JSON{broken", "broken glTF JSON"),
])
def test_a_file_that_is_no_glb_is_refused_with_a_sentence(tmp_path, content, message):
    path = tmp_path / "other.glb"
    path.write_bytes(content)
    with pytest.raises(scene_file.SceneFileError, match=message):
        scene_file.read_scene_file(str(path))


def test_a_gltf_without_a_depth3d_camera_is_sent_to_the_gltf_importer():
    document = {"nodes": [{"camera": 0}], "cameras": [{"type": "perspective", "perspective": {"yfov": 1.0}}]}
    with pytest.raises(scene_file.SceneFileError, match=r"no Depth3D camera: import it with File > Import > glTF"):
        scene_file.scene_file(document, "plain.glb")


def test_a_depth3d_camera_with_broken_settings_is_refused_with_a_sentence(tmp_path):
    _, _, glb = _scene("centred", "walk", tmp_path, 24, 18, 1.0)
    data = glb.read_bytes()
    json_length = int.from_bytes(data[12:16], "little")
    document = json.loads(data[20 : 20 + json_length])
    del document["cameras"][0]["extras"]["depth3d"]["blender"]["lens"]
    broken = json.dumps(document).encode("utf-8")
    broken += b" " * (-len(broken) % 4)
    path = tmp_path / "broken.glb"
    path.write_bytes(data[:12] + len(broken).to_bytes(4, "little") + b"JSON" + broken + data[20 + json_length :])
    with pytest.raises(scene_file.SceneFileError, match="missing or broken fields: write the scene again"):
        scene_file.read_scene_file(str(path))


def _blender_location(gltf_translation) -> np.ndarray:
    """Where Blender's glTF importer puts a glTF (Y-up) point: (x, −z, y), Z up."""
    x, y, z = np.asarray(gltf_translation, dtype=np.float64)
    return np.array([x, -z, y])


def _psnr(render: np.ndarray, picture: np.ndarray) -> float:
    error = np.mean((render.astype(np.float64) - picture.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / max(error, 1e-12))


@pytest.mark.blender
@pytest.mark.parametrize("principal, animation, picture_background", [
    ("centred", None, False),
    ("off-centre", None, True),
    ("centred", "walk", True),
    ("off-centre", "walk", False),
])
def test_blender_renders_the_picture_from_the_camera_the_addon_sets(
    tmp_path, artifacts_dir, blender, principal, animation, picture_background
):
    picture, scene, glb = _scene(principal, animation, tmp_path)
    addon = tmp_path / "depth3d_blender.zip"
    assert cli.main(["blender-addon", "-o", str(addon)]) == 0
    name = f"addon_{principal}_{animation or 'still'}_blender{blender.version.split('.')[0]}"
    report = import_with_addon(blender, addon, glb, artifacts_dir / f"{name}.png", tmp_path,
                               picture_background=picture_background)

    assert report["result"] == ["FINISHED"] and report["camera"] == "Depth3D camera"
    assert report["blender_version"].startswith(blender.version)
    assert report["resolution"] == [WIDTH, HEIGHT, 100]
    assert report["view"] == ["Standard", "None"]
    expected = blender_camera_settings(_camera(principal))
    for key in ("lens", "sensor_width", "shift_x", "shift_y"):
        assert report["camera_data"][key] == pytest.approx(expected[key], abs=1e-6), key
    assert report["camera_data"]["sensor_fit"] == "AUTO"
    if picture_background:
        assert report["show_background"] and report["backgrounds"] == [{"image": "picture", "size": [WIDTH, HEIGHT]}]
    else:
        assert not report["show_background"] and report["backgrounds"] == []
    assert np.allclose(report["location_at_start"], _blender_location(scene.gltf_camera.translation), atol=1e-5)
    if animation is None:
        assert report["fps"] == [24, 1.0] and report["frames"] == [1, 250, 1]  # the scene's own, untouched
        assert np.allclose(report["location_at_end"], report["location_at_start"])
    else:
        keys = len(scene.animation.times_s)
        assert report["fps"] == [30, 1.0] and report["frames"] == [0, keys - 1, 0]
        # The last frame shows the last key: the keys landed on the frames the range names.
        assert np.allclose(report["location_at_end"], _blender_location(scene.animation.translations[-1]), atol=1e-5)
        assert not np.allclose(report["location_at_end"], report["location_at_start"], atol=1e-2)

    render = np.asarray(Image.open(artifacts_dir / f"{name}.png").convert("RGBA"))
    assert render.shape == (HEIGHT, WIDTH, 4)
    coverage = float((render[..., 3] == 255).mean())
    psnr = _psnr(render[..., :3], np.asarray(picture))
    shifted = _psnr(render[:, 1:, :3], np.asarray(picture)[:, :-1])
    print(f"Blender {report['blender_version']} add-on {principal} {animation or 'still'}: {psnr:.2f} dB over all "
          f"pixels, {coverage:.1%} covered; {shifted:.2f} dB against the picture shifted by one pixel")
    assert coverage == 1.0
    assert psnr >= 40.0
    assert shifted < 40.0  # the measure sees a one-pixel misalignment
