"""Compact .glb files: int16 positions and uint16 UVs within the decimation's tolerances, 16-bit
indices where they fit, float32 kept on request and where 16 bits fall short."""

import dataclasses

import numpy as np
import pygltflib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lib_depth3d.camera import Camera
from lib_depth3d.cli import main
from lib_depth3d.depth.depthmap import DepthMap
from lib_depth3d.scene import SceneOptions, build_scene, glb_bytes
from lib_depth3d.scene.compact import (
    dequantise_uvs,
    index_dtype,
    mesh_encoding,
    position_quantisation,
    quantise_uvs,
)
from tests.support.glb import accessor_values, mesh_node_matrix, primitive_positions
from tests.support.gltf_validator import problems, validate_files
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

WIDTH, HEIGHT = 160, 120


def _scene(**options):
    depth = DepthMap(wavy_zdepth(WIDTH, HEIGHT, 7), "depth")
    return build_scene(smooth_picture(WIDTH, HEIGHT), depth, Camera.from_fov(WIDTH, HEIGHT, 60.0), SceneOptions(**options))


def _document(data: bytes) -> pygltflib.GLTF2:
    return pygltflib.GLTF2.load_from_bytes(data)


def _mesh_bytes(document: pygltflib.GLTF2) -> int:
    """Bytes of the buffer views that hold vertices and indices (not the pictures)."""
    pictures = {image.bufferView for image in document.images}
    mesh_views = {document.accessors[index].bufferView for primitive in document.meshes[0].primitives
                  for index in (primitive.attributes.POSITION, primitive.attributes.TEXCOORD_0, primitive.indices)}
    return sum(document.bufferViews[view].byteLength for view in mesh_views - pictures)


@pytest.fixture(scope="module")
def compact_and_plain():
    scene = _scene()
    return scene, _document(glb_bytes(scene)), _document(glb_bytes(dataclasses.replace(
        scene, options=dataclasses.replace(scene.options, plain_gltf=True))))


def test_the_default_file_stores_int16_positions_uint16_uvs_and_16_bit_indices(compact_and_plain):
    _, compact, _ = compact_and_plain
    assert compact.extensionsRequired == ["KHR_mesh_quantization"]
    assert "KHR_mesh_quantization" in compact.extensionsUsed
    for primitive in compact.meshes[0].primitives:
        position = compact.accessors[primitive.attributes.POSITION]
        uv = compact.accessors[primitive.attributes.TEXCOORD_0]
        assert (position.componentType, position.normalized) == (pygltflib.SHORT, True)
        assert compact.bufferViews[position.bufferView].byteStride == 8
        assert (uv.componentType, uv.normalized) == (pygltflib.UNSIGNED_SHORT, True)
        assert compact.accessors[primitive.indices].componentType == pygltflib.UNSIGNED_SHORT


def test_the_plain_file_stores_float32_without_the_extension(compact_and_plain):
    scene, _, plain = compact_and_plain
    assert "KHR_mesh_quantization" not in plain.extensionsUsed and not plain.extensionsRequired
    primitive = plain.meshes[0].primitives[0]
    assert plain.accessors[primitive.attributes.POSITION].componentType == pygltflib.FLOAT
    np.testing.assert_array_equal(primitive_positions(plain, primitive), scene.positions)
    np.testing.assert_array_equal(accessor_values(plain, primitive.attributes.TEXCOORD_0), scene.uvs)
    np.testing.assert_array_equal(mesh_node_matrix(plain), np.eye(4))


def test_dequantised_vertices_stay_within_the_decimations_tolerances(compact_and_plain):
    scene, compact, _ = compact_and_plain
    options = scene.options
    primitive = compact.meshes[0].primitives[0]
    positions = primitive_positions(compact, primitive)
    uvs = accessor_values(compact, primitive.attributes.TEXCOORD_0)
    pixels, depth = scene.camera.project(positions)  # a centred camera: the world is the camera frame
    exact_pixels, exact_depth = scene.camera.project(scene.positions)
    texel_shift_px = np.linalg.norm(pixels - exact_pixels, axis=1) + np.linalg.norm(
        (uvs - scene.uvs) * [WIDTH, HEIGHT], axis=1)
    assert texel_shift_px.max() <= options.max_texture_shift_px
    assert np.max(np.abs(depth - exact_depth) / exact_depth) <= options.max_depth_error
    # And the file's camera still sees each vertex where its texel lies, to a small fraction of a pixel.
    np.testing.assert_allclose(pixels, uvs * [WIDTH, HEIGHT], atol=0.02)


def test_a_vertex_takes_12_bytes_instead_of_20(compact_and_plain):
    scene, compact, plain = compact_and_plain
    surfaces = [scene] + ([scene.background] if scene.background is not None else [])
    vertices = sum(len(surface.positions) for surface in surfaces)
    index_bytes = sum(2 * surface.faces.size for surface in surfaces)  # 16-bit in both
    assert _mesh_bytes(plain) == 20 * vertices + index_bytes
    assert _mesh_bytes(compact) == 12 * vertices + index_bytes


