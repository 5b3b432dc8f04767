"""Synthetic cameras looking at a box: exact recovery without noise, focal accuracy with noise."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_depth3d.camera import Camera, calibrate, parse_lines_json
from lib_depth3d.errors import CalibrationError

WIDTH, HEIGHT = 1200, 800
AXIS_NAMES = "xyz"


def look_at(azimuth, elevation, roll, distance):
    """World→camera 4×4 for a camera at the given spherical position looking at the origin (y up)."""
    position = distance * np.array(
        [math.cos(elevation) * math.sin(azimuth), math.sin(elevation), math.cos(elevation) * math.cos(azimuth)]
    )
    forward = -position / np.linalg.norm(position)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rotation = np.array([right, up, -forward])
    rolled = np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
    view = np.eye(4)
    view[:3, :3] = rolled @ rotation
    view[:3, 3] = -view[:3, :3] @ position
    return view


def box_segments(axis):
    """Six 3D segments along world ``axis`` on the box [-1, 1]³: its four edges and two face midlines."""
    other = [i for i in range(3) if i != axis]
    offsets = [(-1, -1), (-1, 1), (1, -1), (1, 1), (0, -1), (0, 1)]
    segments = []
    for a, b in offsets:
        start, end = np.zeros(3), np.zeros(3)
        start[axis], end[axis] = -1.0, 1.0
        start[other], end[other] = (a, b), (a, b)
        segments.append([start, end])
    return np.array(segments)


def axis_sign(camera, axis):
    """'+a' when the world axis points away from the camera (its VP is in front), else '-a'."""
    direction = camera.world_to_camera[:3, axis]
    return ("+" if direction[2] < 0 else "-") + AXIS_NAMES[axis]


def lines_for(camera, axes, count, rng=None, noise_px=0.0, third_axis=None):
    entries = []
    for axis in axes + ([third_axis] if third_axis is not None else []):
        points = box_segments(axis)[:count].reshape(-1, 3)
        pixels, _ = camera.project(points)
        if rng is not None:
            pixels = pixels + rng.normal(0.0, noise_px, pixels.shape)
        entry = {"segments": pixels.reshape(-1, 2, 2).tolist()}
        if axis != third_axis:
            entry["axis"] = axis_sign(camera, axis)
        entries.append(entry)
    return entries


cameras = st.fixed_dictionaries(
    {
        "azimuth": st.floats(math.radians(20), math.radians(70)),
        "elevation": st.one_of(st.floats(math.radians(-45), math.radians(-8)), st.floats(math.radians(8), math.radians(45))),
        "roll": st.floats(math.radians(-25), math.radians(25)),
        "relative_focal_length": st.floats(0.8, 2.5),
        "quadrant": st.integers(0, 3),
        "portrait": st.booleans(),
    }
)


def make_camera(params, principal_shift=(0.0, 0.0)):
    width, height = (HEIGHT, WIDTH) if params["portrait"] else (WIDTH, HEIGHT)
    f = params["relative_focal_length"]
    view = look_at(
        params["azimuth"] + params["quadrant"] * math.pi / 2, params["elevation"], params["roll"], 2.9 * f + 0.5
    )
    focal_px = f * max(width, height) / 2
    principal = (width / 2 + principal_shift[0] * width, height / 2 + principal_shift[1] * height)
    return Camera(width, height, focal_px, principal, view)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(params=cameras, count=st.sampled_from([2, 4]))
def test_exact_recovery_without_noise(params, count):
    truth = make_camera(params)
    origin_px, _ = truth.project(np.zeros((1, 3)))
    handles_px, _ = truth.project(np.array([[0.0, 0, 0], [1.5, 0, 0]]))
    data = {
        "image": {"width": truth.image_width_px, "height": truth.image_height_px},
        "vanishing_points": lines_for(truth, [0, 2], count),
        "origin": origin_px[0].tolist(),
        "reference": {"axis": "+x", "distance": 1.5, "unit": "m", "handles": handles_px.tolist()},
    }
    calibration = calibrate(parse_lines_json(data))
    assert calibration.camera.focal_length_px == pytest.approx(truth.focal_length_px, rel=1e-9)
    np.testing.assert_allclose(calibration.view_transform[:3, :3], truth.world_to_camera[:3, :3], atol=1e-9)
    np.testing.assert_allclose(calibration.view_transform[:3, 3], truth.world_to_camera[:3, 3], atol=1e-8)
    assert max(calibration.vanishing_point_residuals_px) < 1e-6


@settings(max_examples=25, deadline=None, derandomize=True)
@given(params=cameras, shift=st.tuples(st.floats(-0.2, 0.2), st.floats(-0.2, 0.2)))
def test_principal_point_from_the_third_vanishing_point(params, shift):
    truth = make_camera(params, shift)
    data = {
        "image": {"width": truth.image_width_px, "height": truth.image_height_px},
        "vanishing_points": lines_for(truth, [0, 2], 2, third_axis=1),
        "principal_point": {"mode": "third_vp"},
    }
    calibration = calibrate(parse_lines_json(data))
    np.testing.assert_allclose(calibration.camera.principal_point_px, truth.principal_point_px, atol=1e-7)
    assert calibration.camera.focal_length_px == pytest.approx(truth.focal_length_px, rel=1e-9)
    np.testing.assert_allclose(calibration.view_transform[:3, :3], truth.world_to_camera[:3, :3], atol=1e-9)


def vanishing_point_px(camera, axis):
    """Where the world ``axis`` direction vanishes in the picture (pixels)."""
    direction = camera.world_to_camera[:3, axis]
    cx, cy = camera.principal_point_px
    f = camera.focal_length_px
    return [cx + f * direction[0] / -direction[2], cy - f * direction[1] / -direction[2]]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(params=cameras)
def test_one_vp_mode_recovers_the_camera_from_a_known_focal_length(params):
    truth = make_camera(params)
    data = {
        "image": {"width": truth.image_width_px, "height": truth.image_height_px},
        "mode": "one_vp",
        "vanishing_points": lines_for(truth, [0], 2) + [{"axis": axis_sign(truth, 2)}],
        "horizon": [vanishing_point_px(truth, 0), vanishing_point_px(truth, 2)],
        "focal_length_mm": truth.focal_length_mm(36.0),
        "sensor_mm": [24, 36] if params["portrait"] else [36, 24],
    }
    calibration = calibrate(parse_lines_json(data))
    assert calibration.camera.focal_length_px == pytest.approx(truth.focal_length_px, rel=1e-12)
    np.testing.assert_allclose(calibration.view_transform[:3, :3], truth.world_to_camera[:3, :3], atol=1e-9)
    assert calibration.warnings == []


def test_focal_error_with_one_pixel_noise_and_six_segments_per_axis():
    rng = np.random.default_rng(20260101)
    errors, failures = [], 0
    for _ in range(300):
        params = {
            "azimuth": rng.uniform(math.radians(25), math.radians(65)),
            "elevation": rng.uniform(math.radians(10), math.radians(40)) * rng.choice([-1, 1]),
            "roll": rng.uniform(math.radians(-15), math.radians(15)),
            "relative_focal_length": rng.uniform(0.9, 2.2),
            "quadrant": int(rng.integers(0, 4)),
            "portrait": bool(rng.integers(0, 2)),
        }
        truth = make_camera(params)
        data = {
            "image": {"width": truth.image_width_px, "height": truth.image_height_px},
            "vanishing_points": lines_for(truth, [0, 2], 6, rng=rng, noise_px=1.0),
        }
        try:
            calibration = calibrate(parse_lines_json(data))
        except CalibrationError:
            failures += 1
            continue
        errors.append(abs(calibration.camera.focal_length_px / truth.focal_length_px - 1))
    errors = np.array(errors) * 100
    print(
        f"\nfocal error with 1 px noise, 6 segments/axis, {len(errors)} cameras ({failures} unsolvable): "
        f"median {np.median(errors):.3f} %, mean {errors.mean():.3f} %, p90 {np.percentile(errors, 90):.3f} %, "
        f"p99 {np.percentile(errors, 99):.3f} %, max {errors.max():.3f} %"
    )
    assert failures <= 3
    assert np.median(errors) < 1.0
