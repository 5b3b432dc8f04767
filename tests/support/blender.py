"""Blender, headless, as a test client: import a .glb with its camera and render it.

Debian's Blender 3.4 runs every script here; :func:`render_glb` and :func:`import_with_addon` also
run in Blender 4.x as the ``bpy`` module of a Python named by ``DEPTH3D_BLENDER4_PYTHON``
(:func:`blender4_module`; ``tools/setup_env.sh --blender4`` makes one).

The render reproduces texture colours (Cycles on the CPU, Standard view transform, no
denoiser, a tiny pixel filter so each pixel samples its centre) on a transparent film, so the
alpha channel says which pixels the mesh covers.

Framing modes:

* ``picture``: the documented way to get the exact picture back — apply the Blender settings
  the file's camera carries in ``extras.depth3d.blender`` (lens, sensor, shift, resolution).
* ``frustum``: the glTF camera exactly as imported, rendered at ``extras.depth3d.frustum_size_px``
  (what any glTF viewer sees); the picture is the crop at ``picture_offset_px``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BLENDER4_PYTHON_VARIABLE = "DEPTH3D_BLENDER4_PYTHON"
"""Names a Python interpreter that imports Blender 4.x as the ``bpy`` module."""


@dataclass(frozen=True)
class Blender:
    """A Blender that runs a Python script headless.

    Attributes:
        version: the version it must report (``bpy.app.version_string`` starts with it): "3.4"
            for Debian's program, the module's whole version string for a ``bpy`` module.
        runner: what runs ``SCRIPT -- ARGUMENTS``: Blender's program with its headless flags, or
            a Python interpreter that has the ``bpy`` module (no flags: a module has no UI and
            reads no startup file).
    """

    version: str
    runner: tuple[str, ...]

    def command(self, script: Path, *arguments) -> list[str]:
        """The command line that runs ``script`` with ``arguments`` (after ``--``, as Blender passes them)."""
        return [*self.runner, str(script), "--", *(str(argument) for argument in arguments)]


def debian_blender() -> Blender:
    """Debian's ``blender`` program (3.4), in the background, with factory settings."""
    blender = shutil.which("blender")
    assert blender, "blender is not installed (apt-get install -y blender python3-numpy)"
    return Blender("3.4", (blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python"))


def blender4_module(python: str) -> Blender:
    """Blender 4.x (or later) as the ``bpy`` module of the interpreter ``python``; an
    AssertionError saying what is wrong when it cannot import such a ``bpy``."""
    result = subprocess.run([python, "-c", "import bpy; print(bpy.app.version_string)"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"{BLENDER4_PYTHON_VARIABLE}={python} cannot import bpy:\n{result.stderr[-2000:]}"
    )
    version = result.stdout.strip().splitlines()[-1]
    assert int(version.split(".")[0]) >= 4, f"{BLENDER4_PYTHON_VARIABLE}={python} imports bpy {version}, older than 4.0"
    return Blender(version, (python,))

_RENDER_FROM_THE_SCENE_CAMERA = r'''
render = scene.render
render.film_transparent = True
render.dither_intensity = 0.0
render.filter_size = 0.01
scene.cycles.pixel_filter_type = "BOX"
render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = samples
scene.cycles.use_denoising = False
scene.cycles.use_adaptive_sampling = False
render.image_settings.file_format = "PNG"
render.image_settings.color_mode = "RGBA"
render.image_settings.color_depth = "8"
render.filepath = output_path
bpy.ops.render.render(write_still=True)
'''
"""Film, Cycles and output settings shared by the scripts below (each sets ``samples`` first)."""

_SCRIPT = r'''
import sys
import numpy
if not hasattr(numpy, "bool"):
    numpy.bool = bool  # Blender 3.4's glTF importer still uses numpy.bool (removed in numpy 1.24)
import bpy

glb_path, output_path, mode, samples = sys.argv[sys.argv.index("--") + 1:]
samples = int(samples)
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.gltf(filepath=glb_path)
scene = bpy.context.scene
camera_object = next(obj for obj in scene.objects if obj.type == "CAMERA")
scene.camera = camera_object
settings = camera_object.data["depth3d"].to_dict()
if mode == "picture":
    blender = settings["blender"]
    camera = camera_object.data
    camera.lens_unit = "MILLIMETERS"
    camera.sensor_fit = blender["sensor_fit"]
    camera.sensor_width = blender["sensor_width"]
    camera.lens = blender["lens"]
    camera.shift_x = blender["shift_x"]
    camera.shift_y = blender["shift_y"]
    width, height = blender["resolution_x"], blender["resolution_y"]
else:
    width, height = (int(round(v)) for v in settings["frustum_size_px"])
render = scene.render
render.resolution_x, render.resolution_y = width, height
render.resolution_percentage = 100
scene.view_settings.view_transform = "Standard"
scene.view_settings.look = "None"
scene.view_settings.exposure = 0.0
scene.view_settings.gamma = 1.0
''' + _RENDER_FROM_THE_SCENE_CAMERA


def render_glb(
    glb_path: Path, output_png: Path, mode: str, work_dir: Path, blender: Blender | None = None, samples: int = 4
) -> Path:
    """Render ``glb_path`` from its camera into ``output_png`` (RGBA) with ``blender`` (Debian's
    when not given), ``samples`` per pixel (one lands on the pixel centre); return the path."""
    blender = blender or debian_blender()
    script = work_dir / "render_glb.py"
    script.write_text(_SCRIPT)
    result = subprocess.run(
        blender.command(script, glb_path, output_png, mode, str(samples)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and output_png.exists(), (
        f"{blender.version} Blender failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return output_png


_ADDON_SCRIPT = r'''
import json
import sys

import bpy
import addon_utils  # on sys.path once bpy is imported (the bpy module has no startup of its own)

addon_zip, glb_path, output_path, report_path, background = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.preferences.addon_install(filepath=addon_zip)
bpy.ops.preferences.addon_enable(module="io_scene_depth3d")
addon = next(module for module in addon_utils.modules() if module.__name__ == "io_scene_depth3d")
result = bpy.ops.import_scene.depth3d(filepath=glb_path, picture_background=background == "background")
scene = bpy.context.scene
camera = scene.camera
report = {
    "result": sorted(result),
    "blender_version": bpy.app.version_string,
    "bl_info": {key: list(value) if isinstance(value, tuple) else value for key, value in addon.bl_info.items()},
    "camera": camera.name if camera else None,
    "camera_data": {key: getattr(camera.data, key) for key in ("lens", "sensor_width", "sensor_fit", "shift_x", "shift_y")},
    "resolution": [scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage],
    "view": [scene.view_settings.view_transform, scene.view_settings.look],
    "fps": [scene.render.fps, scene.render.fps_base],
    "frames": [scene.frame_start, scene.frame_end, scene.frame_current],
    "backgrounds": [
        {"image": b.image.name, "size": list(b.image.size)} for b in camera.data.background_images if b.image
    ],
    "show_background": camera.data.show_background_images,
}
scene.frame_set(scene.frame_end)
report["location_at_end"] = list(camera.matrix_world.translation)
scene.frame_set(scene.frame_start)
report["location_at_start"] = list(camera.matrix_world.translation)
samples = 1
''' + _RENDER_FROM_THE_SCENE_CAMERA + r'''
with open(report_path, "w") as file:
    json.dump(report, file)
'''


def import_with_addon(
    blender: Blender, addon_zip: Path, glb_path: Path, output_png: Path, work_dir: Path, *, picture_background: bool
) -> dict:
    """Install ``addon_zip`` in a fresh user folder of ``blender``, import ``glb_path`` with
    ``import_scene.depth3d`` and render its first frame from the scene camera (Cycles, one sample
    per pixel, which lands on the pixel centre) into ``output_png``; what the add-on set, as a dict.

    Nothing but the sampling and the film is set by the test: render size, camera, lens shift,
    view transform and frames are the add-on's.
    """
    script = work_dir / "import_with_addon.py"
    script.write_text(_ADDON_SCRIPT)
    report_path = work_dir / "addon_report.json"
    user = work_dir / "blender_user"
    environment = {
        **os.environ,
        "BLENDER_USER_SCRIPTS": str(user / "scripts"),
        "BLENDER_USER_CONFIG": str(user / "config"),
        "BLENDER_USER_DATAFILES": str(user / "datafiles"),
    }
    result = subprocess.run(
        blender.command(script, addon_zip, glb_path, output_png, report_path,
                        "background" if picture_background else "none"),
        capture_output=True, text=True, timeout=300, env=environment,
    )
    assert result.returncode == 0 and output_png.exists() and report_path.exists(), (
        f"{blender.version} Blender failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return json.loads(report_path.read_text())


_IMAGE_SCRIPT = r'''
import sys
import numpy
import bpy

image_path, output_path = sys.argv[sys.argv.index("--") + 1:]
image = bpy.data.images.load(image_path)
width, height = image.size
pixels = numpy.empty(width * height * image.channels, dtype=numpy.float32)
image.pixels.foreach_get(pixels)
numpy.save(output_path, pixels.reshape(height, width, image.channels))
'''


def load_image_pixels(image_path: Path, work_dir: Path):
    """The pixels of ``image_path`` as Blender loads it (``bpy.data.images.load``): float32
    (height, width, channels), first row at the top as in the file (Blender's rows start at the bottom)."""
    import numpy

    blender = shutil.which("blender")
    assert blender, "blender is not installed (apt-get install -y blender python3-numpy)"
    script = work_dir / "load_image.py"
    script.write_text(_IMAGE_SCRIPT)
    output = work_dir / "blender_pixels.npy"
    result = subprocess.run(
        [blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(script),
         "--", str(image_path), str(output)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0 and output.exists(), (
        f"Blender failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return numpy.load(output)[::-1]
