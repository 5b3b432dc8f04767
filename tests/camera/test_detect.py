"""Detected vanishing lines: rendered rooms recover their camera; bad pictures get one clear sentence."""

import io
import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageOps

from lib_depth3d.camera import calibrate, parse_lines_json, read_fspy
from lib_depth3d.camera.detect import (
    DISAGREE,
    NO_LINES,
    ONE_DIRECTION,
    TEXTURELESS,
    detect_calibration,
    pieces_of_curves,
    true_horizontal_fov_interval_deg,
)
from lib_depth3d.cli import main
from lib_depth3d.errors import CalibrationError
from tests.support.rooms import cube_camera, render_cube_over_decoy_grid, render_room, room_camera

# width, height, horizontal FOV (deg), yaw (deg), pitch (deg): views across the room toward a corner.
ROOM_VIEWS = [
    (640, 480, 70, 35, 0),
    (480, 640, 60, 130, -12),
    (800, 450, 85, 225, 10),
    (600, 600, 55, 310, -20),
    (720, 540, 75, 60, 15),
    (640, 480, 50, 150, -5),
    (800, 450, 65, 240, -15),
    (480, 640, 80, 330, 8),
]


def rotation_error_deg(found: np.ndarray, truth: np.ndarray) -> float:
    """Smallest angle between two world→camera rotations over relabellings of the world axes."""
    best = 180.0
    for order in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            relabel = np.zeros((3, 3))
            relabel[list(order), [0, 1, 2]] = signs
            if np.linalg.det(relabel) < 0:
                continue
            cosine = (np.trace((found @ relabel).T @ truth) - 1.0) / 2.0
            best = min(best, math.degrees(math.acos(np.clip(cosine, -1.0, 1.0))))
    return best


@pytest.fixture(scope="module", params=range(len(ROOM_VIEWS)), ids=lambda i: "{}x{}-fov{}-yaw{}-pitch{}".format(*ROOM_VIEWS[i]))
def detected_room(request):
    width, height, fov, yaw, pitch = ROOM_VIEWS[request.param]
    room = render_room(room_camera(width, height, fov, yaw, pitch), seed=request.param)
    return room, fov, detect_calibration(room.picture)


def test_rendered_rooms_give_their_field_of_view_and_rotation(detected_room):
    room, fov, detection = detected_room
    calibration = detection.calibration
    assert math.degrees(calibration.true_horizontal_fov_rad) == pytest.approx(fov, abs=0.5)
    assert rotation_error_deg(calibration.view_transform[:3, :3], room.camera.world_to_camera[:3, :3]) < 0.5
    assert detection.confidence.high


def test_the_field_of_view_interval_holds_the_true_one_and_is_narrow_on_rooms(detected_room):
    _, fov, detection = detected_room
    low, high = detection.confidence.fov_interval_deg
    assert low <= fov <= high
    assert high - low <= 3.0


def test_the_up_axis_is_the_pictures_vertical_and_the_origin_is_on_the_floor(detected_room):
    room, _, detection = detected_room
    world_up_in_camera = detection.calibration.view_transform[:3, 2]
    true_up_in_camera = room.camera.world_to_camera[:3, 2]
    assert math.degrees(math.acos(np.clip(world_up_in_camera @ true_up_in_camera, -1, 1))) < 0.5
    origin_ray = room.camera.unproject(np.array([detection.input.origin_px]), np.ones(1))[0] - room.camera.position_world
    assert origin_ray[2] < 0  # the true room's floor (z = 0) is what the origin's pixel sees


def test_detected_lines_are_an_ordinary_calibration_input(detected_room, tmp_path):
    _, _, detection = detected_room
    again = calibrate(parse_lines_json(json.dumps(detection.lines_json())))
    np.testing.assert_allclose(again.view_transform, detection.calibration.view_transform, atol=1e-9)
    counts = detection.confidence.segments_per_direction
    assert counts == tuple(len(v.segments_px) for v in detection.input.vanishing_points)
    assert min(counts[:2]) >= 2
    assert detection.confidence.misfit_px == pytest.approx(max(detection.calibration.vanishing_point_residuals_px))


