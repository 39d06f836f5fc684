"""Export a finished experiment (merged model or LoRA adapter) with its model card.

The model card is ``resources/model_card.md`` filled from config fields and the final metrics only, so it
never carries anything the config does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from string import Template
from typing import Any

import yaml

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE, is_bundled, is_hub_id
from studio_desktop.core.backbones import resolve_backbone
from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.config_io import dump_config
from studio_desktop.core.data.targets import MULTICLASS_LOSS
from studio_desktop.core.errors import StudioError
from studio_desktop.core.evaluation import stop_strings
from studio_desktop.core.events import Event, Finished
from studio_desktop.core.export import (
    ADAPTER_FILES,
    CARD_TAG,
    EXPORT_KINDS,
    Progress,
    check_target,
    export_adapter,
    export_dtype,
    export_gguf,
    export_merged,
    generation_settings,
)
from studio_desktop.core.gguf_formats import QUANTS as GGUF_QUANTS
from studio_desktop.core.problem_types import HEAD_TYPES, PRETRAINING, REGRESSION
from studio_desktop.core.resources import resources_dir
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import Experiment, open_experiment
from studio_desktop.jobs.workdir import Workdir

KNOWN_LICENSES = {BUNDLED_BACKBONE: "apache-2.0"}
CARD_METRIC_PREFIXES = ("train/", "val/")  # the learning rate and gradient norm are left out
STATUS_HINTS = {
    "created": "it has not been trained yet",
    "starting": "it is still training",
    "running": "it is still training",
    "stopping": "it is stopping and has no final model",
    "stopped": "it was stopped before the end and has no final model; resume it with "
    "'studio-desktop train --resume {name}'",
    "failed": "its training failed; 'studio-desktop experiment show {name}' says why",
    "crashed": "its worker ended without a result; resume it with 'studio-desktop train --resume {name}'",
}


def model_card_template() -> Template:
    """The model card template shipped in ``resources/``."""
    return Template((resources_dir() / "model_card.md").read_text(encoding="utf-8"))


def hub_base_model(location: str) -> str | None:
    """The hub id of a backbone location (the bundled model included), or None for a local model."""
    location = location.strip()
    if is_bundled(location):
        return BUNDLED_BACKBONE
    if is_hub_id(location) and not Path(location).expanduser().exists():
        return location
    return None


def backbone_license(location: str) -> str | None:
    """The backbone's license when known: the bundled model's, or the one a local model card declares."""
    base = hub_base_model(location)
    if base in KNOWN_LICENSES:
        return KNOWN_LICENSES[base]
    card = Path(location).expanduser() / "README.md"
    try:
        text = card.read_text(encoding="utf-8") if card.is_file() else ""
        match = re.match(r"---\n(.*?)\n---", text, re.DOTALL)
        front = yaml.safe_load(match.group(1)) if match else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    value = front.get("license") if isinstance(front, dict) else None
    return value if isinstance(value, str) and value else None


def _fenced(text: str, language: str) -> str:
    """``text`` in a code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _front_matter(cfg: ExperimentConfig, kind: str, location: str) -> str:
    training = cfg.training
    tags = [CARD_TAG, "lora" if training.lora else "full-fine-tune"]
    tags += ["dora"] if training.lora and training.use_dora else []
    tags += ["qlora"] if training.lora and cfg.architecture.backbone_dtype in ("int4", "int8") else []
    pipeline = "text-classification" if cfg.problem_type in HEAD_TYPES else "text-generation"
    tags += [kind if kind in ("merged", "gguf") else "adapter", pipeline]
    data: dict[str, Any] = {}
    license_name = backbone_license(location)
    if license_name:
        data["license"] = license_name
    base = hub_base_model(location)
    if base:
        data["base_model"] = base
    data.update(
        library_name={"adapter": "peft", "gguf": "gguf"}.get(kind, "transformers"),
        pipeline_tag=pipeline,
        tags=tags,
    )
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _method(cfg: ExperimentConfig) -> str:
    training = cfg.training
    if not training.lora:
        return "full fine-tuning"
    variant = "DoRA" if training.use_dora else "LoRA"
    scaling = ", rank-stabilised" if training.use_rslora else ""
    return f"{variant} (r = {training.lora_r}, alpha = {training.lora_alpha}{scaling})"


