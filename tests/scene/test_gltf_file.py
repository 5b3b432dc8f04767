"""The .glb and the files beside it: validator-clean, camera-exact, animated, written atomically."""

import io
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.camera import Camera, camera_from_parameters, read_camera_parameters
from lib_depth3d.depth.depthmap import DepthMap, load_depth
from lib_depth3d.errors import InputError, OutputError
from lib_depth3d.scene import SceneOptions, build_scene, write_scene
from tests.support.glb import rotation_from_quaternion, project_with_file_camera, read_glb
from tests.support.gltf_validator import problems, validate_files
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

Z_UP_TO_Y_UP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])


def _calibrated_camera(width=48, height=36, principal=(30.0, 12.0)) -> Camera:
    yaw, pitch = math.radians(35), math.radians(75)
    turn = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
    tilt = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    camera_to_world = np.eye(4)
    camera_to_world[:3, :3] = turn @ tilt
    camera_to_world[:3, 3] = [-1.0, -3.0, 1.6]
    return Camera(width, height, 45.0, principal, np.linalg.inv(camera_to_world))


def _pictures():
    base = smooth_picture(48, 36)
    grey = base.convert("L")
    sixteen = Image.fromarray((np.asarray(grey, dtype=np.uint16) * 257).astype(np.uint16), mode="I;16")
    rgba = base.convert("RGBA")
    return {"rgb": base, "grey": grey, "16-bit": sixteen, "rgba": rgba}


