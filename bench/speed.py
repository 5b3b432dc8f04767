"""Issue 15 in one run: every speed figure beside its floor or peer, the ratio, and the growth.

    .venv/bin/python bench/speed.py [--sizes PX ...] [--repeat N] [--before DIR] [--api quick|full|skip]
                                    [--parts scene imports fullres masks fspy api]

Each part prints its table as it goes; a summary at the end puts each figure beside the figure
the issue recorded before the work ("issue: before") and the issue's target. On a shared machine
ratios, not absolute times, are what count: every comparison runs its two sides interleaved, in
alternating order, and reports medians and the median of the per-round ratios.

- ``scene``: the default-grid scene as a whole process, ``depth3d scene PIC.png --depth D --fov 55
  -o OUT.glb`` with the depth as a float ``.npy`` and as a 16-bit PNG (the same disparity; from
  Pillow's writer, and from ours as ``png-ours``), against
  the floor the issue defines: a process that imports numpy and PIL, decodes the PNG and writes a
  file of the picture's own bytes (the texture passes through, as ours does). Every process runs
  OpenBLAS on one thread, as our command line does itself. Pictures: the
  smooth, noisy 2-D pattern of ``bench/scene.py`` with its box in front. Processes run with
  bytecode caching on (``PYTHONPYCACHEPREFIX`` in a temporary folder, one warm-up run), as an
  installed package runs. ``--before DIR``: the same command from another checkout (an earlier
  commit, ``git archive COMMIT | tar -x -C DIR``) in the same rounds.
- ``imports``: what the scene command's imports cost beyond numpy and PIL: a process importing
  ``lib_depth3d.cli``, ``lib_depth3d.pipeline`` and ``lib_depth3d.commands.scene`` (and one that
  also builds the scene command's parser as ``depth3d scene`` does, ``main(["scene"])`` stopping at
  the missing arguments) against one importing
  ``numpy`` and ``PIL.Image``, with the scene part's environment; with ``--before``, the same
  processes from that checkout in the same rounds and the CPU time each saves, paired by round.
- ``fullres``: ``bench/scene.py``'s full-resolution scene (``--resolution full``; best time of
  two, tracemalloc peak of a third) against the issue's target of 6 s and 1 GiB at 4096².
- ``masks``: ``bench/mask.py``'s hard cut, grow 8, feather 4 against the same steps in plain
  numpy + OpenCV, on the disc and the checker maps.
- ``fspy``: ``bench/calibration.py``'s read of every shared fSpy project and of projects made
  here at 1024² and 4096², against reading the file's bytes.
- ``api``: ``bench/api.py``'s ``/scene`` concurrency rows with the pool, 4 and 16 clients
  (``quick``: 16 requests a row, four rows: the pool and an unbounded server at 4 and 16 clients;
  ``full``: its own defaults, with 1 client and its peak table, which loads the registry's largest
  network: several minutes more).

With the defaults (sizes 512–4096, 5 rounds, quick API) a run took 10 minutes on the 2-core
machine this was written on, shared with other work (load average 10), most of it full resolution
at 4096², the scene processes at 4096² and the API's servers.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import calibration as calibration_bench  # noqa: E402
import mask as mask_bench  # noqa: E402
import scene as scene_bench  # noqa: E402

from lib_depth3d.files import grey16_png_bytes  # noqa: E402

CLI = "import sys; from lib_depth3d.cli import main; sys.exit(main())"
FLOOR = (
    "import io, sys\nimport numpy\nfrom PIL import Image\n"
    "data = open(sys.argv[1], 'rb').read()\nImage.open(io.BytesIO(data)).load()\n"
    "open(sys.argv[2], 'wb').write(data)\n"
)
IMPORTS = "import lib_depth3d.cli, lib_depth3d.pipeline, lib_depth3d.commands.scene"
IMPORTS_FLOOR = "import numpy, PIL.Image"
SCENE_TARGET = 1.5
FULLRES_TARGET_S, FULLRES_TARGET_MIB = 6.0, 1024.0

ISSUE_BEFORE = {
    "scene 1024": "0.455 s, floor 0.17 s: 2.7×",
    "scene 4096": "1.64 s, floor 0.70 s: 2.3×",
    "fullres 4096": "16 s, 2.3 GB",
    "masks 1024": "0.12–0.14× the peer",
    "masks 4096": "0.04–0.05× the peer",
    "masks exponent": "1.35",
    "fspy read": "35–57 ms",
    "api 16/4": "memory 3.1×, req/s 0.78× (no pool)",
}
"""What the issue recorded before the work (its text), for the summary's "before" column."""