def _description(cfg: ExperimentConfig, kind: str) -> str:
    what = f"`{cfg.llm_backbone}` fine-tuned with Studio Desktop by {_method(cfg)}"
    dataset = cfg.dataset.train_dataframe
    what += f" on the dataset `{dataset}`." if dataset else "."
    if kind == "adapter":
        holds = "the LoRA adapter only: load it on top of the backbone with peft."
    elif kind == "gguf":
        holds = (
            "one GGUF file of the complete model (adapters merged) for llama.cpp, Ollama and LM Studio, and "
            "an Ollama Modelfile."
        )
    else:
        holds = (
            f"the complete model ({export_dtype(cfg)} safetensors, adapters merged into the backbone): "
            "it loads with plain transformers, no peft needed."
        )
    return f"{what}\n\nThis folder holds {holds}"


def _settings_rows(cfg: ExperimentConfig, kind: str) -> str:
    training = cfg.training
    layout = "backbone chat template" if cfg.dataset.use_chat_template else "text markers"
    if cfg.problem_type == PRETRAINING:
        layout = f"raw text packed into blocks of {cfg.tokenizer.max_length} tokens"
    rows = [
        ("Backbone", cfg.llm_backbone),
        ("Problem type", cfg.problem_type),
        ("Dataset", cfg.dataset.train_dataframe or "-"),
        ("Conversation layout", layout),
        ("Method", _method(cfg)),
        ("Epochs", training.epochs),
        ("Learning rate", f"{training.learning_rate:g} ({training.schedule})"),
        ("Batch size", f"{training.batch_size} × {training.grad_accumulation} accumulation"),
        ("Max length", f"{cfg.tokenizer.max_length} tokens"),
        ("Backbone dtype", cfg.architecture.backbone_dtype),
    ]
    if kind == "merged":
        rows.append(("Exported weights", export_dtype(cfg)))
    return "\n".join(f"| {_cell(name)} | `{_cell(value)}` |" for name, value in rows)


def _metrics_table(metrics: dict[str, float]) -> str:
    shown = {name: value for name, value in metrics.items() if name.startswith(CARD_METRIC_PREFIXES)}
    if not shown:
        return "No metrics were recorded."
    rows = "\n".join(f"| {_cell(name)} | {value:.6g} |" for name, value in sorted(shown.items()))
    return f"| Metric | Value |\n| --- | --- |\n{rows}"


def _generate_call(cfg: ExperimentConfig, explicit: bool) -> str:
    """The ``model.generate`` line: explicit prediction settings, or those of generation_config.json."""
    arguments = ["**inputs"]
    if explicit:
        arguments += [f"{key}={value!r}" for key, value in generation_settings(cfg).items()]
    stops = stop_strings(cfg.prediction)
    if stops:
        arguments += [f"stop_strings={stops!r}", "tokenizer=tokenizer"]
    comment = "" if explicit else "  # settings from generation_config.json"
    return f"output = model.generate({', '.join(arguments)}){comment}"


def _snippet(cfg: ExperimentConfig, load: str, explicit: bool) -> str:
    lines = [
        load,
        "",
        'messages = [{"role": "user", "content": "Hello!"}]',
        "inputs = tokenizer.apply_chat_template(",
        '    messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"',
        ")",
        _generate_call(cfg, explicit),
        'print(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))',
    ]
    return _fenced("\n".join(lines), "python")


HEAD_OUTPUTS = {
    "regression": "values = logits  # the predicted value of each target",
    "multiclass": "values = logits.softmax(-1)  # the probability of each class",
    "binary": "values = logits.sigmoid()  # the probability that each label is 1",
}


