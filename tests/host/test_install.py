"""install.py run as A1111 runs it, against the double's ``launch``."""

import runpy

from tests.support.a1111.fixture import REPO_ROOT, a1111  # noqa: F401


def run_install():
    runpy.run_path(str(REPO_ROOT / "install.py"), run_name="__main__")


def test_quiet_and_idle_when_nothing_is_missing(a1111, capsys):
    a1111.launch.installed.update({"pygltflib": "1.16.2"})
    run_install()
    assert a1111.launch.pip_calls == []
    assert capsys.readouterr() == ("", "")


def test_installs_only_what_is_missing(a1111):
    run_install()
    assert a1111.launch.pip_calls == [('install "pygltflib>=1.16,<2"', "Depth3D requirement: pygltflib>=1.16,<2")]


def test_never_touches_what_the_webui_has_whatever_its_version(a1111):
    a1111.launch.installed.update({"pygltflib": "1.0.0", "safetensors": "0.1.0"})
    run_install()
    assert a1111.launch.pip_calls == []


def test_every_requirement_line_is_read_with_its_version_bounds(a1111):
    a1111.launch.installed.clear()
    run_install()
    names = [call[0].split('"')[1] for call in a1111.launch.pip_calls]
    assert names == ["pygltflib>=1.16,<2", "safetensors>=0.3"]
