"""Export a trained run as a folder other tools load: the merged model, or the LoRA adapter alone.

A merged export is a plain Hugging Face folder (safetensors weights, tokenizer with a chat template,
``generation_config.json`` from the prediction settings, ``README.md`` model card) that loads with
``AutoModelForCausalLM`` / ``AutoTokenizer`` and no peft (a classification or regression run: with
``AutoModelForSequenceClassification``, the head and its ``id2label`` names in ``config.json``). Its
weights are bfloat16 when the run's ``architecture.backbone_dtype`` was bfloat16 or auto (the usual type of
published models), float16 when it was float16, and float32 otherwise: float32 runs stay exact, and
int4/int8 (QLoRA) runs have their adapter merged into the dense float32 backbone.
The merge always runs on the CPU, so it never competes with a training run for GPU memory.

Every export is written into a temporary sibling folder and renamed into place at the end: a failure leaves
nothing behind. torch, transformers and peft are imported inside functions only.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from studio_desktop.core.errors import StudioError
from studio_desktop.core.files import write_folder
from studio_desktop.core.head_shape import HEAD_FILE
from studio_desktop.core.problem_types import HEAD_TYPES

if TYPE_CHECKING:
    from studio_desktop.core.config import ExperimentConfig

ExportKind = Literal["merged", "adapter", "gguf"]
EXPORT_KINDS: tuple[str, ...] = ("merged", "adapter", "gguf")
MODELFILE = "Modelfile"
CardText = Callable[[Any, Any], str]
"""Builds the model card of a GGUF export from what was written and how it was verified."""
Progress = Callable[[str, float], None]
"""Called with ``(stage, fraction done)``; fraction runs from 0 to 1."""

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
CARD_FILE = "README.md"
CARD_TAG = "studio-desktop"
_ROLE_ERROR = "Only system, user and assistant messages are supported by this template."


def _silent(_stage: str, _fraction: float) -> None:
    """Progress sink that drops every report."""


def export_dtype(cfg: ExperimentConfig) -> str:
    """Weights dtype of a merged export: bfloat16/float16 runs keep theirs, auto runs are bfloat16, every
    other run is float32."""
    dtype = cfg.architecture.backbone_dtype
    if dtype == "auto":
        return "bfloat16"
    return dtype if dtype in ("bfloat16", "float16") else "float32"


def is_studio_export(folder: Path) -> bool:
    """Whether ``folder`` holds an earlier export (its model card carries the studio-desktop tag)."""
    import yaml

    card = folder / CARD_FILE
    try:
        text = card.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not text.startswith("---\n"):
        return False
    try:
        front = yaml.safe_load(text[4 : text.find("\n---", 4)])
    except yaml.YAMLError:
        return False
    return isinstance(front, dict) and CARD_TAG in (front.get("tags") or [])


def check_target(out_dir: Path, overwrite: bool) -> Path:
    """The absolute ``out_dir``; refused when it exists, unless ``overwrite`` and it is empty or an export.

    Only an earlier export (or an empty folder) is ever replaced, so a mistyped ``--out`` cannot delete
    unrelated files.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    if not out_dir.exists():
        return out_dir
    if not overwrite:
        raise StudioError(
            f"{out_dir} already exists; choose another folder or pass --overwrite to replace it."
        )
    if not out_dir.is_dir():
        raise StudioError(f"{out_dir} is a file, not an export folder; choose another folder.")
    if any(out_dir.iterdir()) and not is_studio_export(out_dir):
        raise StudioError(
            f"{out_dir} is not empty and does not hold a Studio Desktop export, so it is not replaced; "
            "choose another folder."
        )
    return out_dir


def _write_atomically(out_dir: Path, write: Callable[[Path], None], overwrite: bool) -> Path:
    """Write the export beside ``out_dir`` and move it into place; a failure leaves nothing behind."""
    out_dir = check_target(out_dir, overwrite)

    def checked_write(work: Path) -> None:
        write(work)
        check_target(out_dir, overwrite)  # it may have appeared meanwhile

    try:
        return write_folder(out_dir, checked_write)
    except OSError as exc:
        raise StudioError(f"Cannot write the export into {out_dir}: {exc}") from exc


def _jinja_text(text: str) -> str:
    """A Jinja string literal that renders exactly ``text`` (JSON escapes are Jinja escapes too)."""
    return json.dumps(text, ensure_ascii=False)


