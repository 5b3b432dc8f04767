"""The A1111 double itself behaves as the spec says (hook order, naming, grid, interruption)."""

import textwrap

from tests.support.a1111.fixture import a1111  # noqa: F401

RECORDING_SCRIPT = textwrap.dedent('''
    from modules import scripts

    calls = []

    class Recorder(scripts.Script):
        def title(self):
            return "Recorder"

        def show(self, is_img2img):
            return scripts.AlwaysVisible

        def ui(self, is_img2img):
            return []

        def setup(self, p, *args):
            calls.append("setup")

        def before_process(self, p, *args):
            calls.append("before_process")

        def process(self, p, *args):
            calls.append("process")

        def before_process_batch(self, p, *args, **kw):
            calls.append(f"before_process_batch {kw['batch_number']}")

        def process_batch(self, p, *args, **kw):
            calls.append(f"process_batch {kw['batch_number']}")

        def postprocess_batch(self, p, *args, **kw):
            calls.append(f"postprocess_batch {kw['batch_number']} {tuple(kw['images'].shape)}")

        def postprocess_batch_list(self, p, pp, *args, **kw):
            calls.append(f"postprocess_batch_list {len(pp.images)}")

        def postprocess_image(self, p, pp, *args):
            calls.append(f"postprocess_image {pp.image.size}")

        def postprocess(self, p, processed, *args):
            calls.append(f"postprocess {len(processed.images)}")
''')


def _recorder(a1111, tmp_path):
    path = tmp_path / "recorder.py"
    path.write_text(RECORDING_SCRIPT)
    module = a1111.load_script(str(path))
    return module, a1111.runner(module, is_img2img=False)


def test_hooks_run_in_a1111_order_and_images_get_a1111_names(a1111, tmp_path):
    module, runner = _recorder(a1111, tmp_path)
    p, processed = a1111.txt2img(runner, runner.script_args_for(), prompt="a cat", seed=7, width=64, height=48,
                                 batch_size=2, n_iter=2)
    batch = ["before_process_batch {n}", "process_batch {n}", "postprocess_batch {n} (2, 3, 48, 64)",
             "postprocess_batch_list 2", "postprocess_image (64, 48)", "postprocess_image (64, 48)"]
    expected = ["setup", "before_process", "process", *[c.format(n=0) for c in batch],
                *[c.format(n=1) for c in batch], "postprocess 5"]
    assert module.calls == expected
    saved = sorted(f.name for f in (a1111.root / "outputs" / "txt2img-images").iterdir())
    assert saved == ["00000-7-a cat.png", "00001-8-a cat.png", "00002-9-a cat.png", "00003-10-a cat.png"]
    assert [f.name for f in (a1111.root / "outputs" / "txt2img-grids").iterdir()] == ["grid-0000.png"]
    assert len(processed.infotexts) == len(processed.images) == 5
    assert processed.index_of_first_image == 1
    params = a1111.generation_parameters_copypaste.parse_generation_parameters(processed.infotexts[2])
    assert (params["Prompt"], params["Seed"], params["Size-1"], params["Size-2"]) == ("a cat", "8", "64", "48")


def test_interrupting_finishes_the_batch_and_stops_before_the_next(a1111, tmp_path):
    module, runner = _recorder(a1111, tmp_path)
    a1111.script_callbacks.on_image_saved(lambda params: a1111.shared.state.interrupt())
    p, processed = a1111.txt2img(runner, runner.script_args_for(), seed=1, width=32, height=32,
                                 batch_size=2, n_iter=2)
    assert len(list((a1111.root / "outputs" / "txt2img-images").iterdir())) == 2
    assert module.calls.count("postprocess_image (32, 32)") == 2
    assert len(processed.images) == len(processed.infotexts) == 3


def test_img2img_blends_the_init_image_inside_the_mask_only(a1111, tmp_path):
    from PIL import Image

    module, runner = _recorder(a1111, tmp_path)
    init = Image.new("RGB", (32, 32), (255, 0, 0))
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (0, 0, 16, 32))
    p, processed = a1111.img2img(runner, runner.script_args_for(), init_images=[init], image_mask=mask,
                                 width=32, height=32, denoising_strength=1.0)
    result = processed.images[0]
    assert result.getpixel((28, 5)) == (255, 0, 0)
    assert result.getpixel((3, 5)) != (255, 0, 0)


FAILING_SCRIPT = textwrap.dedent('''
    from modules import scripts

    class Failing(scripts.Script):
        def title(self):
            return "Failing"

        def show(self, is_img2img):
            return scripts.AlwaysVisible

        def process(self, p, *args):
            p.comment("said before failing")
            raise ValueError("broken on purpose")
''')


def test_an_exception_in_a_hook_is_reported_and_the_generation_goes_on(a1111, tmp_path):
    path = tmp_path / "failing.py"
    path.write_text(FAILING_SCRIPT)
    module = a1111.load_script(str(path))
    runner = a1111.runner(module, is_img2img=False)
    p, processed = a1111.txt2img(runner, runner.script_args_for(), seed=2, width=32, height=32)
    assert [path.name for path in (a1111.root / "outputs" / "txt2img-images").iterdir()] == ["00000-2.png"]
    ((message, error),) = a1111.errors.reported
    assert message == f"Error running process: {path}" and str(error) == "broken on purpose"
    assert processed.comments == "said before failing\n"
