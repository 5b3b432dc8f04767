"""install.py run as A1111 runs it, against the double's ``launch``."""

import runpy
import sys

import pytest

from tests.support.a1111.fixture import REPO_ROOT, a1111  # noqa: F401


def run_install():
    runpy.run_path(str(REPO_ROOT / "install.py"), run_name="__main__")


def test_quiet_and_idle_when_nothing_is_missing(a1111, capsys):
    a1111.launch.installed.update({"OpenEXR": "3.5.2", "isal": "1.9.1"})
    run_install()
    assert a1111.launch.pip_calls == []
    assert capsys.readouterr() == ("", "")


def test_installs_only_what_is_missing(a1111):
    run_install()
    assert a1111.launch.pip_calls == [('install "openexr>=3.3,<4"', "Depth3D requirement: openexr>=3.3,<4"),
                                      ('install "isal>=1.9,<2"', "Depth3D requirement: isal>=1.9,<2")]


def test_never_touches_what_the_webui_has_whatever_its_version(a1111):
    a1111.launch.installed.update({"safetensors": "0.1.0", "openexr": "3.1.0", "isal": "1.0.0"})
    run_install()
    assert a1111.launch.pip_calls == []


def test_every_requirement_line_is_read_with_its_version_bounds(a1111, monkeypatch):
    a1111.launch.installed.clear()
    monkeypatch.setitem(sys.modules, "cv2", None)  # None in sys.modules: the import fails
    run_install()
    names = [call[0].split('"')[1] for call in a1111.launch.pip_calls]
    assert names == ["safetensors>=0.3", "opencv-python-headless==4.10.0.84", "openexr>=3.3,<4",
                     "scipy>=1.9", "isal>=1.9,<2"]


def test_opencv_counts_as_present_by_its_import_whatever_distribution_gives_it(a1111):
    pytest.importorskip("cv2")
    a1111.launch.installed.update({"openexr": "3.5.2", "isal": "1.9.1"})
    assert "opencv-python-headless" not in a1111.launch.installed
    run_install()
    assert a1111.launch.pip_calls == []


def test_opencv_is_installed_when_cv2_does_not_import(a1111, monkeypatch):
    a1111.launch.installed.update({"opencv-python-headless": "4.10.0.84", "openexr": "3.5.2", "isal": "1.9.1"})
    monkeypatch.setitem(sys.modules, "cv2", None)
    run_install()
    assert [call[0] for call in a1111.launch.pip_calls] == ['install "opencv-python-headless==4.10.0.84"']