def marker_chat_template(cfg: ExperimentConfig, eos_token: str | None) -> str:
    """A Jinja chat template that lays a chat out with the dataset's text markers, as training did.

    ``[system_start + system + EOS] + Σ(prompt_start + prompt + EOS + answer_separator, answer + EOS)``,
    each EOS as the ``add_eos_token_to_*`` settings say; the answer separator already cues the answer, so a
    generation prompt adds nothing.
    """
    dataset = cfg.dataset
    eos_flags = (
        dataset.add_eos_token_to_system,
        dataset.add_eos_token_to_prompt,
        dataset.add_eos_token_to_answer,
    )
    if any(eos_flags) and not eos_token:
        raise StudioError(
            "The tokenizer defines no end-of-sequence token, but the dataset settings add one "
            "(add_eos_token_to_system/prompt/answer)."
        )
    sys_eos, prompt_eos, answer_eos = (_jinja_text((eos_token or "") if flag else "") for flag in eos_flags)
    system = f"{_jinja_text(dataset.text_system_start)} + message['content'] + {sys_eos}"
    user = (
        f"{_jinja_text(dataset.text_prompt_start)} + message['content'] + {prompt_eos}"
        f" + {_jinja_text(dataset.text_answer_separator)}"
    )
    return (
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{% if message['content'] %}{{ " + system + " }}{% endif %}"
        "{% elif message['role'] == 'user' %}{{ " + user + " }}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + " + answer_eos + " }}"
        "{% else %}{{ raise_exception(" + _jinja_text(_ROLE_ERROR) + ") }}{% endif %}"
        "{% endfor %}"
    )


def prepare_tokenizer(tokenizer: Any, cfg: ExperimentConfig) -> Any:
    """``tokenizer`` with the chat template that reproduces the training layout.

    The backbone's template is kept when training used it; otherwise (``dataset.use_chat_template`` off,
    or a tokenizer without a template) a template of the text markers replaces it.
    """
    from studio_desktop.core.data.prepare import template_settings
    from studio_desktop.core.data.templates import uses_chat_template

    if not uses_chat_template(tokenizer, template_settings(cfg.dataset)):
        tokenizer.chat_template = marker_chat_template(cfg, tokenizer.eos_token)
    return tokenizer


def generation_settings(cfg: ExperimentConfig, tokenizer: Any = None, model: Any = None) -> dict[str, Any]:
    """The ``generate()`` arguments of the prediction settings that a generation config can hold.

    Stop strings are left out: ``generate`` needs the tokenizer passed in to use them.
    """
    from studio_desktop.core.evaluation import generation_kwargs

    kwargs = generation_kwargs(cfg.prediction, tokenizer, model)
    kwargs.pop("stop_strings", None)
    kwargs.pop("tokenizer", None)
    return kwargs


def build_generation_config(cfg: ExperimentConfig, tokenizer: Any, model: Any) -> Any:
    """A fresh ``GenerationConfig`` with the prediction settings and the model's special token ids."""
    from transformers import GenerationConfig

    settings = generation_settings(cfg, tokenizer, model)
    bos_id = getattr(getattr(model, "generation_config", None), "bos_token_id", None)
    if bos_id is not None:
        settings["bos_token_id"] = bos_id
    return GenerationConfig(**settings)


def _load_merged(
    model_dir: Path, backbone_folder: Path | None, cfg: ExperimentConfig, report: Progress
) -> Any:
    """(model, tokenizer) of the trained run on the CPU, adapters merged, in the export dtype."""
    import torch

    from studio_desktop.core.modeling import load_trained, merge_adapter

    dtype = export_dtype(cfg)
    load_cfg = cfg.replace(
        {
            "architecture.backbone_dtype": "bfloat16" if dtype == "bfloat16" else "float32",
            "training.attention_implementation": "auto",
        }
    )
    has_adapter = (model_dir / ADAPTER_FILES[0]).is_file()
    if has_adapter and backbone_folder is None:
        raise StudioError(f"{model_dir} holds a LoRA adapter: the backbone folder is needed to merge it.")
    report("Loading the trained model", 0.05)
    model, tokenizer = load_trained(model_dir, backbone_folder or model_dir, load_cfg, "cpu", merge=False)
    if has_adapter:
        report("Merging the adapter into the backbone", 0.4)
        model = merge_adapter(model)
    return model.to(getattr(torch, dtype)), tokenizer


