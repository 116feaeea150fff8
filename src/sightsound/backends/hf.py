"""The ``hf`` backend: transformers ``generate`` on a local model, batched across requests and samples.

Requests that share sampling parameters go through one ``generate`` call per ``spec.batch_size``
requests: the prompts are left-padded, each request expands to ``n`` sequences with
``num_return_sequences``, and decoding uses the KV cache. Frames go in as images where torchvision
is absent (CPU machines) and as one video where the processor has a video processor.

Determinism: each ``generate`` call is seeded with the requests' ``seed``, so the same batch of
requests with the same seed gives the same outputs. (Outputs depend on which requests share a
call, as with any batched sampler.) ``temperature == 0`` is greedy; its ``n`` samples are copies.

A request that cannot be run (wrong modality for the model, a processor or generate error) comes
back as a :class:`GenerationResult` with ``error`` set; a failing batch is retried request by
request so one bad request never takes the others down.
"""

from __future__ import annotations

import logging
from typing import Any

from sightsound.backends.interface import Generation, GenerationRequest, GenerationResult, SamplingParams
from sightsound.config import ModelSpec
from sightsound.models.chat import chat_template_messages, encode_batch, render_prompt, to_16k
from sightsound.models.loading import (
    TAKES_AUDIO,
    TAKES_IMAGES,
    describe_model,
    load_model,
    resolve_architecture,
)

log = logging.getLogger(__name__)


def _sampling_key(s: SamplingParams) -> tuple:
    return (s.n, float(s.temperature), float(s.top_p), s.max_new_tokens, s.seed)