VARIANTS = {
    "centred": dict(camera="centred", options={}),
    "off-centre": dict(camera="calibrated", options={"world_up": "z", "depth_scale": 1.0}),
    "walk": dict(camera="calibrated", options={"world_up": "z", "animation": "walk"}),
    "dolly": dict(camera="centred", options={"animation": "dolly", "animation_seconds": 2.0}),
    "orbit": dict(camera="calibrated", options={"world_up": "z", "animation": "orbit", "animation_speed": 20.0}),
    "jpeg": dict(camera="centred", options={"texture_format": "jpeg", "jpeg_quality": 70}),
    "full, kept edges": dict(camera="centred", options={"resolution": None, "cut_discontinuities": False, "decimate": False}),
    "plain": dict(camera="calibrated", options={"world_up": "z", "plain_gltf": True, "animation": "dolly"}),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every variant and every picture mode written once; validated in one validator run."""
    folder = tmp_path_factory.mktemp("scenes")
    depth = DepthMap(wavy_zdepth(48, 36, 11), "depth")
    results = {}
    for name, variant in VARIANTS.items():
        camera = Camera.from_fov(48, 36, 60) if variant["camera"] == "centred" else _calibrated_camera()
        scene = build_scene(smooth_picture(48, 36), depth, camera, SceneOptions(**variant["options"]))
        results[name] = (scene, write_scene(scene, folder / f"{name.replace(' ', '_').replace(',', '')}.glb"))
    for mode, picture in _pictures().items():
        scene = build_scene(picture, depth, Camera.from_fov(48, 36, 60))
        results[f"picture {mode}"] = (scene, write_scene(scene, folder / f"picture_{mode}.glb"))
    reports = validate_files([files.glb for _, files in results.values()])
    return results, dict(zip(results, reports))


@pytest.mark.validator
def test_every_file_passes_the_khronos_validator_without_errors_or_warnings(written):
    _, reports = written
    assert len(reports) == len(VARIANTS) + 4
    for name, report in reports.items():
        assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, (name, problems(report))


def test_the_file_holds_one_unlit_textured_mesh_and_a_camera(written):
    results, _ = written
    for name in ("centred", "jpeg"):
        contents = read_glb(results[name][1].glb)
        document = contents.document
        assert len(document.meshes) == 1 and len(document.cameras) == 1
        assert "KHR_materials_unlit" in document.extensionsUsed
        assert document.materials[0].extensions == {"KHR_materials_unlit": {}}
        expected_mime = "image/jpeg" if name == "jpeg" else "image/png"
        assert document.images[0].mimeType == expected_mime
        assert Image.open(io.BytesIO(contents.image_bytes)).size == (48, 36)
        perspective = document.cameras[0].perspective
        assert 0 < perspective.znear < perspective.zfar


def _glb_chunks(data: bytes) -> tuple[dict, bytes]:
    json_length = int.from_bytes(data[12:16], "little")
    return json.loads(data[20 : 20 + json_length]), data[28 + json_length :]


def test_pygltflib_reads_back_every_field_and_byte_the_writer_wrote(written):
    """The writer is plain JSON: a reference library loads every variant (layers, moves, compact
    and plain, JPEG) and saves the same document and binary chunk, up to the one default it
    spells out (``normalized: false``) and integers it writes as floats."""
    import pygltflib

    results, _ = written
    for name, (_, files) in results.items():
        data = files.glb.read_bytes()
        document, binary = _glb_chunks(data)
        saved_document, saved_binary = _glb_chunks(b"".join(pygltflib.GLTF2.load_from_bytes(data).save_to_bytes()))
        for accessor in saved_document["accessors"]:
            if accessor.get("normalized") is False:
                del accessor["normalized"]
        assert saved_document == document, name
        assert saved_binary == binary, name


def test_the_picture_modes_become_an_rgb_texture(written):
    results, _ = written
    for mode in ("grey", "16-bit", "rgba"):
        texture = Image.open(io.BytesIO(read_glb(results[f"picture {mode}"][1].glb).image_bytes))
        assert texture.mode == "RGB"
    grey = np.asarray(Image.open(io.BytesIO(read_glb(results["picture grey"][1].glb).image_bytes)))
    sixteen = np.asarray(Image.open(io.BytesIO(read_glb(results["picture 16-bit"][1].glb).image_bytes)))
    np.testing.assert_array_equal(grey, sixteen)


@pytest.mark.parametrize("name", ["centred", "off-centre"])
def test_the_file_camera_with_its_documented_crop_reproduces_the_camera(written, name):
    scene, files = written[0][name]
    contents = read_glb(files.glb)
    points = contents.positions.astype(np.float64)
    expected = contents.uvs.astype(np.float64) * [48, 36]
    np.testing.assert_allclose(project_with_file_camera(contents, points), expected, atol=1e-3)
    if name == "off-centre":
        assert contents.extras["depth3d"]["frustum_size_px"] == [60.0, 48.0]
        assert contents.extras["depth3d"]["picture_offset_px"] == [0.0, 12.0]


def test_blender_settings_in_the_extras_follow_fspy_blender(written):
    scene, files = written[0]["off-centre"]
    blender = read_glb(files.glb).extras["depth3d"]["blender"]
    principal_x, principal_y = scene.camera.principal_point_image_plane
    assert blender["shift_x"] == pytest.approx(-principal_x / 2)
    assert blender["shift_y"] == pytest.approx(-principal_y / 2)
    assert blender["lens"] == pytest.approx(scene.camera.focal_length_mm(36.0))
    assert (blender["resolution_x"], blender["resolution_y"]) == (48, 36)


def test_a_calibrated_world_keeps_its_axes_with_y_up_in_the_file(written):
    scene, files = written[0]["off-centre"]
    contents = read_glb(files.glb)
    camera_position_z_up = scene.camera.position_world
    np.testing.assert_allclose(contents.camera_to_world[:3, 3], Z_UP_TO_Y_UP @ camera_position_z_up, atol=1e-6)


def test_camera_moves(written):
    results, _ = written
    walk = results["walk"][0].animation
    assert walk.times_s[0] == 0 and walk.times_s[-1] == pytest.approx(4.0)
    assert np.ptp(walk.translations[:, 1]) < 1e-5  # the height (glTF y) stays
    assert np.linalg.norm(walk.translations[-1] - walk.translations[0]) == pytest.approx(walk.travel, rel=1e-4)
    dolly = results["dolly"][0].animation
    assert dolly.times_s[-1] == pytest.approx(2.0)
    np.testing.assert_allclose(dolly.translations[-1], dolly.translations[0], atol=1e-5)
    reach = np.linalg.norm(dolly.translations - dolly.translations[0], axis=1).max()
    assert reach == pytest.approx(dolly.travel, rel=1e-3)
    orbit_scene = results["orbit"][0]
    orbit = orbit_scene.animation
    assert orbit.travel == pytest.approx(20.0 * 4.0 / 4)
    np.testing.assert_allclose(np.linalg.norm(orbit.rotations_xyzw, axis=1), 1.0, atol=1e-6)
    positions = orbit.translations.astype(np.float64)
    forwards = np.stack([-rotation_from_quaternion(q)[:, 2] for q in orbit.rotations_xyzw.astype(np.float64)])
    # The point every view direction passes through (least squares) is the pivot.
    projectors = np.eye(3)[None] - forwards[:, :, None] * forwards[:, None, :]
    pivot = np.linalg.solve(projectors.sum(axis=0), np.einsum("kij,kj->i", projectors, positions))
    offsets = positions - pivot
    assert np.abs(np.einsum("kij,kj->ki", projectors, offsets)).max() < 1e-4  # always looking at it
    radii = np.linalg.norm(offsets, axis=1)
    assert np.ptp(radii) < 1e-4 * radii.max()
    bearing = np.degrees(np.arctan2(offsets[:, 0], offsets[:, 2]))  # about glTF's up axis
    assert np.ptp(bearing) == pytest.approx(2 * orbit.travel, abs=0.1)
    assert np.ptp(offsets[:, 1]) < 1e-5
    document = read_glb(results["orbit"][1].glb).document
    assert [channel.target.path for channel in document.animations[0].channels] == ["translation", "rotation"]


def test_files_beside_the_glb(written):
    scene, files = written[0]["off-centre"]
    assert files.depth_png.name == "off-centre_depth.png" and files.camera_json.name == "off-centre_camera.json"
    assert files.fspy is None
    nearness = load_depth(files.depth_png, "disparity").values
    np.testing.assert_allclose(nearness, scene.zdepth.nearness(), atol=1 / 65535)
    parameters = read_camera_parameters(json.loads(files.camera_json.read_text()))
    camera = camera_from_parameters(parameters)
    assert camera.focal_length_px == pytest.approx(45.0)
    np.testing.assert_allclose(camera.principal_point_px, (30.0, 12.0))
    np.testing.assert_allclose(camera.world_to_camera, scene.camera.world_to_camera, atol=1e-9)


def test_uncalibrated_camera_json_describes_the_camera_blender_imports(written):
    scene, files = written[0]["centred"]
    camera = camera_from_parameters(json.loads(files.camera_json.read_text()))
    contents = read_glb(files.glb)
    # Blender's importer turns glTF (x, y, z) into (x, −z, y): the JSON's world is that one.
    points_blender = contents.positions.astype(np.float64) @ Z_UP_TO_Y_UP
    pixels, depth = camera.project(points_blender)
    assert np.all(depth > 0)
    np.testing.assert_allclose(pixels, contents.uvs * [48, 36], atol=1e-3)


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_partial_file(tmp_path, monkeypatch):
    scene = build_scene(smooth_picture(48, 36), DepthMap(wavy_zdepth(48, 36, 1), "depth"), Camera.from_fov(48, 36, 60))
    target = tmp_path / "scene.glb"
    target.write_bytes(b"the good file")

    def failing_replace(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match="No space left on device"):
        write_scene(scene, target)
    assert target.read_bytes() == b"the good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.glb"]


def test_an_output_folder_that_does_not_exist_is_a_clear_error(tmp_path):
    scene = build_scene(smooth_picture(48, 36), DepthMap(wavy_zdepth(48, 36, 1), "depth"), Camera.from_fov(48, 36, 60))
    with pytest.raises(InputError, match="does not exist"):
        write_scene(scene, tmp_path / "missing" / "scene.glb")
    assert list(tmp_path.iterdir()) == []