def export_merged(
    model_dir: Path,
    backbone_folder: Path | None,
    cfg: ExperimentConfig,
    out_dir: Path,
    card_text: str,
    *,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the trained model, adapters merged, as a plain Hugging Face folder at ``out_dir``.

    ``backbone_folder`` is needed when ``model_dir`` holds a LoRA adapter (a full fine-tune is loaded as
    it is). An existing ``out_dir`` is refused unless ``overwrite`` (see ``check_target``).
    """
    report = progress or _silent
    model_dir = Path(model_dir)
    backbone = Path(backbone_folder) if backbone_folder is not None else None

    def write(target: Path) -> None:
        model, tokenizer = _load_merged(model_dir, backbone, cfg, report)
        if cfg.problem_type not in HEAD_TYPES:  # a head model scores its input, it does not generate
            model.generation_config = build_generation_config(cfg, tokenizer, model)
        model.config.use_cache = True
        report("Saving the weights", 0.6)
        model.save_pretrained(str(target))
        report("Saving the tokenizer", 0.85)
        prepare_tokenizer(tokenizer, cfg).save_pretrained(str(target))
        report("Writing the model card", 0.95)
        (target / CARD_FILE).write_text(card_text, encoding="utf-8")

    out_dir = _write_atomically(Path(out_dir), write, overwrite)
    report("Done", 1.0)
    return out_dir


def _copy_adapter(model_dir: Path, target: Path, base_model: str | None) -> None:
    """Copy the adapter files; ``base_model`` (a hub id) replaces the local backbone path they name."""
    config = json.loads((model_dir / ADAPTER_FILES[0]).read_text(encoding="utf-8"))
    if base_model:
        config["base_model_name_or_path"] = base_model
    (target / ADAPTER_FILES[0]).write_text(
        json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    shutil.copyfile(model_dir / ADAPTER_FILES[1], target / ADAPTER_FILES[1])
    if (model_dir / HEAD_FILE).is_file():
        shutil.copyfile(model_dir / HEAD_FILE, target / HEAD_FILE)


def export_adapter(
    model_dir: Path,
    cfg: ExperimentConfig,
    out_dir: Path,
    card_text: str,
    *,
    progress: Progress | None = None,
    overwrite: bool = False,
    base_model: str | None = None,
) -> Path:
    """Write the LoRA adapter (peft format), the tokenizer and the model card into ``out_dir``.

    ``base_model``, when given, is recorded as the adapter's base model (else the training backbone's path
    stays). A run without an adapter (full fine-tuning) is refused.
    """
    from studio_desktop.core.backbones import load_tokenizer

    report = progress or _silent
    model_dir = Path(model_dir)
    if not (model_dir / ADAPTER_FILES[0]).is_file():
        raise StudioError(
            f"{model_dir} holds no LoRA adapter: the run trained every weight (training.lora = false). "
            "Export the merged model instead."
        )
    if not (model_dir / ADAPTER_FILES[1]).is_file():
        raise StudioError(f"{model_dir} has no {ADAPTER_FILES[1]}: the adapter weights are missing.")

    def write(target: Path) -> None:
        report("Copying the adapter", 0.1)
        _copy_adapter(model_dir, target, base_model)
        report("Saving the tokenizer", 0.6)
        prepare_tokenizer(load_tokenizer(model_dir, cfg.environment.trust_remote_code), cfg).save_pretrained(
            str(target)
        )
        report("Writing the model card", 0.9)
        (target / CARD_FILE).write_text(card_text, encoding="utf-8")

    out_dir = _write_atomically(Path(out_dir), write, overwrite)
    report("Done", 1.0)
    return out_dir


def gguf_file_name(name: str, quant: str) -> str:
    """The file name of a GGUF export."""
    return f"{name}-{quant}.gguf"


def export_gguf(
    model_dir: Path,
    backbone_folder: Path | None,
    cfg: ExperimentConfig,
    out_dir: Path,
    card: CardText,
    *,
    quant: str,
    name: str,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the trained model as one verified GGUF file with an Ollama ``Modelfile`` and a model card.

    The merged model is written beside it first (and removed at the end): the GGUF file is made from it and
    verified against it (``core.gguf_export.verify_gguf``); f16, bf16 and q8_0 files must pass
    (``VERIFIED_TOKENS``), the legacy 4/5-bit ones are reported.
    """
    from studio_desktop.core.gguf_export import verify_gguf, write_gguf
    from studio_desktop.core.gguf_formats import COMPARED_TOKENS, VERIFIED_TOKENS
    from studio_desktop.core.ollama import modelfile

    report = progress or _silent
    model_dir = Path(model_dir)
    backbone = Path(backbone_folder) if backbone_folder is not None else None

    def write(target: Path) -> None:
        merged = target / ".merged"
        model, tokenizer = _load_merged(model_dir, backbone, cfg, report)
        model.config.use_cache = True
        report("Saving the merged weights", 0.3)
        model.save_pretrained(str(merged))
        tokenizer = prepare_tokenizer(tokenizer, cfg)
        tokenizer.save_pretrained(str(merged))
        del model
        path = target / gguf_file_name(name, quant)
        written = write_gguf(merged, path, quant, name, report)
        report("Verifying the GGUF file", 0.8)
        verification = verify_gguf(path, merged, VERIFIED_TOKENS.get(quant, COMPARED_TOKENS))
        if quant in VERIFIED_TOKENS and not verification.passed:
            raise StudioError(f"The GGUF file did not pass its verification: {verification.describe()}.")
        report("Writing the Modelfile and the model card", 0.95)
        text = modelfile(cfg, path.name, tokenizer.chat_template or "", tokenizer.eos_token or "")
        (target / MODELFILE).write_text(text, encoding="utf-8")
        (target / CARD_FILE).write_text(card(written, verification), encoding="utf-8")
        shutil.rmtree(merged)

    out_dir = _write_atomically(Path(out_dir), write, overwrite)
    report("Done", 1.0)
    return out_dir