def test_confidence_is_low_when_no_third_direction_checks_the_first_two():
    room = render_room(room_camera(640, 480, 70, 35, 0), seed=0)
    detection = detect_calibration(room.picture)
    assert detection.confidence.orthogonality_residual_deg < 1.0
    skewed = replace(detection.confidence, orthogonality_residual_deg=5.0)
    assert not skewed.high
    unchecked = replace(detection.confidence, orthogonality_residual_deg=None)
    assert not unchecked.high  # two directions fit some focal length whatever it is


def test_a_barely_determined_focal_length_is_not_high_confidence_and_reports_as_json():
    room = render_room(room_camera(640, 480, 70, 35, 0), seed=0)
    confidence = detect_calibration(room.picture).confidence
    assert confidence.fov_sensitivity_deg < 0.5
    for sensitivity, reported in ((3.0, 3.0), (math.inf, None)):
        loose = replace(confidence, fov_sensitivity_deg=sensitivity)
        assert not loose.high
        assert json.loads(json.dumps(loose.to_report(), allow_nan=False))["fieldOfViewSensitivityDegrees"] == reported


def test_a_wide_field_of_view_interval_is_not_high_confidence_and_reports_as_json():
    room = render_room(room_camera(640, 480, 70, 35, 0), seed=0)
    confidence = detect_calibration(room.picture).confidence
    assert confidence.high
    loose = replace(confidence, fov_interval_deg=(62.0, 78.0))
    assert not loose.high
    assert json.loads(json.dumps(loose.to_report(), allow_nan=False))["fieldOfViewIntervalDegrees"] == [62.0, 78.0]


def test_segments_that_barely_fix_the_focal_length_give_a_wide_interval():
    # Two directions whose VPs lie far outside the picture, each fixed by three short segments.
    room = render_room(room_camera(640, 480, 70, 35, 0), seed=0)
    detection = detect_calibration(room.picture)
    inp = detection.input
    shortened = tuple(
        replace(v, segments_px=np.stack([v.segments_px.mean(axis=1) - 0.1 * (v.segments_px[:, 1] - v.segments_px[:, 0]),
                                         v.segments_px.mean(axis=1) + 0.1 * (v.segments_px[:, 1] - v.segments_px[:, 0])], axis=1)[:3])
        for v in inp.vanishing_points[:2]
    )
    from lib_depth3d.camera.detect import SegmentFit

    rng = np.random.default_rng(0)
    noisy = tuple(replace(v, segments_px=v.segments_px + rng.normal(0, 0.3, v.segments_px.shape)) for v in shortened)
    loose = SegmentFit.of(calibrate(replace(inp, vanishing_points=noisy)), 0.2 * 2 / 640).fov_interval_deg()
    firm = SegmentFit.of(detection.calibration, 0.2 * 2 / 640).fov_interval_deg()
    assert loose[1] - loose[0] > 3 * (firm[1] - firm[0])


@given(st.floats(5.0, 170.0), st.floats(0.1, 40.0), st.floats(0.3, 1.0), st.floats(-3.0, 3.0), st.floats(0.0, 1.0))
def test_the_true_field_of_view_interval_bounds_every_camera_of_the_range(low_deg, width_deg, half_width, principal_x, at):
    # A principal point placed by a third direction may lie beyond the picture's edge; then the
    # true field of view is not monotonic in the focal length, and the range's ends do not bound it.
    high_deg = min(low_deg + width_deg, 175.0)
    low, high = true_horizontal_fov_interval_deg((math.radians(low_deg), math.radians(high_deg)), half_width, principal_x)
    assert low <= high
    fov = math.radians(low_deg + at * (high_deg - low_deg))
    focal = 1.0 / math.tan(fov / 2.0)
    true = math.degrees(math.atan((half_width - principal_x) / focal) + math.atan((half_width + principal_x) / focal))
    assert low - 0.05 <= true <= high + 0.05


