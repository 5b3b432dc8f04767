"""Whole output sets: a killed or failing run leaves the previous set or the new one, and no partial files."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from lib_depth3d.camera import Camera
from lib_depth3d.cli import main
from lib_depth3d.depth.depthmap import DEPTH_WRITERS, DepthMap, save_depth
from lib_depth3d.errors import InputError, OutputError
from lib_depth3d.files import write_bytes_atomic
from lib_depth3d.output_sets import RECORD_SUFFIX, settle_folder, write_file_set
from lib_depth3d.scene import SCENE_WRITERS, SceneOptions, build_scene, glb_bytes, scene_summary, write_scene
from lib_depth3d.scene.output import SceneWriter
from tests.support.paths import EXAMPLES_DIR, REPO_ROOT
from tests.support.scene_inputs import smooth_picture, wavy_zdepth

ROOM = EXAMPLES_DIR / "room"
NAMES = ("s.glb", "s_depth.png", "s_camera.json", "s.fspy")


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".journal")))


def _contents(folder):
    return {name: (folder / name).read_bytes() for name in NAMES if (folder / name).exists()}


def _set(tag: str, with_fspy: bool):
    names = NAMES if with_fspy else NAMES[:3]
    return [(name, f"{tag} {name}".encode()) for name in names]


KILLER = """
import os, signal, sys
from pathlib import Path
import lib_depth3d.output_sets as output_sets

folder, kill_at_stage, kill_at_replace = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
counts = {"stage": 0, "replace": 0}

def counting(name, original):
    def call(*args):
        counts[name] += 1
        if counts[name] == (kill_at_stage if name == "stage" else kill_at_replace):
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args)
    return call