class HFBackend:
    name = "hf"

    def __init__(self, spec: ModelSpec | str, model=None, processor=None, progress: bool = True):
        self.spec = ModelSpec(name_or_path=spec) if isinstance(spec, str) else spec
        if model is None or processor is None:
            model, processor = load_model(self.spec)
        self.model, self.processor = model, processor
        self.model.eval()
        self.arch = resolve_architecture(self.spec)
        self.progress = progress
        # Real video only where the processor has a video processor (needs torchvision).
        can_video = TAKES_IMAGES[self.arch] and getattr(processor, "video_processor", None) is not None
        if self.spec.frames_as == "video" and not can_video:
            raise ValueError(f"{self.spec.name_or_path}: frames_as=video needs a video processor (torchvision), "
                             "which this machine lacks; use frames_as=images")
        # "auto" picks video for the Qwen2.5-VL teacher only: the Omni processor's video path also
        # interleaves audio from the video, which a silent-video request does not have.
        wants_video = self.spec.frames_as == "video" or (self.spec.frames_as == "auto" and self.arch == "qwen2_5_vl")
        self.frames_as_video = can_video and wants_video
        gen_cfg = self.model.generation_config
        eos = gen_cfg.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        im_end = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != processor.tokenizer.unk_token_id and im_end not in eos:
            eos.append(im_end)  # the chat turn ends here even if a checkpoint's config forgot it
        if not eos:
            raise ValueError(f"{self.spec.name_or_path}: no eos token in the generation config or tokenizer")
        self.eos_ids = eos
        pad = gen_cfg.pad_token_id if gen_cfg.pad_token_id is not None else processor.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else eos[0]

    # ------------------------------------------------------------------------------------ public
    def describe(self) -> dict[str, Any]:
        out = {"backend": self.name, **describe_model(self.spec, self.model)}
        if TAKES_IMAGES[self.arch]:
            out["frames_as"] = "video" if self.frames_as_video else "images"
        return out

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        results: dict[int, GenerationResult] = {}
        runnable: list[int] = []
        for i, req in enumerate(requests):
            problem = self._check(req)
            if problem:
                results[i] = GenerationResult(request_id=req.id, error=problem)
            else:
                runnable.append(i)

        # Group by sampling parameters (one generate call takes one set), keep request order inside.
        groups: dict[tuple, list[int]] = {}
        for i in runnable:
            groups.setdefault(_sampling_key(requests[i].sampling), []).append(i)
        size = max(1, int(self.spec.batch_size))
        chunks = [idx[k:k + size] for idx in groups.values() for k in range(0, len(idx), size)]
        bar = None
        if self.progress and len(chunks) > 1:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(runnable), desc="hf generate", unit="req", leave=False)
        for chunk in chunks:
            for i, res in zip(chunk, self._run_isolated([requests[i] for i in chunk])):
                results[i] = res
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        return [results[i] for i in range(len(requests))]

    # ----------------------------------------------------------------------------------- helpers
    def _check(self, req: GenerationRequest) -> str | None:
        s = req.sampling
        if s.n < 1 or s.max_new_tokens < 1:
            return f"invalid sampling parameters: n={s.n}, max_new_tokens={s.max_new_tokens}"
        if s.temperature < 0 or not 0 < s.top_p <= 1:
            return f"invalid sampling parameters: temperature={s.temperature}, top_p={s.top_p}"
        if req.images and not TAKES_IMAGES[self.arch]:
            return f"{self.arch} model takes no images/frames (request has {len(req.images)})"
        if req.audio is not None and not TAKES_AUDIO[self.arch]:
            return f"{self.arch} model takes no audio"
        if req.audio is not None and getattr(req.audio, "size", 0) == 0:
            return "empty audio array"
        return None

    def _run_isolated(self, reqs: list[GenerationRequest]) -> list[GenerationResult]:
        try:
            return self._run(reqs)
        except Exception as e:  # noqa: BLE001 - a batch must complete; find the bad request
            if len(reqs) == 1:
                log.warning("hf backend: request %s failed: %s: %s", reqs[0].id, type(e).__name__, e)
                return [GenerationResult(request_id=reqs[0].id, error=f"{type(e).__name__}: {e}")]
            log.warning("hf backend: batch of %d failed (%s: %s); retrying one by one", len(reqs), type(e).__name__, e)
            return [res for req in reqs for res in self._run_isolated([req])]

    def _encode(self, reqs: list[GenerationRequest]):
        prompts, frames, audios = [], [], []
        for req in reqs:
            n_images = len(req.images or [])
            messages = chat_template_messages(req.text, n_images=n_images, has_audio=req.audio is not None,
                                      system=req.system, video=self.frames_as_video)
            prompts.append(render_prompt(self.processor, messages, add_generation_prompt=True))
            frames.append(list(req.images) if req.images else None)
            audios.append(to_16k(req.audio, req.sample_rate) if req.audio is not None else None)
        batch = encode_batch(self.processor, self.arch, prompts, frames, audios, padding_side="left",
                             video=self.frames_as_video, video_fps=self.spec.video_fps)
        device, dtype = self.model.device, self.model.dtype
        return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) if hasattr(v, "to") else v
                for k, v in batch.items()}

    def _run(self, reqs: list[GenerationRequest]) -> list[GenerationResult]:
        import torch

        s = reqs[0].sampling
        inputs = self._encode(reqs)
        greedy = s.temperature == 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": s.max_new_tokens, "eos_token_id": self.eos_ids, "pad_token_id": self.pad_id,
            "use_cache": True, "repetition_penalty": 1.0,
        }
        if greedy:
            kwargs.update(do_sample=False, num_return_sequences=1, temperature=None, top_p=None, top_k=None)
        else:
            # Real checkpoints ship top_k / top_p / temperature in generation_config.json (Qwen2.5-VL:
            # top_k=1), which would silently turn "sampling at temperature T" into greedy: override all.
            kwargs.update(do_sample=True, num_return_sequences=s.n, temperature=s.temperature, top_p=s.top_p,
                          top_k=0)
        if s.seed is not None:
            torch.manual_seed(s.seed)  # also seeds every CUDA device
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        sequences = out.sequences if hasattr(out, "sequences") else out
        new_tokens = sequences[:, inputs["input_ids"].shape[1]:].tolist()
        per_req = 1 if greedy else s.n
        results = []
        for r, req in enumerate(reqs):
            rows = new_tokens[r * per_req:(r + 1) * per_req]
            gens = [self._to_generation(row) for row in rows]
            if greedy:
                gens = [Generation(g.text, g.num_tokens, g.finish_reason) for g in gens * s.n]
            results.append(GenerationResult(request_id=req.id, generations=gens))
        return results

    def _to_generation(self, row: list[int]) -> Generation:
        stop = next((k for k, t in enumerate(row) if t in self.eos_ids), None)
        if stop is None:  # ran to max_new_tokens (a finished row is padded after its eos)
            tokens, finish = row, "length"
            num = len(row)
        else:
            tokens, finish = row[:stop], "stop"
            num = stop + 1  # the eos counts: it was generated
        text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True)
        return Generation(text=text, num_tokens=num, finish_reason=finish)