def growth_exponents(sizes: list[int], seconds: list[float]) -> str:
    """Slopes of log(time) over log(pixels) from each size to the next, then fitted over all."""
    if len(sizes) < 2:
        return ""
    slopes = [mask_bench.growth_exponent(sizes[i : i + 2], seconds[i : i + 2]) for i in range(len(sizes) - 1)]
    return " ".join(f"{slope:.2f}" for slope in slopes) + f"; fit {mask_bench.growth_exponent(sizes, seconds):.2f}"


def scene_inputs(folder: Path, size: int) -> dict[str, Path]:
    """The picture (PNG) and its disparity as a float .npy and as a 16-bit PNG from Pillow's writer
    ("png": Paeth for most rows, as other tools' files are) and from ours ("png-ours": every row
    Sub-filtered, what ``depth3d depth -o D.png`` writes)."""
    picture, depth, _ = scene_bench.inputs(size)
    paths = {"picture": folder / f"picture{size}.png", "npy": folder / f"depth{size}.npy",
             "png": folder / f"depth{size}.png", "png-ours": folder / f"depth{size}-ours.png"}
    picture.save(paths["picture"])
    disparity = 1.0 / depth.values.astype(np.float64)
    nearness = (disparity - disparity.min()) / (disparity.max() - disparity.min())
    np.save(paths["npy"], nearness.astype(np.float32))
    levels = np.round(nearness * 65535).astype(np.uint16)
    Image.fromarray(levels).save(paths["png"])
    paths["png-ours"].write_bytes(grey16_png_bytes(levels))
    return paths