output_sets.stage = counting("stage", output_sets.stage)
os.replace = counting("replace", os.replace)
names = ("s.glb", "s_depth.png", "s_camera.json")
output_sets.write_file_set([(folder / n, f"new {n}".encode()) for n in names], optional=[folder / "s.fspy"])
"""


def _killed_run(folder, kill_at_stage=0, kill_at_replace=0):
    result = subprocess.run([sys.executable, "-c", KILLER, str(folder), str(kill_at_stage), str(kill_at_replace)],
                            cwd=REPO_ROOT, capture_output=True, timeout=60)
    return result.returncode


# The new set (no .fspy) replaces one with an .fspy. Stages: 3 files, then the journal. Replaces: the
# journal's rename (the commit point), 2 moves (the .fspy and the record), 3 renames; the 7th never
# comes. A kill comes just before the call it counts.
@pytest.mark.parametrize("kill_at_stage, kill_at_replace", [(1, 0), (3, 0), (4, 0), *((0, k) for k in range(1, 8))])
def test_a_killed_run_leaves_the_old_set_or_the_new_one_and_the_next_run_clears_its_partial_files(
        tmp_path, kill_at_stage, kill_at_replace):
    old = _set("old", with_fspy=True)
    write_file_set([(tmp_path / name, data) for name, data in old], optional=[tmp_path / "s.fspy"])
    assert (tmp_path / f".s.glb{RECORD_SUFFIX}").is_file()
    returncode = _killed_run(tmp_path, kill_at_stage, kill_at_replace)
    assert returncode == (0 if kill_at_replace == 7 else -signal.SIGKILL)
    write_bytes_atomic(tmp_path / "other.txt", b"the next run")
    committed = kill_at_replace >= 2
    assert _contents(tmp_path) == dict(_set("new", with_fspy=False) if committed else old)
    assert _leftovers(tmp_path) == []
    assert (tmp_path / f".s.glb{RECORD_SUFFIX}").exists() == (not committed)


def test_the_partial_files_of_a_running_process_are_left_alone(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = tmp_path / f".s.glb.{sleeper.pid}.0123456789ab.part"
        dead = tmp_path / f".s.glb.{_pid_of_finished_process()}.0123456789ab.part"
        alive.write_bytes(b"being written")
        dead.write_bytes(b"left by a killed run")
        settle_folder(tmp_path)
        assert alive.exists() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_an_earlier_versions_partial_files_go_once_an_hour_old(tmp_path):
    old, recent = tmp_path / ".s.glb.k2j_x9qa.part", tmp_path / ".s.glb.p0zz31ab.part"
    for part in (old, recent):
        part.write_bytes(b"16 MB of a killed run")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    settle_folder(tmp_path)
    assert not old.exists() and recent.exists()


def _pid_of_finished_process() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _tiny_scene(fov=60.0):
    return build_scene(smooth_picture(48, 36), DepthMap(wavy_zdepth(48, 36, 3), "depth"), Camera.from_fov(48, 36, fov))


def test_a_rename_failing_midway_puts_the_previous_set_back(tmp_path, monkeypatch):
    old = {name: data for name, data in _set("old", with_fspy=True)}
    write_file_set([(tmp_path / name, data) for name, data in old.items()], optional=[tmp_path / "s.fspy"])
    record = (tmp_path / f".s.glb{RECORD_SUFFIX}").read_bytes()
    original_replace, calls = os.replace, []

    def replace_failing_fifth(source, destination):
        calls.append(destination)
        if len(calls) == 5:
            raise PermissionError(13, "Permission denied")
        original_replace(source, destination)

    # Replaces: the journal's, the .fspy and the record moved away, the camera JSON, the depth PNG.
    monkeypatch.setattr(os, "replace", replace_failing_fifth)
    with pytest.raises(OutputError, match="Permission denied"):
        write_scene(_tiny_scene(), tmp_path / "s.glb")
    monkeypatch.setattr(os, "replace", original_replace)
    assert calls[4].name == "s_depth.png"
    assert _contents(tmp_path) == old and (tmp_path / f".s.glb{RECORD_SUFFIX}").read_bytes() == record
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*old, f".s.glb{RECORD_SUFFIX}"])


def test_a_failing_writer_leaves_the_previous_set(tmp_path, monkeypatch):
    files = write_scene(_tiny_scene(), tmp_path / "s.glb")
    before = _contents(tmp_path)

    def failing(output):
        raise OSError("the encoder failed")

    monkeypatch.setitem(SCENE_WRITERS, "_camera.json", SceneWriter(failing))
    with pytest.raises(OSError, match="encoder failed"):
        write_scene(_tiny_scene(fov=40.0), files.glb)
    assert _contents(tmp_path) == before and _leftovers(tmp_path) == []


def test_a_new_format_is_one_registry_line(tmp_path, monkeypatch):
    monkeypatch.setitem(SCENE_WRITERS, "_faces.txt", SceneWriter(lambda output: b"%d" % len(output.scene.faces)))
    scene = _tiny_scene()
    files = write_scene(scene, tmp_path / "s.glb")
    assert list(files.paths) == [".glb", "_depth.png", "_camera.json", "_faces.txt"]
    assert int(files.paths["_faces.txt"].read_bytes()) == len(scene.faces)
    depth = DepthMap(wavy_zdepth(8, 6, 1), "depth")
    with pytest.raises(InputError, match="must end in .png, .npy or .exr"):
        save_depth(depth, tmp_path / "d.txt")
    monkeypatch.setitem(DEPTH_WRITERS, ".txt", lambda depth, camera: b"%d" % depth.width)
    save_depth(depth, tmp_path / "d.txt")
    assert (tmp_path / "d.txt").read_bytes() == b"8"


def test_a_file_given_in_pieces_is_written_as_their_concatenation_and_recorded_by_it(tmp_path):
    pieces = [b"head", b"", bytearray(b"middle"), memoryview(b"tail")]
    write_file_set([(tmp_path / "s.glb", b"main"), (tmp_path / "s.fspy", pieces)], optional=[tmp_path / "s.fspy"])
    assert (tmp_path / "s.fspy").read_bytes() == b"headmiddletail"
    write_file_set([(tmp_path / "s.glb", b"main")], optional=[tmp_path / "s.fspy"])
    assert not (tmp_path / "s.fspy").exists()  # its record's digest was the whole file's


def test_the_written_glb_is_glb_bytes(tmp_path):
    scene = _tiny_scene()
    assert write_scene(scene, tmp_path / "s.glb").glb.read_bytes() == glb_bytes(scene)


def _room_arguments(output, *camera):
    return ["scene", str(ROOM / "room.png"), "--depth", str(ROOM / "room_depth.npy"), "--depth-kind", "depth",
            "--resolution", "24", *camera, "-o", str(output)]


def test_a_scene_without_lines_removes_the_fspy_its_predecessor_wrote_but_not_the_users(tmp_path):
    output = tmp_path / "room.glb"
    assert main(_room_arguments(output, "--lines", str(ROOM / "room_lines.json"))) == 0
    assert (tmp_path / "room.fspy").is_file()
    assert main(_room_arguments(output, "--fov", "60")) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room.glb", "room_camera.json", "room_depth.png"]
    users_project = (ROOM / "room.fspy").read_bytes()
    (tmp_path / "room.fspy").write_bytes(users_project)  # given as input below, written back unchanged
    assert main(_room_arguments(output, "--fspy", str(tmp_path / "room.fspy"))) == 0
    assert main(_room_arguments(output, "--fov", "60")) == 0
    assert (tmp_path / "room.fspy").read_bytes() == users_project


def test_a_set_rewritten_by_hand_keeps_the_users_fspy(tmp_path):
    output = tmp_path / "room.glb"
    assert main(_room_arguments(output, "--lines", str(ROOM / "room_lines.json"))) == 0
    (tmp_path / "room.fspy").write_bytes(b"fspy edited by the user")
    assert main(_room_arguments(output, "--fov", "60")) == 0
    assert (tmp_path / "room.fspy").read_bytes() == b"fspy edited by the user"


SCENE_KILLER = """
import os, signal, sys
counts = [0]
original = os.replace
def replace(*args):
    counts[0] += 1
    if counts[0] == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args)
