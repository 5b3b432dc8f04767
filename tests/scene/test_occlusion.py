"""The background layer: a near box in front of a far wall, seen from the picture's camera and
from a camera moved sideways, by ray casting against the file's own triangles."""

import math

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.camera import Camera
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.errors import SceneError
from lib_depth3d.scene import SceneOptions, build_scene, write_scene
from lib_depth3d.scene.occlusion import DEFAULT_BAND_FRACTION, grow_background_depth
from tests.support.blender import render_glb
from tests.support.glb import mesh_node_matrix, primitive_positions, read_glb
from tests.support.gltf_validator import problems, validate_files
from tests.support.scene_inputs import plane_zdepth

WIDTH, HEIGHT = 96, 72
BOX_ROWS, BOX_COLUMNS = slice(22, 54), slice(34, 62)
WALL_COLOUR = np.array([40.0, 90.0, 200.0])
BOX_COLOUR = np.array([220.0, 60.0, 40.0])
WALL_NORMAL, WALL_DISTANCE = np.array([0.15, 0.0, 1.0]) / math.hypot(0.15, 1.0), 4.0
BOX_DEPTH = 2.0


def _box_scene_inputs() -> tuple[Image.Image, DepthMap, Camera]:
    camera = Camera.from_fov(WIDTH, HEIGHT, 60.0)
    zdepth = plane_zdepth(camera, WALL_NORMAL, WALL_DISTANCE)
    zdepth[BOX_ROWS, BOX_COLUMNS] = BOX_DEPTH
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH]
    stripes = 12.0 * np.sin(2 * np.pi * columns / 11)[..., None] * np.array([1.0, 1.0, 0.5])
    rgb = WALL_COLOUR + stripes + 4.0 * np.cos(2 * np.pi * rows / 13)[..., None]
    rgb[BOX_ROWS, BOX_COLUMNS] = BOX_COLOUR
    picture = Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8))
    return picture, DepthMap(zdepth, "depth"), camera


def _build(fill: bool, **options):
    """The box scene at full resolution; without pixel edges (tests/scene/test_edges.py), so the
    cut strips are left to the layer that these tests are about."""
    picture, depth, camera = _box_scene_inputs()
    options = {"pixel_edges": False, **options}
    return build_scene(picture, depth, camera, SceneOptions(resolution=None, fill_occlusions=fill, **options))