def process_seconds(command: list[str], cwd: Path, environment: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=environment, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timing_environment(folder: Path) -> dict:
    """The environment of every timed process: bytecode cached in ``folder`` as an installed
    package's is, and OpenBLAS on one thread."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    # Our command line runs OpenBLAS on one thread (cli.main); the floor's numpy would start one
    # per core, which spin and bill CPU for no work (0.13 s at 1024²): a floor must not pay that.
    environment["OPENBLAS_NUM_THREADS"] = "1"
    return environment


def imports_part(repeat: int, before: Path | None) -> None:
    print(f"\nTHE SCENE COMMAND'S IMPORTS against `{IMPORTS_FLOOR}`: `imports` = `{IMPORTS}`; `parser` = those "
          "and the scene command's parser built as `depth3d scene` builds it (`main(['scene'])`, which then stops "
          "at the missing arguments)")
    print(f"{repeat} interleaved rounds, medians of CPU seconds; 'own' = the median of the rounds' ours − floor; "
          "with --before, 'saved' = the median of the rounds' before − now (milliseconds) and their ratio")
    statements = {"imports": IMPORTS, "parser": f"{IMPORTS}\nimport contextlib, io\n"
                  "with contextlib.suppress(SystemExit), contextlib.redirect_stderr(io.StringIO()):\n"
                  "    lib_depth3d.cli.main(['scene'])"}
    commands = {"floor": ([sys.executable, "-c", IMPORTS_FLOOR], ROOT)}
    for name, statement in statements.items():
        commands[name] = ([sys.executable, "-c", statement], ROOT)
        if before:
            commands[f"{name} before"] = ([sys.executable, "-c", statement], before)
    with tempfile.TemporaryDirectory(prefix="depth3d-imports-") as folder_name:
        environment = timing_environment(Path(folder_name))
        for command, cwd in commands.values():  # warm-up: bytecode caches, the page cache
            process_seconds(command, cwd, environment)
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for round_index in range(repeat):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                cpus[name].append(process_seconds(*commands[name], environment)[1])
    print(f"{'process':>15} {'CPU s':>7} {'own s':>7} {'× floor':>7} {'saved ms':>9} {'now/before':>10}")
    for name in names:
        own = statistics.median(ours - floor for ours, floor in zip(cpus[name], cpus["floor"]))
        ratio = statistics.median(ours / floor for ours, floor in zip(cpus[name], cpus["floor"]))
        paired = ""
        if before and name in statements:
            saved = statistics.median(1000 * (earlier - now) for now, earlier in zip(cpus[name], cpus[f"{name} before"]))
            now_over_before = statistics.median(now / earlier for now, earlier in zip(cpus[name], cpus[f"{name} before"]))
            paired = f" {saved:9.1f} {now_over_before:10.3f}"
        print(f"{name:>15} {statistics.median(cpus[name]):7.3f} {own:7.3f} {ratio:7.2f}{paired}", flush=True)


def scene_part(sizes: list[int], repeat: int, before: Path | None, summary: dict) -> None:
    print("\nDEFAULT-GRID SCENE, whole process (`depth3d scene PIC.png --depth D --fov 55 -o OUT.glb`) against the "
          "floor (import numpy + PIL, decode the PNG, write its bytes)")
    print(f"{repeat} interleaved rounds, medians of CPU seconds (user + system: what the process itself costs, "
          f"which other work on a shared machine hardly moves; wall seconds in brackets); ratio = median of the "
          f"rounds' ours/floor in CPU seconds; target ≤ {SCENE_TARGET:g}×")
    kinds = ["npy", "png", "png-ours"]
    sides = kinds + ([f"{kind} before" for kind in kinds] if before else [])
    print(f"{'size':>6} {'floor s':>15} " + " ".join(f"{side + ' s':>17} {'× floor':>7}" for side in sides))
    medians: dict[str, list[float]] = {side: [] for side in ["floor", *sides]}
    with tempfile.TemporaryDirectory(prefix="depth3d-speed-") as folder_name:
        folder = Path(folder_name)
        environment = timing_environment(folder)
        for size in sizes:
            paths = scene_inputs(folder, size)
            commands = {"floor": ([sys.executable, "-c", FLOOR, str(paths["picture"]), str(folder / "floor.out")], ROOT)}
            for side in sides:
                kind, checkout = side.split()[0], before if side.endswith("before") else ROOT
                commands[side] = ([sys.executable, "-c", CLI, "scene", str(paths["picture"]), "--depth",
                                   str(paths[kind]), "--fov", "55", "-o", str(folder / f"{side.replace(' ', '_')}.glb")],
                                  checkout)
            for command, cwd in commands.values():  # warm-up: bytecode caches, the page cache
                process_seconds(command, cwd, environment)
            walls: dict[str, list[float]] = {name: [] for name in commands}
            cpus: dict[str, list[float]] = {name: [] for name in commands}
            names = list(commands)
            for round_index in range(repeat):
                shift = round_index % len(names)
                for name in names[shift:] + names[:shift]:
                    wall, cpu = process_seconds(*commands[name], environment)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            for name in names:
                medians[name].append(statistics.median(cpus[name]))
            cells = []
            for side in sides:
                ratio = statistics.median(ours / floor for ours, floor in zip(cpus[side], cpus["floor"]))
                cells.append(f"{medians[side][-1]:7.3f} ({statistics.median(walls[side]):6.3f}) {ratio:7.2f}")
                if side in kinds:
                    summary[f"scene {size} {side}"] = (f"{medians[side][-1]:.3f} s CPU",
                                                      f"floor {medians['floor'][-1]:.3f} s", ratio,
                                                      f"≤ {SCENE_TARGET:g}×", ratio <= SCENE_TARGET)
                else:
                    now = summary[f"scene {size} {side.split()[0]}"]
                    summary[f"scene {size} {side.split()[0]}"] = (*now[:1], f"{now[1]}; before {ratio:.2f}×", *now[2:])
            floor_cell = f"{medians['floor'][-1]:6.3f} ({statistics.median(walls['floor']):6.3f})"
            print(f"{size:>5}² {floor_cell:>15} " + " ".join(cells), flush=True)
            if before:
                saved = [f"{kind} {statistics.median(1000 * (earlier - now) for now, earlier in zip(cpus[kind], cpus[f'{kind} before'])):.0f} ms "
                         f"({statistics.median(now / earlier for now, earlier in zip(cpus[kind], cpus[f'{kind} before'])):.3f}×)"
                         for kind in kinds]
                print(f"{'':>6} CPU saved against --before, medians of the rounds' before − now (now/before): "
                      + ", ".join(saved), flush=True)
    for name, seconds in medians.items():
        print(f"growth exponent (CPU) {name:>10}: {growth_exponents(sizes, seconds)}")


def fullres_part(sizes: list[int], summary: dict) -> None:
    print("\nFULL-RESOLUTION SCENE (bench/scene.py: build_scene + glb_bytes + write, background layer; "
          f"best of 2, tracemalloc peak of a third); target at 4096²: ≤ {FULLRES_TARGET_S:g} s, "
          f"≤ {FULLRES_TARGET_MIB:g} MiB")
    print(f"{'size':>6} {'seconds':>8} {'peak MiB':>9} {'triangles':>10}")
    seconds_by_size = []
    with tempfile.TemporaryDirectory(prefix="depth3d-speed-") as folder:
        for size in sizes:
            picture, depth, camera = scene_bench.inputs(size)
            seconds, peak, triangles = scene_bench.measure(
                scene_bench.ours, picture, depth, camera, None, Path(folder) / "full.glb", repeats=2)
            seconds_by_size.append(seconds)
            print(f"{size:>5}² {seconds:8.2f} {peak:9.0f} {triangles:10d}", flush=True)
            if size == 4096:
                summary["fullres 4096"] = (f"{seconds:.1f} s, {peak:.0f} MiB", "target", seconds / FULLRES_TARGET_S,
                                           f"≤ {FULLRES_TARGET_S:g} s, ≤ {FULLRES_TARGET_MIB:g} MiB",
                                           seconds <= FULLRES_TARGET_S and peak <= FULLRES_TARGET_MIB)
    print(f"growth exponent: {growth_exponents(sizes, seconds_by_size)}")


def masks_part(sizes: list[int], repeat: int, summary: dict) -> None:
    options = mask_bench.MaskOptions(near_min=0.5, hard=True, grow_px=8, feather_px=4.0)
    print("\nMASKS (bench/mask.py: hard cut, grow 8, feather 4) against the same steps in plain numpy + OpenCV; "
          f"{repeat} paired runs (more below 2048²), medians of CPU milliseconds (all threads; OpenCV's too); ratio = peer/ours "
          "(≥ 1: at least as fast); target exponent ≤ 1.05 (fitted over the sizes)")
    print(f"{'map':>8} {'size':>6} {'ours ms':>9} {'peer ms':>9} {'peer/ours':>10}")
    for name, make in mask_bench.SCENES.items():
        ours_medians, peer_medians = [], []
        for size in sizes:
            nearness = make(size)
            runs = min(80, max(repeat, round(repeat * (2048 / size) ** 2)))  # small sizes are quick and noisy
            ours_ms, peer_ms = mask_bench.paired_milliseconds(
                lambda: mask_bench.depth_mask(nearness, options), lambda: mask_bench.opencv_peer(nearness, options),
                runs, clock=time.process_time)
            ratio = statistics.median(theirs / mine for mine, theirs in zip(ours_ms, peer_ms))
            ours_medians.append(statistics.median(ours_ms))
            peer_medians.append(statistics.median(peer_ms))
            print(f"{name:>8} {size:>5}² {ours_medians[-1]:9.1f} {peer_medians[-1]:9.1f} {ratio:10.2f}", flush=True)
            if size in (1024, 4096):
                summary[f"masks {size} {name}"] = (f"{ours_medians[-1]:.1f} ms", f"peer {peer_medians[-1]:.1f} ms",
                                                   ratio, "≥ 1× the peer", ratio >= 1.0)
        if len(sizes) > 1:
            exponent = mask_bench.growth_exponent(sizes, ours_medians)
            print(f"{name:>8} growth exponent ours: {growth_exponents(sizes, ours_medians)}; "
                  f"peer: {growth_exponents(sizes, peer_medians)}")
            summary[f"masks exponent {name}"] = (f"{exponent:.2f}", f"peer {mask_bench.growth_exponent(sizes, peer_medians):.2f}",
                                                 exponent, "≤ 1.05", exponent <= 1.05)


def fspy_part(repeat: int, summary: dict) -> None:
    fixtures = calibration_bench.SHARED_DIR / "fixtures" / "fspy"
    shared = sorted(fixtures.glob("*.fspy")) if fixtures.is_dir() else []
    print(f"\nFSPY READ (bench/calibration.py: read_fspy(path).calibration_input()) against reading the file's "
          f"bytes; median of {repeat}; target ≤ {calibration_bench.TARGET_MS:g} ms for every shared project")
    if not shared:
        print(f"(no shared fixtures at {fixtures}; only the projects made here)")
    print(f"{'project':<30} {'ms':>8} {'floor ms':>9} {'× floor':>8}")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="depth3d-speed-") as folder:
        for path in shared + calibration_bench.made_projects(Path(folder)):
            try:
                calibration_bench.read_input(path)
            except calibration_bench.Depth3DError:
                continue
            read = calibration_bench.milliseconds(lambda: calibration_bench.read_input(path), repeat)
            floor = calibration_bench.milliseconds(path.read_bytes, repeat)
            if path in shared:
                worst = max(worst, read)
            print(f"{path.name:<30} {read:8.3f} {floor:9.3f} {read / floor:8.1f}")
    if shared:
        summary["fspy read"] = (f"{worst:.3f} ms (slowest shared)", "", worst / calibration_bench.TARGET_MS,
                                f"≤ {calibration_bench.TARGET_MS:g} ms", worst <= calibration_bench.TARGET_MS)


def api_part(mode: str, summary: dict) -> None:
    command = [sys.executable, str(ROOT / "bench" / "api.py")]
    if mode == "quick":
        command += ["--parts", "concurrency", "--clients", "4", "16", "--requests", "16"]
    print(f"\nAPI (bench/api.py{' ' + ' '.join(command[2:]) if mode == 'quick' else ''}); target: memory after 16 "
          "clients ≤ 1.5× after 4, req/s at 16 ≥ at 4", flush=True)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    print(output, end="")
    rows: dict[str, tuple[float, float]] = {}
    for line in output.splitlines():
        found = re.match(r"(pool \S+|unbounded)\s+16 clients / 4: req/s ([\d.]+)×, memory after ([\d.]+)×", line)
        if found:
            rows[found[1].split()[0]] = float(found[2]), float(found[3])
    if "pool" in rows:
        (throughput, memory), unbounded = rows["pool"], rows.get("unbounded")
        reference = "" if unbounded is None else f"no pool: {unbounded[1]:.2f}×, {unbounded[0]:.2f}×"
        summary["api 16/4 clients"] = (f"memory {memory:.2f}×, req/s {throughput:.2f}×", reference, memory,
                                       "memory ≤ 1.5×, req/s ≥ 1×", memory <= 1.5 and throughput >= 1.0)


def print_summary(summary: dict) -> None:
    print("\nSUMMARY: issue 15's figures (ratios against the floor or peer; 'issue: before' is the issue's own text)")
    print(f"{'figure':<26} {'now':>26} {'floor / peer':>34} {'ratio':>7} {'target':>22} {'':>6} issue: before")
    for name, (now, reference, ratio, target, met) in summary.items():
        before_key = next((key for key in ISSUE_BEFORE if name.startswith(key)), None)
        before = ISSUE_BEFORE.get(before_key, "")
        print(f"{name:<26} {now:>26} {reference:>34} {ratio:7.2f} {target:>22} {'meets' if met else 'misses':>6} "
              f"{before}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds (paired runs for the masks)")
    parser.add_argument("--before", type=Path, help="a checkout of earlier code to time beside this one")
    parser.add_argument("--api", choices=["quick", "full", "skip"], default="quick")
    parser.add_argument("--parts", nargs="+", choices=["scene", "imports", "fullres", "masks", "fspy", "api"],
                        default=["scene", "imports", "fullres", "masks", "fspy", "api"])
    args = parser.parse_args()
    started = time.perf_counter()
    summary: dict = {}
    if "scene" in args.parts:
        scene_part(args.sizes, args.repeat, args.before, summary)
    if "imports" in args.parts:
        imports_part(max(args.repeat, 15), args.before)
    if "fullres" in args.parts:
        fullres_part(args.sizes, summary)
    if "masks" in args.parts:
        masks_part(args.sizes, max(args.repeat, 5), summary)
    if "fspy" in args.parts:
        fspy_part(15, summary)
    if "api" in args.parts and args.api != "skip":
        api_part(args.api, summary)
    print_summary(summary)
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
