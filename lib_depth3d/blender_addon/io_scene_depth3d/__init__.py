"""File > Import > Depth3D scene: a Depth3D ``.glb`` opened so the render is the picture.

Blender's glTF importer builds the surface, the texture, the camera and its animation; this
operator then makes the file's camera the scene camera with the lens, sensor, lens shift and
render size stored in its ``extras.depth3d.blender`` (exact for an off-centre principal point),
sets the Standard view transform so the picture's colours come out unchanged, takes the frame
rate and range of the camera animation, and can show the picture behind the scene in the
camera view.
"""

import os

import bpy
from bpy.props import BoolProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from .scene_file import SceneFile, SceneFileError, read_scene_file

bl_info = {
    "name": "Depth3D scene importer",
    "author": "Depth3D",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "File > Import > Depth3D scene (.glb)",
    "description": "Import a Depth3D camera-matched .glb with its camera, lens shift, render size and animation",
    "category": "Import-Export",
}


def _new_objects(before: set) -> list:
    return [obj for obj in bpy.data.objects if obj.name not in before]


def _depth3d_camera(objects: list):
    return next((obj for obj in objects if obj.type == "CAMERA" and obj.data.get("depth3d") is not None), None)


def _picture_image(objects: list):
    """The picture's image: the texture of the surface's first material (the picture's own)."""
    for obj in objects:
        if obj.type != "MESH" or not obj.material_slots or obj.material_slots[0].material is None:
            continue
        material = obj.material_slots[0].material
        if material.node_tree is None:
            continue
        for node in material.node_tree.nodes:
            if node.type == "TEX_IMAGE" and node.image is not None:
                return node.image
    return None


def _gltf_options() -> dict:
    # Blender 3.4's default shading guess calls numpy.bool, which numpy 1.24 removed (Debian and
    # other distributions pair that Blender with a newer numpy). The surface has no normals and
    # an unlit material, so flat shading is what it gets anyway.
    properties = bpy.ops.import_scene.gltf.get_rna_type().properties
    return {"import_shading": "FLAT"} if "import_shading" in properties else {}


def _set_camera(scene, camera_object, settings: SceneFile) -> None:
    camera = camera_object.data
    lens = settings.camera
    camera.type = "PERSP"
    camera.lens_unit = "MILLIMETERS"
    camera.sensor_fit = lens.sensor_fit
    camera.sensor_width = lens.sensor_width_mm
    camera.lens = lens.lens_mm
    camera.shift_x = lens.shift_x
    camera.shift_y = lens.shift_y
    scene.camera = camera_object
    render = scene.render
    render.resolution_x, render.resolution_y = lens.resolution_px
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0


def _set_colours_unchanged(scene) -> None:
    view = scene.view_settings
    view.view_transform = "Standard"
    view.look = "None"
    view.exposure = 0.0
    view.gamma = 1.0
    view.use_curve_mapping = False


def _set_picture_background(camera, image) -> None:
    camera.show_background_images = True
    background = camera.background_images.new()
    background.image = image
    background.frame_method = "FIT"
    background.display_depth = "BACK"
    background.alpha = 1.0


class ImportDepth3DScene(bpy.types.Operator, ImportHelper):
    """Import a Depth3D .glb: its camera becomes the scene camera, framed exactly as the picture"""

    bl_idname = "import_scene.depth3d"
    bl_label = "Import Depth3D scene"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb", options={"HIDDEN"})
    picture_background: BoolProperty(
        name="Picture as camera background",
        description="Show the picture behind the scene in the camera view (viewport only, not rendered)",
        default=True,
    )

    def execute(self, context):
        name = os.path.basename(self.filepath)
        try:
            settings = read_scene_file(self.filepath)
        except SceneFileError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        scene = context.scene
        if settings.move is not None:
            # The importer turns key times into frames at the rate the scene has now.
            scene.render.fps = settings.move.frames_per_second
            scene.render.fps_base = 1.0
        before = {obj.name for obj in bpy.data.objects}
        try:
            imported = "FINISHED" in bpy.ops.import_scene.gltf(filepath=self.filepath, **_gltf_options())
        except RuntimeError:  # the importer's own error report, already shown
            imported = False
        if not imported:
            self.report({"ERROR"}, f"Blender's glTF importer could not read {name}: see its message or the console.")
            return {"CANCELLED"}
        objects = _new_objects(before)
        camera_object = _depth3d_camera(objects)
        if camera_object is None:
            self.report({"ERROR"}, f"{name} was imported but its Depth3D camera was not found: "
                                   "set the camera by hand (Scene > Camera).")
            return {"CANCELLED"}
        _set_camera(scene, camera_object, settings)
        _set_colours_unchanged(scene)
        summary = f"{settings.camera.resolution_px[0]}×{settings.camera.resolution_px[1]}"
        if settings.move is not None:
            scene.frame_start, scene.frame_end = settings.move.frame_range
            scene.frame_set(scene.frame_start)
            summary += (f", {settings.move.name} at {scene.render.fps} fps, "
                        f"frames {scene.frame_start}–{scene.frame_end}")
        if self.picture_background:
            image = _picture_image(objects)
            if image is None:
                self.report({"WARNING"}, f"{name} has no picture texture to show behind the scene.")
            else:
                _set_picture_background(camera_object.data, image)
        self.report({"INFO"}, f"Imported {name}: camera {camera_object.name}, {summary}")
        return {"FINISHED"}


def _menu_entry(self, context):
    self.layout.operator(ImportDepth3DScene.bl_idname, text="Depth3D scene (.glb)")


def register():
    bpy.utils.register_class(ImportDepth3DScene)
    bpy.types.TOPBAR_MT_file_import.append(_menu_entry)


def unregister():
    bpy.types.TOPBAR_MT_file_import.remove(_menu_entry)
    bpy.utils.unregister_class(ImportDepth3DScene)