def test_a_tolerance_16_bits_cannot_meet_keeps_float32_positions_and_plain_readers():
    scene = _scene(max_texture_shift_px=1e-5)
    encoding = mesh_encoding(scene)
    assert encoding.positions is None and not encoding.uint16_uvs and encoding.extensions_required == []
    document = _document(glb_bytes(scene))
    assert not document.extensionsRequired
    np.testing.assert_array_equal(primitive_positions(document, document.meshes[0].primitives[0]), scene.positions)


def test_more_than_65535_vertices_need_32_bit_indices():
    scene = _scene(resolution=None, decimate=False, cut_discontinuities=False)
    depth = DepthMap(wavy_zdepth(300, 225, 7), "depth")
    large = build_scene(smooth_picture(300, 225), depth, Camera.from_fov(300, 225, 60.0),
                        SceneOptions(resolution=None, decimate=False, cut_discontinuities=False, fill_occlusions=False))
    assert len(large.positions) > 65535 >= len(scene.positions)
    for built, component in ((scene, pygltflib.UNSIGNED_SHORT), (large, pygltflib.UNSIGNED_INT)):
        document = _document(glb_bytes(built))
        accessor = document.accessors[document.meshes[0].primitives[0].indices]
        assert accessor.componentType == component
        assert accessor.count == built.faces.size


def test_index_width_follows_the_vertex_count():
    assert index_dtype(65535) is np.uint16  # the largest index, 65534, is not primitive restart
    assert index_dtype(65536) is np.uint32


@pytest.mark.validator
def test_compact_and_plain_files_pass_the_validator(tmp_path):
    paths = []
    for name, scene in (("compact", _scene()), ("plain", _scene(plain_gltf=True)),
                        ("float_fallback", _scene(max_texture_shift_px=1e-5)),
                        ("walk", _scene(animation="walk"))):
        paths.append(tmp_path / f"{name}.glb")
        paths[-1].write_bytes(glb_bytes(scene))
    for path, report in zip(paths, validate_files(paths)):
        assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, (path.name, problems(report))


finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 50), st.just(3)), elements=finite),
       st.sampled_from([0, 1, 2]))
def test_quantised_positions_move_at_most_half_a_step_per_axis(points, flat_axis):
    points = points.copy()
    points[:, flat_axis] = points[0, flat_axis]  # a flat axis must still round-trip
    quantisation = position_quantisation(points)
    assert np.all(quantisation.half_extent > 0)
    moved = quantisation.dequantise(quantisation.quantise(points))
    half_step = quantisation.half_extent / 32767 / 2
    assert np.all(np.abs(moved - points) <= half_step * (1 + 1e-9) + 1e-12 * np.abs(points))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 50), st.just(2)), elements=st.floats(0, 1, width=32)))
def test_quantised_uvs_move_at_most_half_a_step(uvs):
    assert np.all(np.abs(dequantise_uvs(quantise_uvs(uvs)) - uvs) <= 0.5 / 65535 + 1e-9)


def test_the_command_writes_compact_files_and_plain_ones_with_plain_gltf(tmp_path):
    picture, depth = tmp_path / "picture.png", tmp_path / "depth.npy"
    smooth_picture(WIDTH, HEIGHT).save(picture)
    np.save(depth, wavy_zdepth(WIDTH, HEIGHT, 7))
    components = {}
    for flags in ([], ["--plain-gltf"]):
        output = tmp_path / f"scene{len(flags)}.glb"
        assert main(["scene", str(picture), "--depth", str(depth), "--depth-kind", "depth", *flags,
                     "-o", str(output)]) == 0
        document = _document(output.read_bytes())
        components[tuple(flags)] = document.accessors[document.meshes[0].primitives[0].attributes.POSITION].componentType
    assert components == {(): pygltflib.SHORT, ("--plain-gltf",): pygltflib.FLOAT}


def test_the_seam_where_the_layer_meets_the_surface_is_measured_and_bounded(monkeypatch):
    from lib_depth3d.scene import compact
    from lib_depth3d.scene.frames import world_to_gltf
    from tests.scene.test_occlusion import _build

    scene = _build(True)
    surface, layer = scene.positions.astype(np.float64), scene.background.positions.astype(np.float64)
    quantisation = compact.position_quantisation(surface, layer)
    error = compact.position_error([surface, layer], quantisation, scene.camera, world_to_gltf(scene.world_up))
    # Brute force: every layer vertex on a surface vertex's ray, and how far apart rounding puts them.
    surface_px, layer_px = scene.camera.project(surface)[0], scene.camera.project(layer)[0]
    apart = np.linalg.norm(layer_px[:, None] - surface_px[None], axis=2)
    layer_index, surface_index = np.nonzero(apart < 1e-3)
    assert len(layer_index) > 50
    moved_surface = scene.camera.project(quantisation.dequantise(quantisation.quantise(surface)))[0]
    moved_layer = scene.camera.project(quantisation.dequantise(quantisation.quantise(layer)))[0]
    gaps = np.linalg.norm(moved_layer[layer_index] - moved_surface[surface_index], axis=1)
    assert error.seam_px == pytest.approx(gaps.max(), rel=1e-9)
    assert 0 < error.seam_px <= compact.MAX_SEAM_PX
    assert compact.mesh_encoding(scene).positions is not None
    monkeypatch.setattr(compact, "MAX_SEAM_PX", error.seam_px / 2)
    assert compact.mesh_encoding(scene).positions is None
