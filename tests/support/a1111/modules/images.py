"""``save_image`` with A1111's naming (``NNNNN-seed-prompt.png``) and ``image_grid``."""

from __future__ import annotations

import datetime
import math
import os
import re

from PIL import Image, PngImagePlugin

from modules import script_callbacks, shared

invalid_filename_chars = '#<>:"/\\|?*\n\r\t'
max_filename_part_length = 128


def sanitize_filename_part(text: str, replace_spaces: bool = True) -> str:
    if replace_spaces:
        text = text.replace(" ", "_")
    text = text.translate({ord(x): "_" for x in invalid_filename_chars})
    return text.lstrip()[:max_filename_part_length].rstrip(". ")


def get_next_sequence_number(path: str, basename: str) -> int:
    """One more than the highest leading number of the files in ``path`` (after ``basename-``)."""
    result = -1
    if basename != "":
        basename = f"{basename}-"
    prefix_length = len(basename)
    for name in os.listdir(path):
        if name.startswith(basename):
            parts = os.path.splitext(name[prefix_length:])[0].split("-")
            try:
                result = max(int(parts[0]), result)
            except ValueError:
                pass
    return result + 1


def image_grid(imgs, batch_size=1, rows=None):
    rows = rows or math.floor(math.sqrt(len(imgs)))
    cols = math.ceil(len(imgs) / rows)
    w, h = imgs[0].size
    grid = Image.new("RGB", size=(cols * w, rows * h), color="black")
    for i, img in enumerate(imgs):
        grid.paste(img, box=(i % cols * w, i // cols * h))
    return grid


def _decoration(seed, prompt, in_subfolder: bool) -> str:
    pattern = shared.opts.samples_filename_pattern or ("[seed]" if in_subfolder else "[seed]-[prompt_spaces]")
    prompt_text = sanitize_filename_part(prompt or "", replace_spaces=False)
    text = pattern.replace("[seed]", "" if seed is None else str(seed)).replace("[prompt_spaces]", prompt_text)
    return re.sub(r"-+$", "", text)


def save_image(image, path, basename, seed=None, prompt=None, extension="png", info=None, short_filename=False,
               no_prompt=False, grid=False, pnginfo_section_name="parameters", p=None, existing_info=None,
               forced_filename=None, suffix="", save_to_dirs=None):
    """Save ``image`` under ``path`` and return ``(fullfn, txt_fullfn)`` as A1111 does.

    With ``opts.save_to_dirs`` (``grid_save_to_dirs`` for grids) the file goes into a subfolder
    named by ``directories_filename_pattern`` (``[date]``: YYYY-MM-DD) and its name loses the prompt.
    """
    if save_to_dirs is None:
        save_to_dirs = (grid and shared.opts.grid_save_to_dirs) or (
            not grid and shared.opts.save_to_dirs and not no_prompt)
    if save_to_dirs:
        folder = shared.opts.directories_filename_pattern.replace("[date]", datetime.date.today().isoformat())
        path = os.path.join(path, sanitize_filename_part(folder, replace_spaces=False))
    os.makedirs(path, exist_ok=True)
    if forced_filename is None:
        in_subfolder = bool(save_to_dirs)
        file_decoration = "" if short_filename or seed is None else _decoration(seed, prompt, in_subfolder)
        file_decoration += suffix
        add_number = shared.opts.save_images_add_number or file_decoration == ""
        if file_decoration != "" and add_number:
            file_decoration = f"-{file_decoration}"
        if add_number:
            basecount = get_next_sequence_number(path, basename)
            fullfn = None
            for i in range(500):
                fn = f"{basecount + i:05}" if basename == "" else f"{basename}-{basecount + i:04}"
                fullfn = os.path.join(path, f"{fn}{file_decoration}.{extension}")
                if not os.path.exists(fullfn):
                    break
        else:
            fullfn = os.path.join(path, f"{file_decoration}.{extension}")
    else:
        fullfn = os.path.join(path, f"{forced_filename}.{extension}")
    pnginfo = existing_info or {}
    if info is not None:
        pnginfo[pnginfo_section_name] = info
    params = script_callbacks.ImageSaveParams(image, p, fullfn, pnginfo)
    script_callbacks.before_image_saved_callback(params)
    fullfn = params.filename
    png_info = PngImagePlugin.PngInfo()
    for key, value in params.pnginfo.items():
        png_info.add_text(key, str(value))
    temporary = f"{os.path.splitext(fullfn)[0]}.tmp"
    params.image.save(temporary, format=extension.upper() if extension != "jpg" else "JPEG", pnginfo=png_info)
    os.replace(temporary, fullfn)
    txt_fullfn = None
    if shared.opts.save_txt and info is not None:
        txt_fullfn = f"{os.path.splitext(fullfn)[0]}.txt"
        with open(txt_fullfn, "w", encoding="utf8") as file:
            file.write(f"{info}\n")
    script_callbacks.image_saved_callback(params)
    return fullfn, txt_fullfn
