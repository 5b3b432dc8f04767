"""A camera set up in Blender the way fSpy-Blender imports a project sees what our Camera sees.

fSpy-Blender: perspective camera, ``angle = horizontalFieldOfView`` (fitted to the longer side),
``matrix_world = cameraTransform``, lens shift ``-principalPoint / 2``, render size = picture.
"""

import json
import shutil
import subprocess

import numpy as np
import pytest

from lib_depth3d.camera import calibrate

BLENDER_SCRIPT = r"""
import json, sys
import bpy, mathutils
from bpy_extras.object_utils import world_to_camera_view

job = json.load(open(sys.argv[sys.argv.index("--") + 1]))
scene = bpy.context.scene
results = {}
for name, case in job.items():
    parameters = case["parameters"]
    bpy.ops.object.camera_add()
    camera = bpy.context.active_object
    camera.data.type = "PERSP"
    camera.data.sensor_fit = "AUTO"
    camera.data.lens_unit = "FOV"
    camera.data.angle = parameters["horizontalFieldOfView"]
    camera.matrix_world = mathutils.Matrix(parameters["cameraTransform"]["rows"])
    camera.data.shift_x = -parameters["principalPoint"]["x"] / 2
    camera.data.shift_y = -parameters["principalPoint"]["y"] / 2
    scene.render.resolution_x = parameters["imageWidth"]
    scene.render.resolution_y = parameters["imageHeight"]
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1
    bpy.context.view_layer.update()
    views = [world_to_camera_view(scene, camera, mathutils.Vector(p)) for p in case["points"]]
    results[name] = [[v.x, v.y, v.z] for v in views]
json.dump(results, open(sys.argv[sys.argv.index("--") + 2], "w"))
"""


@pytest.mark.blender
def test_fspy_blender_camera_projects_like_ours(tmp_path, reference_project):
    blender = shutil.which("blender")
    assert blender, "blender is not installed"
    job, expected = {}, {}
    for name in ("shifted_landscape", "shifted_portrait", "fspy_github_bug_5", "defaults"):
        calibration = calibrate(reference_project(name).calibration_input())
        camera = calibration.camera
        grid = np.stack(
            np.meshgrid(np.linspace(0, camera.image_width_px, 5), np.linspace(0, camera.image_height_px, 4)), -1
        ).reshape(-1, 2)
        depths = np.linspace(2.0, 30.0, len(grid))
        job[name] = {
            "parameters": calibration.to_camera_parameters(),
            "points": camera.unproject(grid, depths).tolist(),
        }
        expected[name] = (grid, depths, camera.image_size_px)
    (tmp_path / "job.json").write_text(json.dumps(job))
    script = tmp_path / "import_like_fspy_blender.py"
    script.write_text(BLENDER_SCRIPT)
    result = subprocess.run(
        [blender, "-b", "--factory-startup", "--python", str(script), "--",
         str(tmp_path / "job.json"), str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0 and (tmp_path / "out.json").exists(), result.stdout[-2000:] + result.stderr[-2000:]
    views = json.loads((tmp_path / "out.json").read_text())
    for name, (grid, depths, (width, height)) in expected.items():
        view = np.array(views[name])
        pixels = np.stack([view[:, 0] * width, (1.0 - view[:, 1]) * height], -1)
        # Blender's matrices are float32: allow a thousandth of a pixel per thousand pixels.
        np.testing.assert_allclose(pixels, grid, atol=1e-6 * max(width, height) * 10, err_msg=name)
        np.testing.assert_allclose(view[:, 2], depths, rtol=1e-5, err_msg=name)
