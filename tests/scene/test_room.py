"""The README's main command on the shipped room: a .glb whose geometry and camera match the truth."""

import json
import subprocess

import numpy as np
import pytest

from lib_depth3d.camera import Camera
from tests.support.glb import project_with_file_camera, read_glb
from tests.support.gltf_validator import problems, validate_files
from tests.support.paths import EXAMPLES_DIR, REPO_ROOT, VENV_PYTHON

ROOM = EXAMPLES_DIR / "room"
Z_UP_TO_Y_UP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])


def _run_scene(output, *extra):
    command = [
        str(VENV_PYTHON), "-m", "lib_depth3d", "scene", str(ROOM / "room.png"),
        "--depth", str(ROOM / "room_depth.npy"), "--depth-kind", "depth", *extra, "-o", str(output),
    ]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def room_scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("room")
    main = _run_scene(folder / "room.glb", "--fspy", str(ROOM / "room.fspy"))
    lines = _run_scene(
        folder / "room_lines.glb", "--lines", str(ROOM / "room_lines.json"),
        "--resolution", "full", "--animation", "walk",
    )
    return folder, main, lines


@pytest.fixture(scope="module")
def truth():
    return json.loads((ROOM / "truth.json").read_text())


def test_the_readme_command_writes_the_scene_and_a_short_summary(room_scenes):
    folder, main, _ = room_scenes
    assert main.returncode == 0, main.stderr
    assert main.stdout.startswith(f"wrote {folder / 'room.glb'} (")
    assert "calibrated from" in main.stdout and "m (glTF, Y up)" in main.stdout
    assert len(main.stdout.splitlines()) <= 6
    assert sorted(p.name for p in folder.glob("room*")) == [
        "room.fspy", "room.glb", "room_camera.json", "room_depth.png",
        "room_lines.fspy", "room_lines.glb", "room_lines_camera.json", "room_lines_depth.png",
    ]
    assert (folder / "room.fspy").read_bytes() == (ROOM / "room.fspy").read_bytes()


@pytest.mark.validator
def test_room_files_pass_the_validator(room_scenes):
    folder, main, lines = room_scenes
    assert lines.returncode == 0, lines.stderr
    for report in validate_files([folder / "room.glb", folder / "room_lines.glb"]):
        assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, problems(report)


def test_the_file_camera_projects_the_known_corners_to_their_pixels(room_scenes, truth):
    folder, _, _ = room_scenes
    for name in ("room.glb", "room_lines.glb"):
        contents = read_glb(folder / name)
        world = np.array([point["world"] for point in truth["points"]])
        pixels = np.array([point["pixel"] for point in truth["points"]])
        projected = project_with_file_camera(contents, world @ Z_UP_TO_Y_UP.T)
        assert np.abs(projected - pixels).max() < 0.5


def _true_plane_labels(truth) -> np.ndarray:
    """Per pixel: which known plane (0: wall x=0, 1: wall y=0, 2: floor) its true 3D point lies on, else −1."""
    camera_truth = truth["camera"]
    width, height = truth["image"]["width"], truth["image"]["height"]
    camera = Camera(
        width, height, camera_truth["focal_length_px"], tuple(camera_truth["principal_point_px"]),
        np.array(camera_truth["world_to_camera"]),
    )
    zdepth = np.load(ROOM / "room_depth.npy")
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    points = camera.unproject(np.stack([columns, rows], -1).reshape(-1, 2), zdepth.reshape(-1))
    points = points.reshape(height, width, 3)
    labels = np.full((height, width), -1)
    for axis in range(3):
        labels[np.abs(points[..., axis]) < 1e-3] = axis
    return labels


@pytest.mark.parametrize("name", ["room.glb", "room_lines.glb"])
def test_walls_and_floor_stay_planar_and_in_place(room_scenes, truth, name):
    folder, _, _ = room_scenes
    contents = read_glb(folder / name)
    labels = _true_plane_labels(truth)
    height, width = labels.shape
    # Vertices whose whole 5×5 pixel neighbourhood lies on one plane (creases are resampled).
    padded = np.pad(labels, 2, mode="edge")
    uniform = np.ones_like(labels, dtype=bool)
    for dy in range(5):
        for dx in range(5):
            uniform &= padded[dy : dy + height, dx : dx + width] == labels
    pixels = contents.uvs.astype(np.float64) * [width, height]
    columns = np.clip(pixels[:, 0].astype(int), 0, width - 1)
    rows = np.clip(pixels[:, 1].astype(int), 0, height - 1)
    points_z_up = contents.positions.astype(np.float64) @ Z_UP_TO_Y_UP
    for axis in range(3):
        on_plane = points_z_up[(labels[rows, columns] == axis) & uniform[rows, columns]]
        assert len(on_plane) > 500
        centre = on_plane.mean(axis=0)
        normal = np.linalg.svd(on_plane - centre)[2][2]
        residual = (on_plane - centre) @ normal
        assert np.sqrt(np.mean(residual**2)) < 1e-4  # metres: flat
        assert abs(abs(normal[axis]) - 1) < 1e-6  # facing the right way
        assert np.abs(on_plane[:, axis]).max() < 0.001  # where the calibration puts it (metres)


def test_the_shipped_fspy_is_what_calibrating_the_shipped_lines_gives(truth):
    from lib_depth3d.camera import calibrate_file

    from_project = calibrate_file(ROOM / "room.fspy").camera
    from_lines = calibrate_file(ROOM / "room_lines.json").camera
    np.testing.assert_allclose(from_project.world_to_camera, from_lines.world_to_camera, atol=1e-6)
    assert from_project.focal_length_px == pytest.approx(truth["camera"]["focal_length_px"], rel=1e-4)
    np.testing.assert_allclose(from_project.position_world, truth["camera"]["position"], atol=1e-3)