def _head_snippet(cfg: ExperimentConfig, load: str) -> str:
    """Load, score one text and print each output by name (the prompt laid out as in training)."""
    kind = "regression" if cfg.problem_type == REGRESSION else "binary"
    if kind == "binary" and cfg.training.loss_function == MULTICLASS_LOSS:
        kind = "multiclass"
    lines = [
        "import torch",
        load,
        "",
        'messages = [{"role": "user", "content": "The text to score"}]',
        "prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)",
        'inputs = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")',
        "with torch.no_grad():",
        "    logits = model(**inputs).logits[0]",
        HEAD_OUTPUTS[kind],
        "print({model.config.id2label[i]: round(float(v), 4) for i, v in enumerate(values)})",
    ]
    return _fenced("\n".join(lines), "python")


def _usage(cfg: ExperimentConfig, kind: str, location: str) -> str:
    name = cfg.experiment_name or "experiment"
    head = cfg.problem_type in HEAD_TYPES
    auto = "AutoModelForSequenceClassification" if head else "AutoModelForCausalLM"
    merged_load = (
        f"from transformers import {auto}, AutoTokenizer\n\n"
        f'folder = "path/to/{name}-merged"\n'
        "tokenizer = AutoTokenizer.from_pretrained(folder)\n"
        f"model = {auto}.from_pretrained(folder)"
    )
    merged_usage = _head_snippet(cfg, merged_load) if head else _snippet(cfg, merged_load, explicit=False)
    merged = f"The merged model, with plain transformers:\n\n{merged_usage}"
    if not cfg.training.lora:
        return merged
    base = hub_base_model(location) or cfg.llm_backbone
    head_arguments = ", num_labels=len(labels), id2label=dict(enumerate(labels))" if head else ""
    adapter_load = (
        f"import json\nfrom peft import PeftModel\nfrom transformers import {auto}, AutoTokenizer\n\n"
        f'folder = "path/to/{name}-adapter"\n'
        + ('labels = json.load(open(f"{folder}/head.json"))["labels"]\n' if head else "")
        + "tokenizer = AutoTokenizer.from_pretrained(folder)\n"
        f"base = {auto}.from_pretrained({base!r}{head_arguments})\n"
        "model = PeftModel.from_pretrained(base, folder)"
    )
    if not head:
        adapter_load = adapter_load.replace("import json\n", "", 1)
    adapter_usage = _head_snippet(cfg, adapter_load) if head else _snippet(cfg, adapter_load, explicit=True)
    adapter = f"The adapter on top of the backbone, with peft:\n\n{adapter_usage}"
    other_kind = "adapter" if kind == "merged" else "merged"
    other = f"(`studio-desktop export {name} --format {other_kind}` writes the other form.)"
    parts = [merged, adapter] if kind == "merged" else [adapter, merged]
    return "\n\n".join([*parts, other])


def gguf_usage(cfg: ExperimentConfig, written: Any, verification: Any) -> str:
    """How to run a GGUF export, and how it was verified."""
    name = cfg.experiment_name or "experiment"
    file = written.path.name
    commands = _fenced(f"llama-cli -m {file} -cnv", "bash")
    ollama = _fenced(f"ollama create {name} -f Modelfile\nollama run {name}", "bash")
    label = GGUF_QUANTS[written.quant][2]
    return (
        f"`{file}` holds the weights as {label}. With llama.cpp:\n\n{commands}\n\nWith Ollama, from this "
        f"folder (the Modelfile sets the prompt layout, stop words and prediction settings):\n\n{ollama}\n\n"
        f"Verified when it was written: {verification.describe()}. Pre-tokenizer: `{written.pre_tokenizer}`."
    )


