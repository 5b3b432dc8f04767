"""img2img script "Depth mask inpaint": each init image's depth decides what is repainted.

Adapts A1111's ``p``/``processed`` to ``lib_depth3d.mask.inpaint``; the work happens there.
A1111 calls ``run`` once per picture in the img2img batch tab, so each picture gets its own mask.
The settings go into the infotext and come back from it (``lib_depth3d.mask.infotext``); the
controls are built in ``lib_depth3d/ui.py``.
"""

import sys
from pathlib import Path

EXTENSION_ROOT = Path(__file__).resolve().parent.parent
if str(EXTENSION_ROOT) not in sys.path:
    sys.path.insert(0, str(EXTENSION_ROOT))

from modules import images, paths, processing, scripts, shared  # noqa: E402

from lib_depth3d.depth.weights import webui_models_dir  # noqa: E402
from lib_depth3d.depth.weights_advice import WEBUI_ADVICE  # noqa: E402

from lib_depth3d.mask.infotext import INFOTEXT_KEYS, infotext_params, paste_fields  # noqa: E402
from lib_depth3d.mask.inpaint import InpaintMaskSettings, picture_mask  # noqa: E402
from lib_depth3d.ui import build_mask_script_controls  # noqa: E402


class Script(scripts.Script):
    def title(self):
        return "Depth mask inpaint"

    def show(self, is_img2img):
        return bool(is_img2img)

    def ui(self, is_img2img):
        controls = build_mask_script_controls()
        self.infotext_fields = paste_fields(controls)
        self.paste_field_names = list(INFOTEXT_KEYS)
        return controls

    def run(self, p, *args):
        settings = InpaintMaskSettings.from_script_args(
            args, models_folder=webui_models_dir(shared.opts.data.get("depth3d_models_dir"), paths.models_path),
            keep_loaded=bool(shared.opts.data.get("depth3d_keep_loaded", False)), weights_advice=WEBUI_ADVICE)

        def report(message, fraction):
            shared.state.textinfo = f"Depth3D: {message}" + ("" if fraction is None else f" {fraction:.0%}")

        result = picture_mask(p.init_images[0], settings, progress=report)
        for warning in result.warnings:
            p.comment(f"Depth3D mask: {warning}")
        p.image_mask = result.mask
        if settings.mask_blur is not None:
            p.mask_blur = settings.mask_blur
        if settings.inpainting_fill is not None:
            p.inpainting_fill = settings.inpainting_fill
        # "Script" is how A1111's paste selects this script in the Script dropdown again.
        p.extra_generation_params.update({"Script": self.title(), **infotext_params(settings)})
        processed = processing.process_images(p)

        extras = [("mask", result.mask)]
        if settings.gallery_depth:
            extras.append(("depth", result.depth))
        if result.cutout is not None:
            extras.append(("cutout", result.cutout))
        infotext = processed.infotexts[0] if processed.infotexts else processed.info
        for name, picture in extras:
            processed.images.append(picture)
            processed.infotexts.append(infotext)
            if settings.save_images:
                # PNG whatever the samples format: a JPEG would blur the mask and drop the cut-out's alpha.
                images.save_image(picture, p.outpath_samples, "", processed.seed, p.prompt, "png",
                                  info=infotext, p=p, suffix=f"-depth3d-{name}")
        return processed
