"""``p`` objects, ``process_images`` and ``Processed``, with A1111's order of script hooks.

The double "generates" deterministic pictures from the seed (and, for img2img, the init
image) instead of running Stable Diffusion; everything around it — batches, hooks, saving,
the grid, infotexts, interruption — follows A1111's ``process_images_inner``.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from modules import images, shared
from modules.generation_parameters_copypaste import quote
from modules.scripts import PostprocessBatchListArgs, PostprocessImageArgs


class StableDiffusionProcessing:
    def __init__(self, *, prompt="", negative_prompt="", seed=-1, width=512, height=512, n_iter=1, batch_size=1,
                 steps=20, sampler_name="Euler a", cfg_scale=7.0, outpath_samples=None, outpath_grids=None,
                 do_not_save_samples=False, do_not_save_grid=False, scripts=None, script_args=None,
                 override_settings=None):
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.seed = seed
        self.width = width
        self.height = height
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.steps = steps
        self.sampler_name = sampler_name
        self.cfg_scale = cfg_scale
        self.outpath_samples = outpath_samples
        self.outpath_grids = outpath_grids
        self.do_not_save_samples = do_not_save_samples
        self.do_not_save_grid = do_not_save_grid
        self.scripts = scripts
        self.script_args = list(script_args or [])
        self.override_settings = override_settings or {}
        self.extra_generation_params: dict = {}
        self.comments: dict = {}
        self.paste_to = None
        """(x, y, width, height) where the generated picture is pasted back into the init image
        (img2img's "Only masked" inpainting), else None."""
        self.iteration = 0
        self.batch_index = 0
        self.all_prompts: list = []
        self.all_negative_prompts: list = []
        self.all_seeds: list = []
        self.prompts: list = []
        self.seeds: list = []

    def comment(self, text: str) -> None:
        self.comments[text] = 1

    def setup_prompts(self) -> None:
        total = self.n_iter * self.batch_size
        self.all_prompts = [self.prompt] * total
        self.all_negative_prompts = [self.negative_prompt] * total
        first_seed = self.seed if self.seed != -1 else 1234
        self.all_seeds = [int(first_seed) + i for i in range(total)]

    def init(self, all_prompts, all_seeds) -> None:
        pass

    def picture(self, seed: int, index: int) -> np.ndarray:
        """A deterministic (H, W, 3) float picture in [0, 1] standing in for the sampler's result."""
        rows, columns = np.mgrid[0:self.height, 0:self.width].astype(np.float32)
        generator = np.random.default_rng(seed)
        centre_x, centre_y = generator.uniform(0.25, 0.75, 2) * (self.width, self.height)
        radius = generator.uniform(0.15, 0.3) * min(self.width, self.height)
        disc = ((columns - centre_x) ** 2 + (rows - centre_y) ** 2 < radius ** 2).astype(np.float32)
        colour = generator.uniform(0.2, 1.0, 3).astype(np.float32)
        background = (rows / max(self.height - 1, 1))[..., None] * np.array([0.2, 0.4, 0.6], np.float32)
        return background * (1 - disc[..., None]) + disc[..., None] * colour

    def sample(self, seeds) -> torch.Tensor:
        """(batch, 3, H, W) float tensor in [0, 1], as A1111's decoded samples."""
        return torch.from_numpy(np.stack([self.picture(seed, i) for i, seed in enumerate(seeds)]).transpose(0, 3, 1, 2))


class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    def __init__(self, *, enable_hr=False, denoising_strength=0.75, **kwargs):
        super().__init__(**kwargs)
        self.enable_hr = enable_hr
        self.denoising_strength = denoising_strength


class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    def __init__(self, *, init_images=None, resize_mode=0, denoising_strength=0.75, image_mask=None, mask_blur=4,
                 inpainting_fill=1, inpaint_full_res=False, inpaint_full_res_padding=32, inpainting_mask_invert=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.init_images = list(init_images or [])
        self.resize_mode = resize_mode
        self.denoising_strength = denoising_strength
        self.image_mask = image_mask
        self.mask_blur = mask_blur
        self.inpainting_fill = inpainting_fill
        self.inpaint_full_res = inpaint_full_res
        self.inpaint_full_res_padding = inpaint_full_res_padding
        self.inpainting_mask_invert = inpainting_mask_invert
        self.mask_used_for: list = []
        if inpaint_full_res and image_mask is not None:
            self.paste_to = self._masked_region()

    def _masked_region(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the init image that "Only masked" inpaints: the mask's bounding
        box grown by the padding, then widened about its centre to the generation's aspect ratio
        within the picture (A1111's ``get_crop_region_v2`` and ``expand_crop_region``)."""
        rows, columns = np.nonzero(np.asarray(self.image_mask.convert("L")) > 127)
        full_width, full_height = self.image_mask.size
        pad = self.inpaint_full_res_padding
        x1, y1 = max(int(columns.min()) - pad, 0), max(int(rows.min()) - pad, 0)
        x2, y2 = min(int(columns.max()) + 1 + pad, full_width), min(int(rows.max()) + 1 + pad, full_height)
        width, height = x2 - x1, y2 - y1
        if width * self.height < height * self.width:
            wider = min(round(height * self.width / self.height), full_width)
            x1 = min(max(x1 - (wider - width) // 2, 0), full_width - wider)
            width = wider
        else:
            taller = min(round(width * self.height / self.width), full_height)
            y1 = min(max(y1 - (taller - height) // 2, 0), full_height - taller)
            height = taller
        return x1, y1, width, height

    def _generation_input(self, picture: Image.Image) -> Image.Image:
        """The init image or mask as the sampler sees it: its inpainted region alone with "Only
        masked", at the generation's size."""
        if self.paste_to is not None:
            x, y, width, height = self.paste_to
            picture = picture.crop((x, y, x + width, y + height))
        return picture.resize((self.width, self.height))

    def pasted(self, image: Image.Image, index: int) -> Image.Image:
        """A1111's ``apply_overlay`` for "Only masked": the generated picture resized into its
        region of the init image, the picture that is shown and saved."""
        x, y, width, height = self.paste_to
        full = self.init_images[index % len(self.init_images)].convert("RGB")
        full.paste(image.resize((width, height), Image.LANCZOS), (x, y))
        return full

    def sample(self, seeds) -> torch.Tensor:
        """The init image blended with the seed's picture by ``denoising_strength``; the mask
        (white = repaint) limits the change to the repainted area, as inpainting does."""
        pictures = []
        for i, seed in enumerate(seeds):
            init = self._generation_input(self.init_images[i % len(self.init_images)].convert("RGB"))
            start = np.asarray(init, dtype=np.float32) / 255.0
            change = self.denoising_strength * np.ones(start.shape[:2], np.float32)
            if self.image_mask is not None:
                mask = self._generation_input(self.image_mask.convert("L"))
                self.mask_used_for.append(mask)
                repaint = np.asarray(mask, dtype=np.float32) / 255.0
                change *= 1 - repaint if self.inpainting_mask_invert else repaint
            pictures.append(start + change[..., None] * (self.picture(seed, i) - start))
        return torch.from_numpy(np.stack(pictures).transpose(0, 3, 1, 2))


class Processed:
    def __init__(self, p, images_list, seed=-1, info="", subseed=None, all_prompts=None, all_negative_prompts=None,
                 all_seeds=None, all_subseeds=None, index_of_first_image=0, infotexts=None):
        self.images = images_list
        self.prompt = p.prompt
        self.negative_prompt = p.negative_prompt
        self.seed = seed
        self.info = info
        self.comments = "".join(f"{comment}\n" for comment in p.comments)
        self.width = p.width
        self.height = p.height
        self.batch_size = p.batch_size
        self.extra_generation_params = p.extra_generation_params
        self.all_prompts = all_prompts or p.all_prompts or [self.prompt]
        self.all_negative_prompts = all_negative_prompts or p.all_negative_prompts or [self.negative_prompt]
        self.all_seeds = all_seeds or p.all_seeds or [self.seed]
        self.index_of_first_image = index_of_first_image
        self.infotexts = infotexts or [info] * len(images_list)

    def js(self) -> str:
        """What the API answers as ``info`` (A1111 1.10: these keys among others). The comments
        shown under the gallery are not among them."""
        return json.dumps({
            "prompt": self.all_prompts[0], "all_prompts": self.all_prompts,
            "negative_prompt": self.all_negative_prompts[0], "seed": self.seed, "all_seeds": self.all_seeds,
            "width": self.width, "height": self.height, "batch_size": self.batch_size,
            "extra_generation_params": self.extra_generation_params,
            "index_of_first_image": self.index_of_first_image, "infotexts": self.infotexts,
        }, default=lambda value: None)

    def infotext(self, p, index) -> str:
        return create_infotext(p, self.all_prompts, self.all_seeds, index // self.batch_size, index % self.batch_size)


def create_infotext(p, all_prompts, all_seeds, iteration=0, position_in_batch=0) -> str:
    index = position_in_batch + iteration * p.batch_size
    generation_params = {
        "Steps": p.steps,
        "Sampler": p.sampler_name,
        "CFG scale": p.cfg_scale,
        "Seed": all_seeds[index],
        "Size": f"{p.width}x{p.height}",
        "Denoising strength": getattr(p, "denoising_strength", None) if isinstance(p, StableDiffusionProcessingImg2Img) else None,
        **p.extra_generation_params,
    }
    text = ", ".join(k if k == v else f"{k}: {quote(v)}" for k, v in generation_params.items() if v is not None)
    negative = f"\nNegative prompt: {p.all_negative_prompts[index]}" if p.all_negative_prompts[index] else ""
    return f"{all_prompts[index]}{negative}\n{text}".strip()


def process_images(p) -> Processed:
    if p.scripts is not None:
        p.scripts.before_process(p)
    return process_images_inner(p)


def process_images_inner(p) -> Processed:
    state = shared.state
    opts = shared.opts
    p.setup_prompts()
    if state.job_count == -1:
        state.job_count = p.n_iter
    if p.scripts is not None:
        p.scripts.process(p)
    infotexts = []
    output_images = []

    def infotext(iteration=0, position_in_batch=0):
        return create_infotext(p, p.all_prompts, p.all_seeds, iteration, position_in_batch)

    for n in range(p.n_iter):
        p.iteration = n
        if state.skipped:
            state.skipped = False
        if state.interrupted or state.stopping_generation:
            break
        p.prompts = p.all_prompts[n * p.batch_size:(n + 1) * p.batch_size]
        p.negative_prompts = p.all_negative_prompts[n * p.batch_size:(n + 1) * p.batch_size]
        p.seeds = p.all_seeds[n * p.batch_size:(n + 1) * p.batch_size]
        if p.scripts is not None:
            p.scripts.before_process_batch(p, batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.seeds)
        if p.scripts is not None:
            p.scripts.process_batch(p, batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.seeds)
        state.job = f"Batch {n + 1} out of {p.n_iter}"
        x_samples = p.sample(p.seeds)
        if p.scripts is not None:
            p.scripts.postprocess_batch(p, x_samples, batch_number=n)
            batch_params = PostprocessBatchListArgs(list(x_samples))
            p.scripts.postprocess_batch_list(p, batch_params, batch_number=n)
            x_samples = batch_params.images
        for i, x_sample in enumerate(x_samples):
            p.batch_index = i
            array = 255.0 * np.moveaxis(x_sample.cpu().numpy(), 0, 2)
            image = Image.fromarray(np.clip(array + 0.5, 0, 255).astype(np.uint8))
            if p.scripts is not None:
                pp = PostprocessImageArgs(image)
                p.scripts.postprocess_image(p, pp)
                image = pp.image
            if p.paste_to is not None:
                image = p.pasted(image, i)
            text = infotext(n, i)
            if opts.samples_save and not p.do_not_save_samples:
                images.save_image(image, p.outpath_samples, "", p.seeds[i], p.prompts[i], opts.samples_format,
                                  info=text, p=p)
            infotexts.append(text)
            if opts.enable_pnginfo:
                image.info["parameters"] = text
            output_images.append(image)
        state.nextjob()
    if not infotexts:  # nothing generated (interrupted at once): the parameters are still reported
        infotexts.append(Processed(p, []).infotext(p, 0))
    index_of_first_image = 0
    if len(output_images) > 1 and opts.return_grid:
        grid = images.image_grid(output_images, p.batch_size)
        text = infotext()
        infotexts.insert(0, text)
        output_images.insert(0, grid)
        index_of_first_image = 1
        if opts.grid_save and not p.do_not_save_grid:
            images.save_image(grid, p.outpath_grids, "grid", p.all_seeds[0], p.all_prompts[0], opts.grid_format,
                              info=text, short_filename=not opts.grid_extended_filename, p=p, grid=True)
    res = Processed(p, output_images, p.all_seeds[0], infotexts[0], index_of_first_image=index_of_first_image,
                    infotexts=infotexts)
    if p.scripts is not None:
        p.scripts.postprocess(p, res)
    return res