def render_model_card(
    cfg: ExperimentConfig,
    metrics: dict[str, float],
    kind: str,
    location: str | None = None,
    usage: str | None = None,
) -> str:
    """The ``README.md`` of an export of ``kind`` ("merged" or "adapter").

    ``location`` is where the backbone comes from (a registered backbone's location; default
    ``cfg.llm_backbone``): it names the base model and its license when they are known. ``usage`` replaces
    the loading snippets (a GGUF export's run commands).
    """
    location = location or cfg.llm_backbone
    return model_card_template().substitute(
        front_matter=_front_matter(cfg, kind, location),
        title=cfg.experiment_name or "Fine-tuned model",
        description=_description(cfg, kind),
        settings_rows=_settings_rows(cfg, kind),
        metrics=_metrics_table(metrics),
        usage=usage or _usage(cfg, kind, location),
        config_block=_fenced(dump_config(cfg), "yaml"),
    )


def final_metrics(events: list[Event]) -> dict[str, float]:
    """The metrics of the last ``Finished`` event (empty when there is none)."""
    finished = next((event for event in reversed(events) if isinstance(event, Finished)), None)
    return dict(finished.metrics) if finished else {}


def _check_exportable(experiment: Experiment, name: str, kind: str, events: list[Event]) -> None:
    if kind not in EXPORT_KINDS:
        raise StudioError(f"unknown export format {kind!r}: expected one of {', '.join(EXPORT_KINDS)}.")
    status = experiment.status(events)
    if status != "finished":
        hint = STATUS_HINTS.get(status, "").format(name=name)
        raise StudioError(
            f"experiment {name!r} is {status}: only finished experiments can be exported ({hint})."
        )
    if not experiment.model_dir.is_dir():
        raise StudioError(f"experiment {name!r} has no trained model folder ({experiment.model_dir}).")
    if kind == "adapter" and not (experiment.model_dir / ADAPTER_FILES[0]).is_file():
        raise StudioError(
            f"experiment {name!r} trained every weight (training.lora = false), so it has no LoRA adapter "
            "to export; export the merged model instead (--format merged)."
        )


def export_experiment(
    workdir: Workdir,
    catalog: Catalog,
    name: str,
    kind: str,
    out_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    overwrite: bool = False,
    quant: str = "q8_0",
) -> Path:
    """Export the finished experiment ``name`` as ``kind`` into ``out_dir`` (default: ``exports/NAME-KIND``,
    ``exports/NAME-QUANT`` for GGUF, stored as ``quant``).

    Returns the folder written. Refuses unfinished experiments, an adapter export of a full fine-tune and an
    existing ``out_dir`` without ``overwrite``.
    """
    report: Callable[[str, float], None] = progress or (lambda _stage, _fraction: None)
    experiment = open_experiment(catalog, name)
    events = experiment.events()
    _check_exportable(experiment, name, kind, events)
    if kind == "gguf" and quant not in GGUF_QUANTS:
        raise StudioError(f"unknown GGUF quantisation {quant!r}: expected one of {', '.join(GGUF_QUANTS)}.")
    cfg = experiment.config()
    suffix = quant if kind == "gguf" else kind
    target = check_target(Path(out_dir) if out_dir else workdir.exports / f"{name}-{suffix}", overwrite)
    location = catalog.backbone_location(cfg.llm_backbone)
    card = render_model_card(cfg, final_metrics(events), kind, location)
    if kind == "adapter":
        return export_adapter(
            experiment.model_dir,
            cfg,
            target,
            card,
            progress=report,
            overwrite=overwrite,
            base_model=hub_base_model(location),
        )
    backbone = None
    if (experiment.model_dir / ADAPTER_FILES[0]).is_file():
        report("Finding the backbone", 0.0)
        backbone = resolve_backbone(location, workdir.models, lambda message: report(message, 0.0)).folder
    if kind == "gguf":
        metrics = final_metrics(events)

        def gguf_card(written: Any, verification: Any) -> str:
            usage = gguf_usage(cfg, written, verification)
            return render_model_card(cfg, metrics, kind, location, usage=usage)

        return export_gguf(
            experiment.model_dir,
            backbone,
            cfg,
            target,
            gguf_card,
            quant=quant,
            name=name,
            progress=report,
            overwrite=overwrite,
        )
    return export_merged(
        experiment.model_dir, backbone, cfg, target, card, progress=report, overwrite=overwrite
    )