def _camera_rays(camera_to_gltf: np.ndarray, focal_px: float, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(origins, unit directions) in the glTF world of rays through picture pixels (centred principal point)."""
    directions_camera = np.stack(
        [(pixels[:, 0] - WIDTH / 2) / focal_px, (HEIGHT / 2 - pixels[:, 1]) / focal_px, -np.ones(len(pixels))], -1
    )
    directions = directions_camera @ camera_to_gltf[:3, :3].T
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return np.broadcast_to(camera_to_gltf[:3, 3], directions.shape), directions


def _first_hits(origins, directions, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, triangle index) of each ray's first hit; inf and −1 for a miss (Möller–Trumbore)."""
    a, b, c = (triangles[:, i].astype(np.float64) for i in range(3))
    edge1, edge2 = b - a, c - a
    distances = np.full(len(directions), np.inf)
    indices = np.full(len(directions), -1)
    for start in range(0, len(directions), 256):
        d = directions[start : start + 256, None, :]
        o = origins[start : start + 256, None, :]
        p = np.cross(d, edge2[None])
        determinant = np.einsum("rtk,tk->rt", p, edge1)
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = 1.0 / determinant
            s = o - a[None]
            u = np.einsum("rtk,rtk->rt", s, p) * inverse
            q = np.cross(s, edge1[None])
            v = np.einsum("rk,rtk->rt", d[:, 0], q) * inverse
            t = np.einsum("rtk,tk->rt", q, edge2) * inverse
        hit = (np.abs(determinant) > 1e-12) & (u >= -1e-9) & (v >= -1e-9) & (u + v <= 1 + 1e-9) & (t > 1e-6)
        t = np.where(hit, t, np.inf)
        indices[start : start + 256] = np.where(np.isfinite(t.min(axis=1)), t.argmin(axis=1), -1)
        distances[start : start + 256] = t.min(axis=1)
    return distances, indices


def _mesh_triangles(scene) -> tuple[np.ndarray, int]:
    """All triangles' corners (main surface first) and how many belong to the main surface."""
    main = scene.positions[scene.faces]
    if scene.background is None:
        return main, len(main)
    return np.concatenate([main, scene.background.positions[scene.background.faces]]), len(main)


def _picture_camera_to_gltf(scene) -> np.ndarray:
    camera_to_world = np.eye(4)
    x, y, z, w = scene.gltf_camera.rotation_xyzw
    camera_to_world[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    camera_to_world[:3, 3] = scene.gltf_camera.translation
    return camera_to_world


def _ray_pixels(step: float = 1.0) -> np.ndarray:
    """Pixel positions off the vertex lattice (vertices sit at pixel centres), so no ray grazes an edge."""
    rows, columns = np.mgrid[0:HEIGHT:step, 0:WIDTH:step]
    return np.stack([columns.ravel() + 0.31, rows.ravel() + 0.73], -1)


@pytest.fixture(scope="module")
def scenes():
    return {"off": _build(False), "on": _build(True)}


def test_the_layer_is_built_only_when_asked_and_only_where_edges_were_cut(scenes):
    assert scenes["off"].background is None
    assert scenes["on"].background is not None
    assert len(scenes["on"].faces) == len(scenes["off"].faces)  # the main surface is untouched
    np.testing.assert_array_equal(scenes["on"].positions, scenes["off"].positions)
    picture, _, camera = _box_scene_inputs()
    flat = DepthMap(plane_zdepth(camera, WALL_NORMAL, WALL_DISTANCE), "depth")
    assert build_scene(picture, flat, camera, SceneOptions(fill_occlusions=True)).background is None


def test_from_the_picture_camera_the_first_hits_are_unchanged(scenes):
    on, off = scenes["on"], scenes["off"]
    origins, directions = _camera_rays(_picture_camera_to_gltf(on), on.camera.focal_length_px, _ray_pixels())
    distance_off, _ = _first_hits(origins, directions, _mesh_triangles(off)[0])
    triangles_on, main_count = _mesh_triangles(on)
    distance_on, index_on = _first_hits(origins, directions, triangles_on)
    seen_before = np.isfinite(distance_off)
    print(f"\npicture camera: {1 - seen_before.mean():.2%} of rays missed the surface (cut strips); "
          f"with the layer {np.mean(~np.isfinite(distance_on)):.2%}")
    assert np.all(index_on[seen_before] < main_count)
    np.testing.assert_allclose(distance_on[seen_before], distance_off[seen_before], rtol=1e-9)
    assert np.all(index_on[~seen_before] >= main_count)  # the layer shows through every cut strip
    assert (~seen_before).sum() > 50


def test_the_layer_lies_behind_the_surface_along_every_ray(scenes):
    on = scenes["on"]
    origins, directions = _camera_rays(_picture_camera_to_gltf(on), on.camera.focal_length_px, _ray_pixels())
    main_distance, _ = _first_hits(origins, directions, on.positions[on.faces])
    layer_distance, _ = _first_hits(origins, directions, on.background.positions[on.background.faces])
    both = np.isfinite(main_distance) & np.isfinite(layer_distance)
    assert both.sum() > 200
    assert np.all(layer_distance[both] > main_distance[both] * (1 + 1e-4))


def _wall_rays_from_moved_camera(scene, sideways: float) -> tuple[np.ndarray, np.ndarray]:
    """Rays of a camera moved sideways that meet the wall inside the picture's view (they should see something)."""
    camera_to_gltf = _picture_camera_to_gltf(scene)
    camera_to_gltf[:3, 3] += camera_to_gltf[:3, 0] * sideways
    origins, directions = _camera_rays(camera_to_gltf, scene.camera.focal_length_px, _ray_pixels())
    picture_to_gltf = _picture_camera_to_gltf(scene)
    origin_camera = (origins - picture_to_gltf[:3, 3]) @ picture_to_gltf[:3, :3]
    direction_camera = directions @ picture_to_gltf[:3, :3]
    # The wall n·X = −d in the picture camera's frame.
    t = (-WALL_DISTANCE - origin_camera @ WALL_NORMAL) / (direction_camera @ WALL_NORMAL)
    points = origin_camera + t[:, None] * direction_camera
    focal = scene.camera.focal_length_px
    u = WIDTH / 2 + focal * points[:, 0] / -points[:, 2]
    v = HEIGHT / 2 - focal * points[:, 1] / -points[:, 2]
    inside = (u > 1) & (u < WIDTH - 1) & (v > 1) & (v < HEIGHT - 1)
    return origins[inside], directions[inside]


@pytest.mark.parametrize("sideways, band_px", [(0.1, None), (0.2, None), (0.2, 3.0)])
def test_a_camera_moved_sideways_sees_far_fewer_holes_with_the_layer(scenes, sideways, band_px):
    """A sideways move t uncovers about f·t·(1/2 − 1/4) px of wall beside the box: 2.1 px for
    t = 0.1, 4.2 px for t = 0.2, against a default band of 8 % of 96 px (8 px)."""
    layered = scenes["on"] if band_px is None else _build(True, occlusion_band_px=band_px)
    holes = {}
    for name, scene in (("off", scenes["off"]), ("on", layered)):
        origins, directions = _wall_rays_from_moved_camera(scene, sideways)
        distance, _ = _first_hits(origins, directions, _mesh_triangles(scene)[0])
        holes[name] = float(np.mean(~np.isfinite(distance)))
    print(f"\nmoved {sideways} sideways, band {band_px or 'default'}: rays that hit nothing "
          f"{holes['off']:.2%} without the layer, {holes['on']:.2%} with it")
    assert holes["off"] > 0.02
    uncovered_px = sideways * layered.camera.focal_length_px * (1 / BOX_DEPTH - 1 / WALL_DISTANCE)
    band = band_px or DEFAULT_BAND_FRACTION * WIDTH
    if uncovered_px < band:
        assert holes["on"] <= 0.01 * holes["off"]
    else:  # a move wider than the band leaves the sliver beyond it
        assert holes["on"] <= ((uncovered_px - band) / uncovered_px + 0.1) * holes["off"]


def test_the_band_shows_the_wall_colour_not_the_box_colour(scenes):
    layer = scenes["on"].background
    texture = np.asarray(layer.texture, dtype=np.float64)
    height, width = texture.shape[:2]
    texels = texture[
        np.clip((layer.uvs[:, 1] * height).astype(int), 0, height - 1),
        np.clip((layer.uvs[:, 0] * width).astype(int), 0, width - 1),
    ]
    on = scenes["on"]
    world_to_camera = np.linalg.inv(_picture_camera_to_gltf(on))
    points = layer.positions @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    focal = on.camera.focal_length_px
    u = WIDTH / 2 + focal * points[:, 0] / -points[:, 2]
    v = HEIGHT / 2 - focal * points[:, 1] / -points[:, 2]
    behind_box = (u > BOX_COLUMNS.start + 0.6) & (u < BOX_COLUMNS.stop - 0.6)
    behind_box &= (v > BOX_ROWS.start + 0.6) & (v < BOX_ROWS.stop - 0.6)
    assert behind_box.sum() > 100
    to_wall = np.linalg.norm(texels[behind_box] - WALL_COLOUR, axis=1)
    to_box = np.linalg.norm(texels[behind_box] - BOX_COLOUR, axis=1)
    assert np.all(to_wall < 30) and np.all(to_box > 150), (to_wall.max(), to_box.min())
    # Behind the box the layer continues the wall's depth, not the box's.
    assert np.all(-points[behind_box, 2] > 1.5 * BOX_DEPTH)


def test_the_band_is_as_wide_as_asked(scenes):
    for band_px in (2.0, 6.0):
        layer = _build(True, occlusion_band_px=band_px).background
        on = scenes["on"]
        world_to_camera = np.linalg.inv(_picture_camera_to_gltf(on))
        points = layer.positions @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
        u = WIDTH / 2 + on.camera.focal_length_px * points[:, 0] / -points[:, 2]
        v = HEIGHT / 2 - on.camera.focal_length_px * points[:, 1] / -points[:, 2]
        left_half = (u > BOX_COLUMNS.start) & (u < (BOX_COLUMNS.start + BOX_COLUMNS.stop) / 2)
        middle_rows = (v > BOX_ROWS.start + 10) & (v < BOX_ROWS.stop - 10)
        inside_from_left = u[left_half & middle_rows] - (BOX_COLUMNS.start + 0.5)
        assert band_px - 1.01 <= inside_from_left.max() <= band_px + 0.01


def test_depth_grows_only_into_nearer_samples():
    inverse_depth = np.full((5, 7), 0.25)
    inverse_depth[:, 3:] = 0.5  # nearer on the right
    inverse_depth[2, 5] = 0.2  # one farther sample in the foreground stays untouched
    seeds = np.zeros_like(inverse_depth, dtype=bool)
    seeds[:, 2] = True
    values, filled_at = grow_background_depth(inverse_depth, seeds, steps=3)
    assert np.all(filled_at[:, :2] == -1)  # never into the background itself
    assert np.all(filled_at[:, 3] == 1) and np.all(filled_at[[0, 1, 3, 4], 5] == 3)
    assert filled_at[2, 5] == -1 and filled_at[2, 6] == -1
    np.testing.assert_allclose(values[filled_at > 0], 0.25)


@pytest.mark.parametrize("band_px", [0.0, -3.0, float("nan")])
def test_a_band_width_that_is_not_positive_is_refused(band_px):
    with pytest.raises(SceneError, match="occlusion band"):
        _build(True, occlusion_band_px=band_px)


@pytest.mark.validator
@pytest.mark.parametrize("texture_format", ["png", "jpeg"])
def test_the_file_with_the_layer_passes_the_validator(tmp_path, texture_format):
    scene = _build(True, texture_format=texture_format)
    files = write_scene(scene, tmp_path / "box.glb")
    (report,) = validate_files([files.glb])
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, problems(report)
    contents = read_glb(files.glb)
    primitives = contents.document.meshes[0].primitives
    assert [p.material for p in primitives] == [0, 1]
    layer_positions = primitive_positions(contents.document, primitives[1])
    # Stored as int16 over the mesh's box: within half a step of 2 · half extent / 65534.
    half_step = mesh_node_matrix(contents.document).diagonal()[:3] / 65534
    assert np.all(np.abs(layer_positions - scene.background.positions) <= half_step * 1.001)
    assert contents.document.images[1].name == "background"
    assert contents.document.materials[1].extensions == {"KHR_materials_unlit": {}}


@pytest.mark.blender
def test_blender_renders_the_picture_unchanged_and_the_cut_strips_covered(tmp_path, artifacts_dir):
    renders = {}
    for name, fill, plain in (("off", False, True), ("on", True, True), ("on, compact", True, False)):
        files = write_scene(_build(fill, plain_gltf=plain), tmp_path / f"box_{name.replace(', ', '_')}.glb")
        output = render_glb(files.glb, artifacts_dir / f"scene_blender_occlusion_{name.replace(', ', '_')}.png",
                            "picture", tmp_path)
        renders[name] = np.asarray(Image.open(output).convert("RGBA")).astype(np.float64)
    covered_before = renders["off"][..., 3] == 255
    picture = np.asarray(_box_scene_inputs()[0], dtype=np.float64)
    error = {name: np.mean((render[..., :3] - picture)[covered_before] ** 2) for name, render in renders.items()}
    psnr = {name: 10 * math.log10(255.0**2 / max(value, 1e-12)) for name, value in error.items()}
    coverage = {name: float(np.mean(render[..., 3] == 255)) for name, render in renders.items()}
    print(f"\nBlender, picture camera: PSNR over the surface's pixels {psnr['off']:.1f} dB without the layer, "
          f"{psnr['on']:.1f} dB with it ({psnr['on, compact']:.1f} dB compact); pixels fully covered "
          f"{coverage['off']:.2%} → {coverage['on']:.2%} ({coverage['on, compact']:.2%} compact, least alpha "
          f"{renders['on, compact'][..., 3].min():.0f})")
    assert psnr["off"] >= 35.0 and abs(psnr["on"] - psnr["off"]) < 0.5
    assert coverage["off"] < 0.99 and coverage["on"] == 1.0
    # int16 positions part the layer's edge from the surface's on the same ray by ~0.002 px here
    # (docs/scene.md, Compact files): a sample of four may fall through, nothing more.
    assert abs(psnr["on, compact"] - psnr["on"]) < 0.1
    assert coverage["on, compact"] > 0.999 and renders["on, compact"][..., 3].min() >= 191


def _primitive_count(glb_bytes: bytes) -> int:
    import pygltflib

    return len(pygltflib.GLTF2.load_from_bytes(glb_bytes).meshes[0].primitives)


@pytest.mark.parametrize("arguments, layers", [([], 2), (["--occlusion-band", "6"], 2), (["--occlusion-band", "0"], 1)])
def test_the_scene_command_adds_the_layer_unless_the_band_is_zero(tmp_path, capsys, arguments, layers):
    from lib_depth3d.cli import main

    picture, depth, _ = _box_scene_inputs()
    picture.save(tmp_path / "box.png")
    np.save(tmp_path / "box.npy", depth.values)
    code = main(["scene", str(tmp_path / "box.png"), "--depth", str(tmp_path / "box.npy"), "--depth-kind", "depth",
                 "--fov", "60", "--resolution", "full", *arguments, "-o", str(tmp_path / "box.glb")])
    assert code == 0
    assert _primitive_count((tmp_path / "box.glb").read_bytes()) == layers
    assert ("background layer behind the edges" in capsys.readouterr().out) == (layers == 2)


@pytest.mark.parametrize("fill, layers", [(None, 2), (True, 2), (False, 1)])
def test_the_api_builds_the_layer_unless_told_not_to(fill, layers):
    import base64
    import io

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lib_depth3d.api import router

    picture, depth, _ = _box_scene_inputs()
    encoded = {}
    for name, image in (("image", picture), ("depth_image", Image.fromarray((255 / depth.values).astype(np.uint8)))):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        encoded[name] = base64.b64encode(buffer.getvalue()).decode("ascii")
    app = FastAPI()
    app.include_router(router)
    request = {**encoded, "fov_deg": 60, "resolution": 96, **({} if fill is None else {"fill_occlusions": fill})}
    answer = TestClient(app).post("/depth3d/v1/scene", json=request)
    assert answer.status_code == 200, answer.text
    assert _primitive_count(base64.b64decode(answer.json()["glb"])) == layers
