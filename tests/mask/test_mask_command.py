"""`python -m lib_depth3d mask`: depth images and .npy in, a mask PNG out, clear errors."""

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.cli import main


@pytest.fixture
def depth_files(tmp_path):
    """A left-to-right ramp of nearness as 8-bit PNG, 16-bit PNG and disparity .npy (32×8)."""
    ramp = np.tile(np.arange(32, dtype=np.float64) / 31.0, (8, 1))
    Image.fromarray(np.round(ramp * 255).astype(np.uint8), "L").save(tmp_path / "depth8.png")
    Image.fromarray(np.round(ramp * 65535).astype(np.uint16), "I;16").save(tmp_path / "depth16.png")
    np.save(tmp_path / "disparity.npy", (ramp * 7.0 + 3.0).astype(np.float32))
    return tmp_path


def read_mask(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "L"
        return np.asarray(image)


@pytest.mark.parametrize("name", ["depth8.png", "depth16.png", "disparity.npy"])
def test_every_depth_format_gives_the_same_hard_mask(depth_files, name, capsys):
    output = depth_files / "mask.png"
    assert main(["mask", str(depth_files / name), "-o", str(output), "--min", "0.5", "--hard"]) == 0
    got = read_mask(output)
    assert got.shape == (8, 32)
    assert (got[:, :16] == 255).all() and (got[:, 16:] == 0).all()
    assert "band 0.500–1.000 kept" in capsys.readouterr().out


def test_percentiles_invert_grow_feather(depth_files):
    output = depth_files / "mask.png"
    arguments = ["mask", str(depth_files / "depth16.png"), "-o", str(output), "--percentiles", "75", "100",
                 "--invert", "--hard", "--grow", "2"]
    assert main(arguments) == 0
    got = read_mask(output)
    assert (got[:, 22:] == 255).all() and (got[:, :22] == 0).all()
    assert main(arguments + ["--feather", "1"]) == 0
    feathered = read_mask(output)
    assert 0 < feathered[0, 21] < 128 < feathered[0, 22] < 255


def test_picture_size_and_cutout(depth_files):
    picture = depth_files / "picture.png"
    Image.new("RGBA", (64, 16), (10, 20, 30, 255)).save(picture)
    output, cutout = depth_files / "mask.png", depth_files / "cut.png"
    arguments = ["mask", str(depth_files / "depth8.png"), "-o", str(output), "--hard", "--picture", str(picture),
                 "--cutout", str(cutout)]
    assert main(arguments) == 0
    assert read_mask(output).shape == (16, 64)
    with Image.open(cutout) as cut:
        alpha = np.asarray(cut)[..., 3]
        assert cut.mode == "RGBA" and (alpha[:, :30] == 0).all() and (alpha[:, 34:] == 255).all()


def test_constant_depth_warns_on_stderr(tmp_path, capsys):
    Image.new("L", (8, 8), 200).save(tmp_path / "flat.png")
    assert main(["mask", str(tmp_path / "flat.png"), "-o", str(tmp_path / "mask.png")]) == 0
    assert "warning: The depth map is constant" in capsys.readouterr().err
    assert not read_mask(tmp_path / "mask.png").any()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--min", "0.2", "--percentiles", "10", "90"], "not both"),
        (["--min", "0.9", "--max", "0.1"], "min ≤ max"),
        (["--cutout", "cut.png"], "--cutout needs --picture"),
        (["--kind", "metric"], "applies to a .npy"),
        (["--grow", "100000"], "Grow/shrink"),
    ],
)
def test_bad_settings_exit_2_with_one_line(depth_files, capsys, extra, words):
    output = depth_files / "mask.png"
    assert main(["mask", str(depth_files / "depth8.png"), "-o", str(output), *extra]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and words in error and error.count("\n") == 1
    assert not output.exists()


def test_bad_inputs_exit_2_and_keep_the_old_mask(tmp_path, capsys):
    output = tmp_path / "mask.png"
    output.write_bytes(b"a good mask from before")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    np.save(tmp_path / "strings.npy", np.array([["a"]]))
    for source, words in (("missing.png", "not found"), ("broken.png", "not a readable picture"),
                          ("strings.npy", "numeric")):
        assert main(["mask", str(tmp_path / source), "-o", str(output)]) == 2
        assert words in capsys.readouterr().err
    assert main(["mask", str(tmp_path / "broken.png"), "-o", str(tmp_path / "mask.jpg")]) == 2
    assert "must end in .png" in capsys.readouterr().err
    assert output.read_bytes() == b"a good mask from before"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.png", "mask.png", "strings.npy"]