@pytest.mark.parametrize("pitch, checked", [(0, False), (-20, True)])
def test_the_principal_point_is_checked_only_when_a_direction_fixes_it(pitch, checked):
    detection = detect_calibration(render_room(room_camera(640, 480, 60, 35, pitch), seed=0).picture)
    assert detection.confidence.principal_point_checked is checked
    assert detection.to_report()["detection"]["confidence"]["principalPointAssumedAtCentre"] is not checked


def test_a_level_camera_with_a_sideways_lens_shift_says_its_principal_point_is_assumed():
    # The vertical VP is at infinity, so a shifted lens looks like a turned camera: the rotation
    # is 5.9° off and nothing in the lines shows it; the confidence says what was assumed.
    truth = room_camera(640, 480, 70, 130, 0, (0.15, 0.0))
    detection = detect_calibration(render_room(truth, seed=0).picture)
    assert rotation_error_deg(detection.calibration.view_transform[:3, :3], truth.world_to_camera[:3, :3]) > 3.0
    assert detection.confidence.principal_point_assumed_at_centre


def test_command_prints_the_report_with_the_lines_and_writes_them(tmp_path, capsys):
    room = render_room(room_camera(640, 480, 70, 35, 0), seed=0)
    picture = tmp_path / "room.png"
    room.picture.save(picture)
    lines, project = tmp_path / "lines.json", tmp_path / "room.fspy"
    assert main(["calibrate", "--detect", str(picture), "--write-lines", str(lines), "--write-fspy", str(project)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trueHorizontalFieldOfViewDegrees"] == pytest.approx(70, abs=0.5)
    assert report["detection"]["lines"] == json.loads(lines.read_text())
    assert report["detection"]["confidence"]["high"] is True
    from_project = calibrate(read_fspy(project).calibration_input())
    assert math.degrees(from_project.true_horizontal_fov_rad) == pytest.approx(report["trueHorizontalFieldOfViewDegrees"], abs=1e-9)


def test_write_lines_needs_detect(tmp_path, capsys):
    assert main(["calibrate", "--lines", str(tmp_path / "x.json"), "--write-lines", str(tmp_path / "y.json")]) == 2
    assert "--write-lines goes with --detect" in capsys.readouterr().err


def random_room_views(count: int, seed: int = 1):
    """Views of any yaw (so also facing one wall head-on), pitch ±25°, FOV 40°–95°, five aspect ratios."""
    rng = np.random.default_rng(seed)
    sizes = [(640, 480), (480, 640), (800, 450), (600, 600), (720, 540)]
    return [(*sizes[i % 5], rng.uniform(40, 95), rng.uniform(0, 360), rng.uniform(-25, 25)) for i in range(count)]


def test_high_confidence_is_not_given_to_a_wrong_camera():
    # Views 3–9 of this seed: five that face one wall and miss by 0.67° to 68°, two within 0.5°.
    for index, (width, height, fov, yaw, pitch) in list(enumerate(random_room_views(10)))[3:]:
        truth = room_camera(width, height, fov, yaw, pitch)
        try:
            detection = detect_calibration(render_room(truth, seed=index).picture)
        except CalibrationError:
            continue
        found = detection.calibration
        error = max(
            abs(math.degrees(found.true_horizontal_fov_rad) - fov),
            rotation_error_deg(found.view_transform[:3, :3], truth.world_to_camera[:3, :3]),
        )
        assert error < 1.0 or not detection.confidence.high, (index, error)


# width, height, horizontal FOV, yaw, pitch: a cube seen from above a corner, as in a 3D viewport.
CUBE_VIEWS = [
    (993, 577, 75, 40, -25),
    (993, 577, 60, 20, -30),
    (993, 577, 70, 55, -20),
    (800, 600, 50, 35, -35),
    (993, 577, 65, 30, -28),
    (993, 577, 80, 45, -22),
    (1024, 768, 55, 25, -30),
    (640, 480, 70, 50, -25),
]


def test_a_few_long_edges_outweigh_many_short_dashes_of_a_decoy_grid():
    # Counting segment length, the grid's dashes won: rotation 14° off in 7 of these 8 views.
    fov_errors, rotation_errors = [], []
    for width, height, fov, yaw, pitch in CUBE_VIEWS:
        truth = cube_camera(width, height, fov, yaw, pitch)
        decoy = cube_camera(width, height, 0.7 * fov, yaw + 12, pitch + 8)
        found = detect_calibration(render_cube_over_decoy_grid(truth, decoy)).calibration
        fov_errors.append(abs(math.degrees(found.true_horizontal_fov_rad) - fov))
        rotation_errors.append(rotation_error_deg(found.view_transform[:3, :3], truth.world_to_camera[:3, :3]))
    assert np.median(rotation_errors) < 2.0 and max(rotation_errors) < 4.0, rotation_errors
    assert np.median(fov_errors) < 2.0 and max(fov_errors) < 6.5, fov_errors


def test_two_directions_alone_are_never_high_confidence():
    # Views of seed 7 that face one wall; with two directions they were once "high" and 31°-52° off.
    views = random_room_views(60, seed=7)
    for index in (2, 34, 44, 49):
        truth = room_camera(*views[index])
        detection = detect_calibration(render_room(truth, seed=100 + index).picture)
        found = detection.calibration
        error = max(
            abs(math.degrees(found.true_horizontal_fov_rad) - views[index][2]),
            rotation_error_deg(found.view_transform[:3, :3], truth.world_to_camera[:3, :3]),
        )
        assert error < 1.0 or not detection.confidence.high, (index, error)
        if len(detection.confidence.segments_per_direction) == 2:
            assert not detection.confidence.high


# --- bad pictures ------------------------------------------------------------------------------
def stripes(*families):
    """A light picture with dark 3-px lines; each family is a list of ((x0, y0), (x1, y1))."""
    picture = Image.new("L", (640, 480), 200)
    draw = ImageDraw.Draw(picture)
    for family in families:
        for line in family:
            draw.line(line, fill=30, width=3)
    return picture


def smooth_blobs():
    y, x = np.mgrid[0:480, 0:640]
    values = 128 + 60 * np.sin(x / 37.0 + np.sin(y / 23.0)) * np.cos(y / 41.0 + np.cos(x / 29.0))
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))