os.replace = replace
from lib_depth3d.cli import main
main(sys.argv[2:])
"""


@pytest.mark.parametrize("kill_at_replace", [1, 3])
def test_a_scene_command_killed_midway_leaves_the_previous_set_or_the_next_run_completes_the_new(
        tmp_path, kill_at_replace):
    """Killed before the 1st replace (the journal's rename: the commit point), or before the 3rd."""
    output = tmp_path / "room.glb"
    assert main(_room_arguments(output, "--lines", str(ROOM / "room_lines.json"))) == 0
    old = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    reference = tmp_path / "reference"
    reference.mkdir()
    assert main(_room_arguments(reference / "room.glb", "--fov", "60")) == 0
    new = {p.name: p.read_bytes() for p in reference.iterdir()}
    killed = subprocess.run([sys.executable, "-c", SCENE_KILLER, str(kill_at_replace),
                             *_room_arguments(output, "--fov", "60")], cwd=REPO_ROOT, capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _leftovers(tmp_path)  # what the kill left, until the next run
    Image.new("L", (4, 4)).save(tmp_path / "depth.png")
    assert main(["mask", str(tmp_path / "depth.png"), "-o", str(tmp_path / "mask.png")]) == 0
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name.startswith(("room", ".room"))}
    assert after == (old if kill_at_replace == 1 else new)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("command", ["scene", "depth", "mask"])
def test_an_output_naming_a_folder_is_one_line_and_exit_2_before_any_work(tmp_path, capsys, command):
    folder = tmp_path / ("out.glb" if command == "scene" else "out.png")
    folder.mkdir()
    depth = tmp_path / "depth.png"
    Image.new("L", (8, 6)).save(depth)
    arguments = {
        "scene": _room_arguments(folder, "--fov", "60"),
        "depth": ["depth", str(tmp_path / "missing-picture.png"), "-o", str(folder)],
        "mask": ["mask", str(depth), "-o", str(folder)],
    }[command]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "it is a folder" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["depth.png", folder.name]


def test_mask_with_a_cutout_into_a_missing_folder_leaves_the_mask_untouched(tmp_path, capsys):
    depth, picture, mask = tmp_path / "depth.png", tmp_path / "picture.png", tmp_path / "mask.png"
    Image.fromarray(np.tile(np.arange(16, dtype=np.uint8) * 16, (8, 1)), "L").save(depth)
    Image.new("RGB", (16, 8), (200, 10, 10)).save(picture)
    mask.write_bytes(b"the previous mask")
    code = main(["mask", str(depth), "-o", str(mask), "--picture", str(picture),
                 "--cutout", str(tmp_path / "missing" / "cut.png")])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert mask.read_bytes() == b"the previous mask" and _leftovers(tmp_path) == []


def test_the_summary_is_what_the_scene_command_prints(tmp_path, capsys):
    depth = tmp_path / "depth.npy"
    np.save(depth, wavy_zdepth(48, 36, 5))
    picture = tmp_path / "picture.png"
    smooth_picture(48, 36).save(picture)
    output = tmp_path / "s.glb"
    assert main(["scene", str(picture), "--depth", str(depth), "--depth-kind", "depth", "--fov", "60",
                 "-o", str(output)]) == 0
    printed = capsys.readouterr().out
    scene = build_scene(smooth_picture(48, 36), DepthMap(np.load(depth), "depth"), Camera.from_fov(48, 36, 60),
                        SceneOptions(world_up="y"))
    files = write_scene(scene, output)
    assert scene_summary(scene, files, "60° horizontal field of view") + "\n" == printed


TERMINATOR = """
import os, signal, sys
import lib_depth3d.output_sets as output_sets
counts = [0]
original = output_sets.stage
def stage(*args):
    counts[0] += 1
    if counts[0] == 3:
        os.kill(os.getpid(), signal.SIGTERM)
    return original(*args)
output_sets.stage = stage
from lib_depth3d.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_terminated_scene_command_removes_its_partial_files_on_the_way_out(tmp_path):
    output = tmp_path / "room.glb"
    assert main(_room_arguments(output, "--lines", str(ROOM / "room_lines.json"))) == 0
    old = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    terminated = subprocess.run([sys.executable, "-c", TERMINATOR, *_room_arguments(output, "--fov", "60")],
                                cwd=REPO_ROOT, capture_output=True, timeout=120)
    assert terminated.returncode == 128 + signal.SIGTERM, terminated.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old
