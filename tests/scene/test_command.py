"""`scene --model`: the depth comes from a real network (random weights) instead of a file."""

import subprocess

import pytest

from tests.support.depth_weights import write_random_checkpoint
from tests.support.gltf_validator import problems, validate_files
from tests.support.paths import REPO_ROOT, VENV_PYTHON
from tests.support.scene_inputs import smooth_picture


@pytest.mark.validator
def test_depth_from_a_network_instead_of_a_file(tmp_path):
    picture = tmp_path / "picture.png"
    smooth_picture(48, 36).save(picture)
    weights = write_random_checkpoint(tmp_path / "small.pth", "depth-anything-v2-small", seed=4)
    output = tmp_path / "out"
    output.mkdir()
    result = subprocess.run(
        [
            str(VENV_PYTHON), "-m", "lib_depth3d", "scene", str(picture), "--model", "depth-anything-v2-small",
            "--weights", str(weights), "--net-size", "70", "--device", "cpu", "--near", "2", "--far", "8",
            "-o", str(output / "s.glb"),
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "55° horizontal field of view (assumed" in result.stdout
    assert "depth: 2.000 to 8.000 scene units" in result.stdout
    assert sorted(p.name for p in output.iterdir()) == ["s.glb", "s_camera.json", "s_depth.png"]
    (report,) = validate_files([output / "s.glb"])
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, problems(report)