BAD_PICTURES = {
    "textureless": (lambda: Image.new("RGB", (640, 480), (120, 130, 140)), TEXTURELESS),
    "no straight edges": (smooth_blobs, NO_LINES),
    "one direction": (
        lambda: stripes([((k * 50 + 20, 0), (320 + (k * 50 - 300) * 0.3, 479)) for k in range(12)]),
        ONE_DIRECTION,
    ),
    "two families of parallel lines": (
        lambda: stripes(
            [((k * 40, 0), (k * 40 + 200, 479)) for k in range(-10, 20)],
            [((0, k * 40 + 10), (639, k * 40 + 10)) for k in range(12)],
        ),
        DISAGREE,
    ),
}


@pytest.mark.parametrize("name", BAD_PICTURES)
def test_bad_pictures_get_one_sentence_saying_what_to_do(name):
    make, sentence = BAD_PICTURES[name]
    with pytest.raises(CalibrationError) as raised:
        detect_calibration(make())
    assert str(raised.value) == sentence


def test_a_noisy_picture_is_called_noisy():
    noise = np.random.default_rng(0).integers(0, 256, (480, 640), dtype=np.uint8)
    with pytest.raises(CalibrationError, match=r"^The picture is too noisy for straight edges to be found \(estimated noise \d+ grey levels\)"):
        detect_calibration(Image.fromarray(noise))


