"""Pixel-exact depth edges (lib_depth3d/scene/edges.py): from the file's camera every pixel shows
its own texel, edges included, for at most 1.3× the triangles; from a moved camera the scene is
closer to the true room than with the cut strips left to the background layer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from lib_depth3d.camera import Camera
from lib_depth3d.camera.sources import FspyCamera
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.scene import SceneOptions, build_scene
from lib_depth3d.scene.frames import rotation_from_quaternion, world_to_gltf
from tests.support.paths import EXAMPLES_DIR
from tests.support.raster import Primitive, View, picture_view, psnr, render, scene_primitives
from tests.support.rendered_room import render_room, room_picture
from tests.support.scene_inputs import plane_zdepth

ROOM = EXAMPLES_DIR / "room"
MOVED_RIGHT_M, MOVED_IN_M = 0.35, 0.4


def _total_triangles(scene) -> int:
    return len(scene.faces) + (0 if scene.background is None else len(scene.background.faces))


def _shipped_room(pixel_edges: bool):
    picture = Image.open(ROOM / "room.png").convert("RGB")
    choice = FspyCamera((ROOM / "room.fspy").read_bytes()).choose(picture)
    options = SceneOptions(world_up="z", calibrated_unit="m", pixel_edges=pixel_edges)
    return picture, build_scene(picture, DepthMap(np.load(ROOM / "room_depth.npy"), "depth"), choice.camera, options)


@pytest.fixture(scope="module")
def rendered_room():
    room = render_room(640, 480, 70.0, -10.0, 15.0)
    picture = Image.fromarray(room_picture(room))
    scenes = {
        edges: build_scene(picture, DepthMap(room.zdepth.astype(np.float32), "metric"), room.camera,
                           SceneOptions(world_up="z", calibrated_unit="m", pixel_edges=edges))
        for edges in (False, True)
    }
    return room, picture, scenes


def test_the_shipped_room_renders_at_45_db_over_all_pixels_for_at_most_1_3_times_the_triangles():
    picture, before = _shipped_room(False)
    _, after = _shipped_room(True)
    expected = np.asarray(picture, dtype=np.float64)
    figures = {}
    for name, scene in (("before", before), ("after", after)):
        colours, covered = render(picture_view(scene), scene_primitives(scene))
        assert covered.all()
        figures[name] = psnr(colours, expected)
    ratio = _total_triangles(after) / _total_triangles(before)
    print(f"\nshipped room from its camera, all pixels: {figures['before']:.1f} dB → {figures['after']:.1f} dB; "
          f"triangles {_total_triangles(before)} → {_total_triangles(after)} ({ratio:.3f}×)")
    assert figures["after"] >= 45.0
    assert figures["before"] < 40.0  # the measure sees the stepped edges
    assert ratio <= 1.3


@pytest.mark.parametrize("canvas", [(724, 543), (876, 657)])
def test_a_canvas_of_another_size_still_shows_the_picture_at_45_db(canvas):
    """As the tab's viewer and the page draw the room (their canvases in the browser tests): the
    picture magnified, sampled between pixel centres, against the picture magnified bilinearly."""
    from tests.browser.test_viewer import picture_as_framed

    width, height = canvas
    figures = {}
    for edges in (False, True):
        picture, scene = _shipped_room(edges)
        view = picture_view(scene)
        scale = width / picture.width
        magnified = View(view.camera_to_gltf, view.focal_length_px * scale,
                         (view.principal_point_px[0] * scale, view.principal_point_px[1] * scale), canvas)
        figures[edges] = psnr(render(magnified, scene_primitives(scene))[0], picture_as_framed(picture, width, height))
    print(f"\nshipped room on a {width}×{height} canvas: {figures[False]:.1f} dB → {figures[True]:.1f} dB")
    assert figures[True] >= 45.0 and figures[False] < 40.0


def test_a_rendered_room_with_hard_edges_renders_at_45_db_from_its_camera(rendered_room):
    _, picture, scenes = rendered_room
    expected = np.asarray(picture, dtype=np.float64)
    figures = {edges: psnr(render(picture_view(scene), scene_primitives(scene))[0], expected)
               for edges, scene in scenes.items()}
    ratio = _total_triangles(scenes[True]) / _total_triangles(scenes[False])
    print(f"\nrendered room from its camera: {figures[False]:.1f} dB → {figures[True]:.1f} dB, "
          f"{ratio:.3f}× the triangles")
    assert figures[True] >= 45.0 and figures[False] < 40.0
    assert ratio <= 1.3


def test_a_moved_camera_sees_the_true_room_better(rendered_room):
    """Over the pixels a camera moved 0.35 m right and 0.4 m in sees of surfaces the picture
    also shows, the scene's render against the true room's render from there."""
    room, _, scenes = rendered_room
    camera = room.camera
    moved_position = camera.position_world + MOVED_RIGHT_M * camera.camera_to_world[:3, 0] \
        - MOVED_IN_M * camera.camera_to_world[:3, 2]
    moved = render_room(640, 480, 70.0, -10.0, 15.0, position_m=tuple(moved_position))
    truth = room_picture(moved).astype(np.float64)
    height, width = moved.zdepth.shape
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    points = moved.camera.unproject(np.stack([columns, rows], -1).reshape(-1, 2), moved.zdepth.reshape(-1))
    pixels, depth = camera.project(points)
    column, row = np.floor(pixels[:, 0]).astype(int), np.floor(pixels[:, 1]).astype(int)
    inside = (column >= 0) & (column < width) & (row >= 0) & (row < height) & (depth > 0)
    seen_in_picture = np.zeros(len(points), dtype=bool)
    seen_in_picture[inside] = np.abs(room.zdepth[row[inside], column[inside]] - depth[inside]) < 0.01 * depth[inside]
    view = View(world_to_gltf("z") @ moved.camera.camera_to_world, moved.camera.focal_length_px,
                moved.camera.principal_point_px, (width, height))
    figures = {}
    for edges, scene in scenes.items():
        colours, covered = render(view, scene_primitives(scene))
        both = seen_in_picture.reshape(height, width) & covered
        assert both.mean() > 0.9
        figures[edges] = psnr(colours, truth, both)
    print(f"\nmoved camera vs the true room over pixels both see: {figures[False]:.2f} dB → {figures[True]:.2f} dB")
    assert figures[True] >= figures[False] + 2.0


def _texel_coordinates(width: int, height: int) -> np.ndarray:
    """A texture whose texel (c, r) holds its own centre (c + 0.5, r + 0.5): sampled bilinearly
    it gives back the picture position a render sees."""
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    return np.stack([columns, rows, np.zeros_like(rows)], -1)


@settings(max_examples=20, deadline=None)
@given(
    size=st.tuples(st.integers(40, 90), st.integers(30, 70)),
    box=st.tuples(st.floats(0.1, 0.5), st.floats(0.1, 0.5), st.floats(0.2, 0.45), st.floats(0.2, 0.45)),
    box_depth=st.floats(1.0, 1.5),
    spacing_px=st.floats(1.05, 2.0),
    principal=st.tuples(st.floats(0.35, 0.65), st.floats(0.35, 0.65)),
)
def test_from_the_file_camera_every_pixel_centre_sees_its_own_texel(size, box, box_depth, spacing_px, principal):
    """Grids of 1.05 to 2 px between samples (the default grid has 1.25 px on a 640 px picture; at
    one per pixel the centres sit on vertices, where this rasteriser's edge tests are not
    watertight), a box at least 2.6 times as near as the wall: its edges are cut."""
    width, height = size
    samples = round(max(width, height) / spacing_px)
    camera = Camera(width, height, 2.0 * width, (principal[0] * width, principal[1] * height))
    zdepth = plane_zdepth(camera, np.array([0.2, -0.1, 1.0]) / np.linalg.norm([0.2, -0.1, 1.0]), 4.0)
    top, left = int(box[0] * height), int(box[1] * width)
    zdepth[top : top + int(box[2] * height) + 1, left : left + int(box[3] * width) + 1] = box_depth
    picture = Image.new("RGB", (width, height))
    scene = build_scene(picture, DepthMap(zdepth, "depth"), camera, SceneOptions(resolution=samples))
    assert scene.cut_triangles > 0
    surface = Primitive(scene.positions, scene.uvs, scene.faces, _texel_coordinates(width, height))
    seen, covered = render(picture_view(scene), [surface])
    rows, columns = np.mgrid[0:height, 0:width] + 0.5
    assert covered.all()  # the surface alone: no pixel is left to the background layer
    # Within its own pixel: merged blocks slide the texture by at most the decimation's 0.25 px,
    # single steep cells beside a cut by up to 0.3 px here.
    assert np.abs(seen[..., 0] - columns).max() < 0.5 and np.abs(seen[..., 1] - rows).max() < 0.5
    # A canvas √2 times the picture samples between pixel centres: every footprint is covered.
    view = picture_view(scene)
    magnified = View(view.camera_to_gltf, view.focal_length_px * 2**0.5,
                     (view.principal_point_px[0] * 2**0.5, view.principal_point_px[1] * 2**0.5),
                     (int(width * 2**0.5), int(height * 2**0.5)))
    assert render(magnified, [surface])[1].all()
    without = build_scene(picture, DepthMap(zdepth, "depth"), camera,
                          SceneOptions(resolution=samples, pixel_edges=False))
    assert not render(picture_view(without), [Primitive(without.positions, without.uvs, without.faces,
                                                        _texel_coordinates(width, height))])[1].all()


def test_edge_vertices_lie_on_the_rays_of_their_pixel_corners(rendered_room):
    room, _, scenes = rendered_room
    scene, before = scenes[True], scenes[False]
    added = slice(len(before.positions), len(scene.positions))
    assert len(scene.positions) > len(before.positions)
    gltf_to_world = np.linalg.inv(world_to_gltf("z"))
    world = scene.positions[added].astype(np.float64) @ gltf_to_world[:3, :3].T
    pixels, depth = scene.camera.project(world)
    corners = scene.uvs[added].astype(np.float64) * [640, 480]
    np.testing.assert_allclose(pixels, corners, atol=2e-3)
    np.testing.assert_allclose(corners, np.round(corners), atol=1e-3)  # on pixel corners
    assert np.all(depth > 0)


def test_nothing_changes_where_nothing_was_cut():
    camera = Camera.from_fov(64, 48, 60.0)
    zdepth = plane_zdepth(camera, np.array([0.0, 0.3, 1.0]) / np.hypot(0.3, 1.0), 3.0)
    picture = Image.new("RGB", (64, 48), (90, 120, 150))
    with_edges = build_scene(picture, DepthMap(zdepth, "depth"), camera, SceneOptions(resolution=40))
    without = build_scene(picture, DepthMap(zdepth, "depth"), camera, SceneOptions(resolution=40, pixel_edges=False))
    np.testing.assert_array_equal(with_edges.faces, without.faces)
    np.testing.assert_array_equal(with_edges.positions, without.positions)


@pytest.mark.blender
def test_blender_renders_the_shipped_room_at_45_db_over_all_pixels(tmp_path, artifacts_dir):
    """Blender 3.4, Cycles, one sample per pixel (on its centre), the file as written by default
    (compact) and plain."""
    from lib_depth3d.scene import write_scene
    from tests.support.blender import render_glb

    picture, scene = _shipped_room(True)
    expected = np.asarray(picture, dtype=np.float64)
    for plain in (False, True):
        name = "plain" if plain else "compact"
        as_written = replace(scene, options=replace(scene.options, plain_gltf=plain))
        files = write_scene(as_written, tmp_path / f"room_{name}.glb")
        output = render_glb(files.glb, artifacts_dir / f"edges_blender_room_{name}.png", "picture", tmp_path, samples=1)
        rendered = np.asarray(Image.open(output).convert("RGBA")).astype(np.float64)
        covered = rendered[..., 3] == 255
        figure = psnr(rendered[..., :3] * covered[..., None], expected)
        print(f"\nBlender, shipped room ({name}), one sample per pixel: {figure:.1f} dB over all pixels, "
              f"{covered.mean():.2%} covered")
        assert figure >= 45.0


def test_from_the_file_camera_no_pixel_shows_the_background_layer(rendered_room):
    """The layer starts at far corners of cut cells, which on the default grid may interpolate
    across the edge; its vertices are held behind the farthest pixel near them, so the edge
    band's background pixels, at their own depth, stay in front of it."""
    _, _, scenes = rendered_room
    shipped = _shipped_room(True)[1]
    for scene in (scenes[True], shipped):
        width, height = scene.camera.image_size_px
        layer = scene.background
        white = np.full((*np.asarray(layer.texture).shape[:2], 3), 255.0)
        marked = Primitive(layer.positions, layer.uvs, layer.faces, white)
        seen, covered = render(picture_view(scene), [Primitive(scene.positions, scene.uvs, scene.faces,
                                                               np.zeros((height, width, 3))), marked])
        assert covered.all()
        assert np.count_nonzero(seen[..., 0] > 127) == 0


