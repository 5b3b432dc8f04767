"""The licence of the chosen depth source is shown under every dropdown that chooses one."""

import re

import pytest

from lib_depth3d import ui
from lib_depth3d.depth.licence_note import licence_note, models_by_licence
from lib_depth3d.depth.sources import CONTROLNET_NOTE
from lib_depth3d.depth.registry import MODELS
from tests.support.a1111.fixture import a1111  # noqa: F401
from tests.support.gradio_events import component, handler

NON_COMMERCIAL_MODELS = ["depth-anything-v2-base", "depth-anything-v2-large"]


@pytest.mark.parametrize("name", list(MODELS))
def test_each_model_note_links_its_licence_and_says_when_commerce_is_forbidden(name):
    spec = MODELS[name]
    note = licence_note(name)
    assert note.startswith("Licence: ")
    assert f"({spec.licence_url})" in note
    assert ("non-commercial use only" in note) == (name in NON_COMMERCIAL_MODELS)


def test_cc_by_nc_models_are_the_non_commercial_ones():
    assert licence_note("depth-anything-v2-large").startswith("Licence: [CC BY-NC 4.0")
    assert licence_note("depth-anything-v2-small") == "Licence: [Apache-2.0](https://www.apache.org/licenses/LICENSE-2.0)"


def test_controlnet_sources_refer_to_controlnet_and_a_depth_image_has_no_licence():
    assert licence_note("controlnet:depth_midas") == CONTROLNET_NOTE
    assert licence_note("depth-image") == ""
    assert ui.show_licence(None) == ""


def test_models_by_licence_lists_every_model_once_non_commercial_first():
    groups = models_by_licence()
    assert sorted(name for names in groups.values() for name in names) == sorted(MODELS)
    first = next(iter(groups))
    assert first.non_commercial and groups[first] == NON_COMMERCIAL_MODELS
    assert sum(licence.non_commercial for licence in groups) == 1


def test_settings_html_names_each_licence_with_its_link_and_models():
    text = ui.licences_html()
    for licence, names in models_by_licence().items():
        match = re.search(rf'<a href="{re.escape(licence.url)}" target="_blank">{re.escape(licence.name)}</a>: '
                          rf'{re.escape(", ".join(names))}', text)
        assert match, licence.name


def test_the_tab_shows_the_licence_of_the_depth_source_and_follows_the_choice():
    tab = ui.build_tab(in_webui=False)
    source, line = component(tab, "depth3d_source"), component(tab, "depth3d_source_licence")
    assert line.value == licence_note(source.value)
    show = handler(tab, source, "change", line)
    assert "non-commercial use only" in show("depth-anything-v2-base")
    assert show("depth-image") == ""


def test_the_mask_script_shows_the_licence_of_its_depth_source(a1111):
    import gradio as gr

    module = a1111.load_script("scripts/depth3d_mask_inpaint.py")
    with gr.Blocks() as blocks:
        runner = a1111.runner(module, is_img2img=True)
    (script,) = runner.selectable_scripts
    source = component(blocks, "depth3d_mask_source")
    line = component(blocks, "depth3d_mask_source_licence")
    assert line not in runner.ui_components[script]
    assert line.value == licence_note(source.value)
    show = handler(blocks, source, "change", line)
    assert "non-commercial use only" in show("depth-anything-v2-large")
    assert show("depth-image") == ""