def test_the_command_turns_a_bad_picture_into_exit_code_2(tmp_path, capsys):
    picture = tmp_path / "flat.png"
    Image.new("RGB", (320, 240), (90, 90, 90)).save(picture)
    assert main(["calibrate", "--detect", str(picture)]) == 2
    assert capsys.readouterr().err == f"error: {TEXTURELESS}\n"


# --- an off-centre principal point ----------------------------------------------------------
# width, height, horizontal FOV, yaw, pitch, principal point shift (fractions of width, height), seed:
# pitched views (all three VPs finite) through a shifted lens.
SHIFTED_VIEWS = [
    (640, 480, 60, 35, -25, (0.2, 0.05), 0),
    (640, 480, 70, 35, -20, (0.0, 0.25), 2),
]


@pytest.mark.parametrize("view", SHIFTED_VIEWS, ids=lambda v: "shift{}-{}".format(*v[5]))
def test_a_third_direction_moves_the_principal_point_when_the_centre_cannot_explain_it(view):
    width, height, fov, yaw, pitch, shift, seed = view
    truth = room_camera(width, height, fov, yaw, pitch, shift)
    detection = detect_calibration(render_room(truth, seed=seed).picture)
    found = detection.calibration
    assert detection.input.principal_point_mode == "third_vp"
    assert np.hypot(*np.subtract(found.camera.principal_point_px, truth.principal_point_px)) < 8.0
    true_fov = 2 * math.degrees(math.atan(width / 2 / truth.focal_length_px))
    assert math.degrees(found.camera.horizontal_fov_rad) == pytest.approx(true_fov, abs=1.0)
    assert rotation_error_deg(found.view_transform[:3, :3], truth.world_to_camera[:3, :3]) < 1.0
    assert not detection.confidence.high  # three VPs fix such a principal point exactly: nothing checks it


# --- curves -----------------------------------------------------------------------------------
def arc_pieces_px(centre, radius, start_deg, turn_deg, pieces):
    """``pieces`` chords of a circle (pixels), each turned ``turn_deg`` from the one before."""
    angles = np.radians(start_deg + turn_deg * np.arange(pieces + 1))
    points = np.asarray(centre) + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return np.stack([points[:-1], points[1:]], axis=1)


@settings(max_examples=60, deadline=None)
@given(
    centre=st.tuples(st.floats(0, 1000), st.floats(0, 1000)),
    start_deg=st.floats(0, 360),
    turn_deg=st.floats(3, 30),
    pieces=st.integers(3, 8),
    chord_px=st.floats(25, 90),
    reverse=st.booleans(),
)
def test_chains_of_short_segments_along_a_curve_are_not_straight_edges(centre, start_deg, turn_deg, pieces, chord_px, reverse):
    radius = chord_px / (2 * math.sin(math.radians(turn_deg) / 2))
    arc = arc_pieces_px(centre, radius, start_deg, turn_deg, pieces)
    if reverse:  # LSD gives a segment's ends in either order
        arc = arc[:, ::-1]
    assert pieces_of_curves(arc, 1024).all()


@pytest.mark.parametrize("interior_deg", [175, 170, 160, 150, 90, 30, 8])
def test_two_edges_meeting_at_a_corner_are_straight_edges(interior_deg):
    # Edges of a room seen nearly edge-on meet at a shallow corner, as pieces of a curve do.
    corner = np.array([500.0, 400.0])
    out = math.radians(180 - interior_deg)
    edges = np.array([[corner - [60.0, 0.0], corner], [corner, corner + 60.0 * np.array([math.cos(out), math.sin(out)])]])
    assert not pieces_of_curves(edges, 1024).any()


def test_an_edge_that_lsd_split_and_long_edges_are_straight_edges():
    split = np.array([[[100.0, 100.0], [160.0, 100.0]], [[161.0, 100.0], [220.0, 100.0]], [[221.0, 100.0], [290.0, 100.3]]])
    long_arc = arc_pieces_px((500.0, 500.0), 600.0, 0.0, 12.0, 4)  # chords of 125 px: over a tenth of 1024
    assert not pieces_of_curves(split, 1024).any()
    assert not pieces_of_curves(long_arc, 1024).any()
    assert pieces_of_curves(arc_pieces_px((500.0, 500.0), 600.0, 0.0, 12.0, 4) / 2.0, 1024).all()


