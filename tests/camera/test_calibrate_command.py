"""`python -m lib_depth3d calibrate`: the report on stdout, exit 2 with one line for bad input."""

import io
import json
import struct
import subprocess
import sys

import pytest
from PIL import Image

from lib_depth3d.camera import read_fspy
from lib_depth3d.cli import main
from tests.support.fspy_reference import written_reference_project_bytes
from tests.support.paths import REPO_ROOT

LINES = {
    "image": {"width": 993, "height": 577},
    "vanishing_points": [
        {"axis": "+x", "segments": [[[478.5, 106.9], [314.5, 150.4]], [[524.3, 494.7], [645.3, 399.1]]]},
        {"axis": "+y", "segments": [[[343.8, 380.6], [492.3, 507.3]], [[502.2, 98.5], [697.8, 155.2]]]},
    ],
    "origin": [598.3, 208.2],
}


def write_png(path, width, height):
    Image.new("RGB", (width, height), (200, 180, 160)).save(path)


@pytest.fixture(params=["written", "fspy"])
def project_folder(request, tmp_path_factory):
    """fSpy's reference files where ../shared has them, or the tests' own versions of those read
    here: defaults, fspy_github_bug_5 and pp_problem written from their control points, a project
    of header version 153 and a JPEG photo."""
    if request.param == "fspy":
        return request.getfixturevalue("fspy_fixtures")
    folder = tmp_path_factory.mktemp("projects")
    for name in ("defaults", "fspy_github_bug_5", "pp_problem"):
        (folder / f"{name}.fspy").write_bytes(written_reference_project_bytes(name))
    defaults = written_reference_project_bytes("defaults")
    (folder / "invalid_project_version.fspy").write_bytes(defaults[:4] + struct.pack("<I", 153) + defaults[8:])
    Image.new("RGB", (64, 48), (120, 90, 60)).save(folder / "box.jpg")
    return folder


def run_cli(capsys, *args):
    code = main(["calibrate", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fspy_project_prints_fspy_parameters_and_extras(capsys, project_folder):
    code, out, err = run_cli(capsys, "--fspy", project_folder / "fspy_github_bug_5.fspy")
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["relativeFocalLength"] == pytest.approx(1.8251018650552107, abs=1e-12)
    assert report["imageWidth"] == 4032
    assert report["focalLengthPixels"] == pytest.approx(1.8251018650552107 * 2016)
    assert report["warnings"] == ["Near parallel lines for VP 2"]
    assert report["trueVerticalFieldOfView"] < report["trueHorizontalFieldOfView"]
    assert report["vanishingPointResidualsPixels"] == [0.0, 0.0]


def test_lines_with_image_write_a_project_that_reads_back(capsys, tmp_path):
    lines, picture, project = tmp_path / "lines.json", tmp_path / "room.png", tmp_path / "room.fspy"
    lines.write_text(json.dumps(LINES))
    write_png(picture, 993, 577)
    code, out, err = run_cli(capsys, "--lines", lines, "--image", picture, "--write-fspy", project)
    assert code == 0, err
    written = read_fspy(project)
    assert written.image_bytes == picture.read_bytes()
    assert written.state["cameraParameters"]["relativeFocalLength"] == json.loads(out)["relativeFocalLength"]
    code, again, _ = run_cli(capsys, "--fspy", project)
    assert code == 0 and json.loads(again)["viewTransform"] == json.loads(out)["viewTransform"]


def assert_one_line_error(code, out, err, message):
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.parametrize(
    "name, message",
    [
        ("invalid_project_version.fspy", "Unsupported fSpy project file version 153"),
        ("box.jpg", "not an fSpy project"),
        ("pp_problem.fspy", "Rotation determinant 0.91824"),
    ],
)
def test_bad_project_exits_2_with_one_line(capsys, project_folder, name, message):
    assert_one_line_error(*run_cli(capsys, "--fspy", project_folder / name), message)


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d: ["--fspy", d / "missing.fspy"], "not found"),
        (lambda d: ["--lines", d / "parallel.json"], "Failed to compute vanishing point"),
        (lambda d: ["--lines", d / "axes.json"], "Invalid axis assignment"),
        (lambda d: ["--lines", d / "lines.json", "--image", d / "small.png"], "200×100"),
        (lambda d: ["--lines", d / "lines.json", "--write-fspy", d / "out.fspy"], "needs --image"),
        (lambda d: ["--lines", d / "truncated.json"], "not valid JSON"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, make_args, message):
    (tmp_path / "lines.json").write_text(json.dumps(LINES))
    parallel = json.loads(json.dumps(LINES))
    parallel["vanishing_points"][0]["segments"] = [[[0, 0], [10, 10]], [[0, 5], [10, 15]]]
    (tmp_path / "parallel.json").write_text(json.dumps(parallel))
    axes = json.loads(json.dumps(LINES))
    axes["vanishing_points"][1]["axis"] = "+x"
    (tmp_path / "axes.json").write_text(json.dumps(axes))
    (tmp_path / "truncated.json").write_text(json.dumps(LINES)[:40])
    write_png(tmp_path / "small.png", 200, 100)
    assert_one_line_error(*run_cli(capsys, *make_args(tmp_path)), message)
    assert not (tmp_path / "out.fspy").exists()


def test_a_rewrite_that_does_not_solve_and_an_image_beside_a_project_exit_2(capsys, project_folder, tmp_path):
    code, out, err = run_cli(capsys, "--fspy", project_folder / "pp_problem.fspy", "--write-fspy", tmp_path / "out.fspy")
    assert_one_line_error(code, out, err, "Rotation determinant")
    assert not (tmp_path / "out.fspy").exists()
    write_png(tmp_path / "small.png", 200, 100)
    code, out, err = run_cli(capsys, "--fspy", project_folder / "defaults.fspy", "--image", tmp_path / "small.png")
    assert_one_line_error(code, out, err, "--image goes with --lines")


def test_module_entry_point_runs_in_a_fresh_process(project_folder):
    result = subprocess.run(
        [sys.executable, "-m", "lib_depth3d", "calibrate", "--fspy", str(project_folder / "defaults.fspy")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["relativeFocalLength"] == pytest.approx(1.3048894917164935, abs=1e-12)
    assert result.stderr == ""


def test_picture_bytes_are_checked_even_for_exif_rotated_jpegs(capsys, tmp_path):
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.new("RGB", (577, 993)).save(buffer, "JPEG", exif=exif.tobytes())
    (tmp_path / "rotated.jpg").write_bytes(buffer.getvalue())
    (tmp_path / "lines.json").write_text(json.dumps(LINES))
    code, _, err = run_cli(capsys, "--lines", tmp_path / "lines.json", "--image", tmp_path / "rotated.jpg")
    assert code == 0, err