def _example_room_tool():
    """tools/make_example_room.py, which ray-casts the shipped room (not a package: loaded by path)."""
    import importlib.util

    from tests.support.paths import REPO_ROOT

    spec = importlib.util.spec_from_file_location("make_example_room", REPO_ROOT / "tools" / "make_example_room.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_walks_last_frame_sees_the_true_room_better():
    """The issue's case: the room's `walk` ends 1.4 m in, where the outlines carried a ragged
    fringe. Its last frame against the room ray-cast from there (3×3 supersampled, as room.png),
    over the pixels of surfaces the picture shows."""
    tool = _example_room_tool()
    picture = Image.open(ROOM / "room.png").convert("RGB")
    camera = FspyCamera((ROOM / "room.fspy").read_bytes()).choose(picture).camera
    width, height = picture.size
    frames = {}
    for edges in (False, True):
        scene = build_scene(picture, DepthMap(np.load(ROOM / "room_depth.npy"), "depth"), camera,
                            SceneOptions(world_up="z", calibrated_unit="m", animation="walk", pixel_edges=edges))
        move = scene.animation
        pose = np.eye(4)
        pose[:3, :3] = rotation_from_quaternion(move.rotations_xyzw[-1])
        pose[:3, 3] = move.translations[-1]
        frames[edges] = render(View(pose, camera.focal_length_px, camera.principal_point_px, (width, height)),
                               scene_primitives(scene))[0]
    world_pose = np.linalg.inv(world_to_gltf("z")) @ pose
    world_to_camera, position = np.linalg.inv(world_pose), world_pose[:3, 3]
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    truth = np.zeros((height, width, 3))
    offsets = (np.arange(tool.SUPERSAMPLING) + 0.5) / tool.SUPERSAMPLING
    for dy in offsets:
        for dx in offsets:
            truth += tool.render(world_to_camera, columns + dx, rows + dy, position)[0]
    truth = np.clip(np.round(truth / tool.SUPERSAMPLING**2 * 255), 0, 255)
    zdepth = tool.render(world_to_camera, columns + 0.5, rows + 0.5, position)[1]
    directions = np.stack([(columns + 0.5 - width / 2) / tool.focal_length_px(),
                           (height / 2 - rows - 0.5) / tool.focal_length_px(), -np.ones_like(columns)], -1)
    points = (position + (directions @ world_to_camera[:3, :3]) * zdepth[..., None]).reshape(-1, 3)
    pixels, depth = camera.project(points)
    column, row = np.floor(pixels[:, 0]).astype(int), np.floor(pixels[:, 1]).astype(int)
    inside = (column >= 0) & (column < width) & (row >= 0) & (row < height) & (depth > 0)
    picture_depth = np.load(ROOM / "room_depth.npy")
    seen = np.zeros(len(points), dtype=bool)
    seen[inside] = np.abs(picture_depth[row[inside], column[inside]] - depth[inside]) < 0.01 * depth[inside]
    seen = seen.reshape(height, width)
    assert seen.mean() > 0.9
    figures = {edges: psnr(frame, truth, seen) for edges, frame in frames.items()}
    print(f"\nthe walk's last frame vs the true room: {figures[False]:.1f} dB → {figures[True]:.1f} dB")
    assert figures[True] >= figures[False] + 3.0


@pytest.mark.parametrize("plain", [False, True])
def test_the_rooms_file_with_pixel_edges_passes_the_validator(tmp_path, plain):
    from lib_depth3d.scene import write_scene
    from tests.support.gltf_validator import problems, validate_files

    _, scene = _shipped_room(True)
    files = write_scene(replace(scene, options=replace(scene.options, plain_gltf=plain)), tmp_path / "room.glb")
    (report,) = validate_files([files.glb])
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, problems(report)



@settings(max_examples=60, deadline=None)
@given(height=st.integers(1, 30), width=st.integers(1, 30), reach_px=st.floats(0.25, 9.0),
       points=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_the_farthest_pixel_near_a_point_is_the_least_inverse_depth_within_reach(height, width, reach_px, points,
                                                                              seed):
    from lib_depth3d.scene.edges import farthest_inverse_depth_near

    rng = np.random.default_rng(seed)
    zdepth = rng.uniform(0.5, 30.0, (height, width)).astype(np.float32)
    x_px, y_px = rng.uniform(0, width, points), rng.uniform(0, height, points)
    inverse = 1.0 / zdepth.astype(np.float64)
    expected = []
    for x, y in zip(x_px, y_px):
        # Every pixel centre within reach along each axis; those past the border read the border's pixel.
        columns = np.arange(-12, width + 12)
        rows = np.arange(-12, height + 12)
        columns = np.clip(columns[np.abs(columns + 0.5 - x) <= reach_px], 0, width - 1)
        rows = np.clip(rows[np.abs(rows + 0.5 - y) <= reach_px], 0, height - 1)
        near = inverse[np.ix_(rows, columns)]
        expected.append(near.min() if near.size else np.inf)
    np.testing.assert_array_equal(farthest_inverse_depth_near(zdepth, x_px, y_px, reach_px), expected)