# --- fSpy's photos ---------------------------------------------------------------------------
FSPY_TWO_VP = ["defaults.fspy", "shifted_landscape.fspy", "shifted_portrait.fspy", "fspy_github_bug_5.fspy", "quad-problem.fspy"]


def detect_fspy_photo(fspy_fixtures, name):
    project = read_fspy(fspy_fixtures / name)
    reference = calibrate(project.calibration_input())
    picture = ImageOps.exif_transpose(Image.open(io.BytesIO(project.image_bytes)))
    return reference, detect_calibration(picture)


@pytest.mark.parametrize("name", ["defaults.fspy", "shifted_landscape.fspy", "shifted_portrait.fspy"])
def test_fspy_photos_give_fspys_field_of_view_and_rotation(fspy_fixtures, name):
    reference, detection = detect_fspy_photo(fspy_fixtures, name)
    found = detection.calibration
    assert math.degrees(found.true_horizontal_fov_rad) == pytest.approx(math.degrees(reference.true_horizontal_fov_rad), abs=2.0)
    assert rotation_error_deg(found.view_transform[:3, :3], reference.view_transform[:3, :3]) < 2.0
    low, high = detection.confidence.fov_interval_deg
    assert low <= math.degrees(reference.true_horizontal_fov_rad) <= high


@pytest.mark.parametrize("name", FSPY_TWO_VP)
def test_fspy_photos_are_never_confidently_wrong(fspy_fixtures, name):
    try:
        reference, detection = detect_fspy_photo(fspy_fixtures, name)
    except CalibrationError:
        return
    found = detection.calibration
    error = max(
        abs(math.degrees(found.true_horizontal_fov_rad - reference.true_horizontal_fov_rad)),
        rotation_error_deg(found.view_transform[:3, :3], reference.view_transform[:3, :3]),
    )
    assert error < 2.0 or not detection.confidence.high


def test_quad_problem_gets_fspys_rotation_once_the_floor_patterns_curves_no_longer_vote(fspy_fixtures):
    # The arcade's floor pattern: its curves, cut into short pieces, made a lateral direction
    # that put the camera 90° wide and 12° turned; without them the capitals' and cornices' edges
    # make it (docs/calibration.md, "Measured"). The field of view is 2.5° under fSpy's: inside
    # fSpy's own spread when its two lines move by 1 px, outside the 2° (the xfail below).
    reference, detection = detect_fspy_photo(fspy_fixtures, "quad-problem.fspy")
    found = detection.calibration
    assert rotation_error_deg(found.view_transform[:3, :3], reference.view_transform[:3, :3]) < 1.0
    assert math.degrees(found.true_horizontal_fov_rad) == pytest.approx(math.degrees(reference.true_horizontal_fov_rad), abs=3.0)
    assert not detection.confidence.high


# Detection does not reach the 2° on these (docs/calibration.md, "Measured": far VPs with
# edges of different objects grouped as one direction; a lateral direction seen only in a few
# short edges, and barrel distortion): strict xfail, so the day it does this test fails and must
# join the one above.
@pytest.mark.xfail(strict=True, reason="detection misses fSpy's field of view by more than 2° on these photos")
@pytest.mark.parametrize("name", ["fspy_github_bug_5.fspy", "quad-problem.fspy"])
def test_fspy_photos_not_yet_within_2_degrees(fspy_fixtures, name):
    reference, detection = detect_fspy_photo(fspy_fixtures, name)
    found = detection.calibration
    assert math.degrees(found.true_horizontal_fov_rad) == pytest.approx(math.degrees(reference.true_horizontal_fov_rad), abs=2.0)
    assert rotation_error_deg(found.view_transform[:3, :3], reference.view_transform[:3, :3]) < 2.0
