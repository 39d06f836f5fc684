"""Exports of trained tiny-model experiments: merged folders, adapters, chat templates, cards, refusals."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from studio_desktop.core.config import ExperimentConfig, default_config
from studio_desktop.core.config_io import dump_config
from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.prepare import template_settings
from studio_desktop.core.data.templates import render_prompt, render_sample
from studio_desktop.core.errors import BackboneError, StudioError
from studio_desktop.core.events import EventWriter, Finished
from studio_desktop.core.export import build_generation_config, export_merged, marker_chat_template
from studio_desktop.core.inference import generate_text
from studio_desktop.core.modeling import load_trained
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
from studio_desktop.jobs.experiment import Experiment, create_experiment
from studio_desktop.jobs.exports import export_experiment, final_metrics, render_model_card
from studio_desktop.jobs.workdir import Workdir, open_workdir
from studio_desktop.worker.train import EXIT_FINISHED, run_training
from tests.support.facts import FACTS
from tests.support.tiny_model import build_tiny_tokenizer

QUESTION = [Message("user", "What colour is the sky?")]
HISTORY = [
    Message("user", "What do cows drink?"),
    Message("assistant", "Cows drink water."),
    Message("user", "What colour is the sky?"),
]


@dataclass(frozen=True)
class Trained:
    """A working directory with three finished experiments on the tiny model."""

    workdir: Workdir
    catalog: Catalog
    backbone: Path

    def experiment(self, name: str) -> Experiment:
        return Experiment(self.workdir.experiment_dir(name))


def make_config(name: str, backbone: Path, **overrides: Any) -> ExperimentConfig:
    values = {
        "experiment_name": name,
        "llm_backbone": str(backbone),
        "dataset.train_dataframe": "facts",
        "dataset.validation_size": 0.2,
        "tokenizer.max_length": 64,
        "architecture.backbone_dtype": "float32",
        "architecture.gradient_checkpointing": False,
        "training.batch_size": 2,
        "training.epochs": 1,
        "training.learning_rate": 0.005,
        "training.lora_dropout": 0.0,
        "training.save_checkpoint": "disable",
        "prediction.max_length_inference": 8,
        "environment.seed": 1234,
        "environment.mixed_precision": False,
    }
    values.update({key.replace("__", "."): value for key, value in overrides.items()})
    return default_config().replace(values)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[Trained]:
    """Experiments ``lora`` (chat template), ``markers`` (text markers, LoRA) and ``full`` (no LoRA)."""
    root = tmp_path_factory.mktemp("export") / "workdir"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_DESKTOP_WORKDIR", str(root))
        patch.setenv("HF_HOME", str(root / "hf-cache"))
        wd = open_workdir(root)
        catalog = Catalog(wd.catalog_path)
        source = root.parent / "facts.csv"
        with source.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([("prompt", "answer"), *FACTS])
        request = ImportRequest(
            source=source, name="facts", backbone=str(tiny_model_dir), validation_size=0.2
        )
        import_dataset(wd, catalog, request)
        runs = {
            "lora": {"prediction__repetition_penalty": 1.5, "prediction__max_length_inference": 12},
            "markers": {"dataset__use_chat_template": False, "dataset__add_eos_token_to_prompt": False},
            "full": {"training__lora": False, "training__learning_rate": 0.001},
        }
        for name, overrides in runs.items():
            experiment = create_experiment(wd, catalog, make_config(name, tiny_model_dir, **overrides))
            assert run_training(wd.root, experiment.path) == EXIT_FINISHED
        yield Trained(wd, catalog, tiny_model_dir)


def reference(trained: Trained, name: str) -> tuple[Any, Any, ExperimentConfig]:
    """The trained model as the app loads it (adapter attached, not merged), its tokenizer and config."""
    experiment = trained.experiment(name)
    cfg = experiment.config()
    model, tokenizer = load_trained(experiment.model_dir, trained.backbone, cfg, "cpu", merge=False)
    return model, tokenizer, cfg


def logits(model: Any, tokenizer: Any, text: str) -> torch.Tensor:
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def load_plain(folder: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def chat_prompt(tokenizer: Any, messages: list[Message], system: str = "") -> str:
    chat = ([{"role": "system", "content": system}] if system else []) + [
        {"role": m.role, "content": m.content} for m in messages
    ]
    return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)


def front_matter(card: str) -> dict[str, Any]:
    assert card.startswith("---\n")
    return yaml.safe_load(card[4 : card.index("\n---", 4)])


@pytest.fixture(scope="module")
def merged_lora(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """The merged export of ``lora`` and the progress reports it made."""
    stages: list[tuple[str, float]] = []
    out = tmp_path_factory.mktemp("merged") / "lora-merged"

    def report(stage: str, fraction: float) -> None:
        stages.append((stage, fraction))

    assert export_experiment(trained.workdir, trained.catalog, "lora", "merged", out, progress=report) == out
    return out, stages


def test_merged_export_is_a_safetensors_folder_written_with_progress(merged_lora: tuple[Path, list]) -> None:
    out, stages = merged_lora
    names = {path.name for path in out.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "README.md"} <= names
    assert not [name for name in names if name.endswith((".bin", ".pt", ".pth"))]
    assert "adapter_config.json" not in names and not list(out.parent.glob(".*"))
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # like any folder the user makes, not 0700
    assert stages[-1] == ("Done", 1.0)
    assert [fraction for _, fraction in stages] == sorted(fraction for _, fraction in stages)


def test_merged_export_loads_without_peft_and_answers_like_the_app(
    trained: Trained, merged_lora: tuple[Path, list]
) -> None:
    model, tokenizer = load_plain(merged_lora[0])
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert model.dtype == torch.float32
    ref_model, ref_tokenizer, cfg = reference(trained, "lora")
    prompt = render_prompt(ref_tokenizer, "", QUESTION, template_settings(cfg.dataset))
    assert chat_prompt(tokenizer, QUESTION) == prompt
    torch.testing.assert_close(
        logits(model, tokenizer, prompt), logits(ref_model, ref_tokenizer, prompt), atol=1e-5, rtol=0
    )
    chat = [{"role": "user", "content": QUESTION[0].content}]
    inputs = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    output = model.generate(**inputs)  # the folder's generation_config.json decides everything
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert answer == generate_text(ref_model, ref_tokenizer, prompt, cfg.prediction)
    assert output.shape[1] - inputs["input_ids"].shape[1] <= cfg.prediction.max_length_inference


def test_merged_export_has_the_generation_config_and_model_card(
    trained: Trained, merged_lora: tuple[Path, list]
) -> None:
    out = merged_lora[0]
    generation = json.loads((out / "generation_config.json").read_text(encoding="utf-8"))
    assert generation["max_new_tokens"] == 12 and generation["do_sample"] is False
    assert generation["repetition_penalty"] == 1.5 and generation["min_new_tokens"] == 2
    assert (generation["eos_token_id"], generation["pad_token_id"]) == (1, 2)  # <|im_end|>, <pad>
    assert "temperature" not in generation and "top_p" not in generation
    card = (out / "README.md").read_text(encoding="utf-8")
    metrics = final_metrics(trained.experiment("lora").events())
    assert metrics and f"| val/loss | {metrics['val/loss']:.6g} |" in card
    assert f"| train/loss | {metrics['train/loss']:.6g} |" in card and "| lr |" not in card
    assert dump_config(trained.experiment("lora").config()).strip() in card
    assert "AutoModelForCausalLM.from_pretrained(folder)" in card and "apply_chat_template(" in card
    assert "PeftModel.from_pretrained(base, folder)" in card
    meta = front_matter(card)
    assert meta["tags"][:2] == ["studio-desktop", "lora"] and meta["library_name"] == "transformers"
    assert "base_model" not in meta and "license" not in meta  # a local backbone without a model card


def test_marker_layout_export_renders_prompts_exactly_as_training(trained: Trained, tmp_path: Path) -> None:
    out = export_experiment(trained.workdir, trained.catalog, "markers", "merged", tmp_path / "markers")
    _, tokenizer = load_plain(out)
    _, ref_tokenizer, cfg = reference(trained, "markers")
    settings = template_settings(cfg.dataset)
    assert "<|prompt|>" in chat_prompt(tokenizer, QUESTION)
    for system in ("", "You answer briefly."):
        for messages in (QUESTION, HISTORY):
            assert chat_prompt(tokenizer, messages, system) == render_prompt(
                ref_tokenizer, system, messages, settings
            )
    conversation = Conversation("c1", "c1", "Be kind.", (*HISTORY, Message("assistant", "Blue.")), 1)
    chat = [{"role": "system", "content": "Be kind."}] + [
        {"role": m.role, "content": m.content} for m in conversation.messages
    ]
    full = tokenizer.apply_chat_template(chat, tokenize=False)
    assert full == render_sample(ref_tokenizer, conversation, settings).text


@pytest.mark.parametrize("eos_flags", [(True, True, True), (False, False, False), (True, False, True)])
def test_marker_template_reproduces_awkward_markers(eos_flags: tuple[bool, bool, bool]) -> None:
    cfg = default_config().replace(
        {
            "dataset.use_chat_template": False,
            "dataset.text_system_start": "{% raw %}<sys>\n",
            "dataset.text_prompt_start": "}}\"'\\ «prompt» ",
            "dataset.text_answer_separator": "\n{{ answer }}:",
            "dataset.add_eos_token_to_system": eos_flags[0],
            "dataset.add_eos_token_to_prompt": eos_flags[1],
            "dataset.add_eos_token_to_answer": eos_flags[2],
        }
    )
    tokenizer = build_tiny_tokenizer()
    settings = template_settings(cfg.dataset)
    tokenizer.chat_template = marker_chat_template(cfg, tokenizer.eos_token)
    for system in ("", "Sys {{ x }}"):
        for messages in (QUESTION, HISTORY):
            expected = render_prompt(tokenizer, system, messages, settings)  # markers: template unused
            assert chat_prompt(tokenizer, messages, system) == expected


@pytest.mark.filterwarnings("ignore::FutureWarning")  # peft calls a deprecated transformers property
def test_adapter_export_loads_with_peft_on_the_backbone(trained: Trained) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = export_experiment(trained.workdir, trained.catalog, "lora", "adapter")
    assert out == trained.workdir.exports / "lora-adapter"
    names = {path.name for path in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "tokenizer.json"} <= names
    assert "model.safetensors" not in names and not [name for name in names if name.endswith(".bin")]
    base = AutoModelForCausalLM.from_pretrained(trained.backbone)
    model = PeftModel.from_pretrained(base, out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ref_model, ref_tokenizer, cfg = reference(trained, "lora")
    prompt = render_prompt(ref_tokenizer, "", QUESTION, template_settings(cfg.dataset))
    assert chat_prompt(tokenizer, QUESTION) == prompt
    torch.testing.assert_close(
        logits(model, tokenizer, prompt), logits(ref_model, ref_tokenizer, prompt), atol=1e-6, rtol=0
    )
    card = (out / "README.md").read_text(encoding="utf-8")
    assert front_matter(card)["library_name"] == "peft"
    assert card.index("PeftModel.from_pretrained") < card.index(
        "AutoModelForCausalLM.from_pretrained(folder)"
    )


def test_full_fine_tune_has_no_adapter_but_exports_merged(trained: Trained, tmp_path: Path) -> None:
    with pytest.raises(StudioError, match=r"'full'.*training\.lora = false.*--format merged"):
        export_experiment(trained.workdir, trained.catalog, "full", "adapter", tmp_path / "adapter")
    assert not (tmp_path / "adapter").exists()
    out = export_experiment(trained.workdir, trained.catalog, "full", "merged", tmp_path / "merged")
    assert not (out / "adapter_config.json").exists()
    model, tokenizer = load_plain(out)
    ref_model, ref_tokenizer, cfg = reference(trained, "full")
    prompt = render_prompt(ref_tokenizer, "", QUESTION, template_settings(cfg.dataset))
    torch.testing.assert_close(
        logits(model, tokenizer, prompt), logits(ref_model, ref_tokenizer, prompt), atol=1e-6, rtol=0
    )
    backbone, _ = load_plain(trained.backbone)
    assert not torch.allclose(
        logits(backbone, tokenizer, prompt), logits(model, tokenizer, prompt), atol=1e-3
    )
    card = (out / "README.md").read_text(encoding="utf-8")
    assert front_matter(card)["tags"][:2] == ["studio-desktop", "full-fine-tune"]
    assert "PeftModel" not in card


def test_unfinished_experiments_are_refused(trained: Trained, tmp_path: Path) -> None:
    created = create_experiment(trained.workdir, trained.catalog, make_config("pending", trained.backbone))
    with pytest.raises(StudioError, match=r"'pending' is created: only finished"):
        export_experiment(trained.workdir, trained.catalog, "pending", "merged", tmp_path / "out")
    writer = EventWriter(created.events_path)
    writer.emit(Finished(status="stopped", step=2))
    writer.close()
    with pytest.raises(StudioError, match=r"'pending' is stopped.*train --resume pending"):
        export_experiment(trained.workdir, trained.catalog, "pending", "adapter", tmp_path / "out")
    with pytest.raises(StudioError, match="no experiment named 'nope'"):
        export_experiment(trained.workdir, trained.catalog, "nope", "merged", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_existing_folder_is_replaced_only_with_overwrite_and_only_if_it_is_an_export(
    trained: Trained, tmp_path: Path
) -> None:
    out = tmp_path / "adapter"
    export_experiment(trained.workdir, trained.catalog, "lora", "adapter", out)
    (out / "stale.txt").write_text("from an earlier export", encoding="utf-8")
    with pytest.raises(StudioError, match=r"already exists.*--overwrite"):
        export_experiment(trained.workdir, trained.catalog, "lora", "adapter", out)
    assert (out / "stale.txt").exists()
    export_experiment(trained.workdir, trained.catalog, "lora", "adapter", out, overwrite=True)
    assert not (out / "stale.txt").exists() and (out / "adapter_model.safetensors").exists()

    unrelated = tmp_path / "documents"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(StudioError, match="does not hold a Studio Desktop export"):
        export_experiment(trained.workdir, trained.catalog, "lora", "adapter", unrelated, overwrite=True)
    assert (unrelated / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["adapter", "documents"]


def test_a_failure_midway_leaves_no_folder(trained: Trained, tmp_path: Path) -> None:
    experiment = trained.experiment("lora")
    cfg = experiment.config()
    with pytest.raises(BackboneError, match="not found"):
        export_merged(experiment.model_dir, tmp_path / "missing-backbone", cfg, tmp_path / "out", "card")
    assert list(tmp_path.iterdir()) == []

    def fail_at_tokenizer(stage: str, _fraction: float) -> None:
        if stage == "Saving the tokenizer":
            assert any(tmp_path.glob(".out.tmp-*/model.safetensors"))  # the weights were written
            raise OSError("disk full")

    with pytest.raises(StudioError, match="disk full"):
        export_experiment(
            trained.workdir, trained.catalog, "lora", "merged", tmp_path / "out", progress=fail_at_tokenizer
        )
    assert list(tmp_path.iterdir()) == []


def test_model_card_names_base_model_license_and_stop_strings(tmp_path: Path) -> None:
    hub = {"llm_backbone": "bundled", "prediction.stop_tokens": "```, END", "prediction.do_sample": True}
    cfg = default_config().replace({**hub, "experiment_name": "card", "prediction.temperature": 0.7})
    card = render_model_card(cfg, {"val/loss": 1.5}, "adapter")
    meta = front_matter(card)
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and meta["license"] == "apache-2.0"
    assert "stop_strings=['```', 'END'], tokenizer=tokenizer" in card
    assert "temperature=0.7" in card and "do_sample=True" in card
    assert "````yaml\n" in card  # the fence outgrows the backticks inside the config
    assert dump_config(cfg).strip() in card and "| val/loss | 1.5 |" in card

    (tmp_path / "README.md").write_text("---\nlicense: mit\ntags: [x]\n---\n# A model\n", encoding="utf-8")
    local = cfg.replace({"llm_backbone": str(tmp_path)})
    meta = front_matter(render_model_card(local, {}, "merged"))
    assert meta["license"] == "mit" and "base_model" not in meta
    assert "No metrics were recorded." in render_model_card(local, {"lr": 0.1}, "merged")


def test_sampling_settings_reach_the_saved_generation_config(tmp_path: Path) -> None:
    from transformers import GenerationConfig

    cfg = default_config().replace(
        {
            "prediction.do_sample": True,
            "prediction.temperature": 0.7,
            "prediction.top_p": 0.9,
            "prediction.top_k": 40,
            "prediction.num_beams": 2,
            "prediction.repetition_penalty": 1.2,
            "prediction.stop_tokens": "END",
        }
    )
    tokenizer = build_tiny_tokenizer()
    build_generation_config(cfg, tokenizer, None).save_pretrained(tmp_path)
    saved = GenerationConfig.from_pretrained(tmp_path)
    assert (saved.do_sample, saved.temperature, saved.top_p, saved.top_k) == (True, 0.7, 0.9, 40)
    assert (saved.num_beams, saved.repetition_penalty, saved.max_new_tokens) == (2, 1.2, 256)
    assert saved.eos_token_id == tokenizer.eos_token_id and saved.stop_strings is None


@pytest.mark.parametrize(
    ("run_dtype", "saved_dtype"), [("bfloat16", torch.bfloat16), ("int4", torch.float32)]
)
def test_merged_weights_keep_bfloat16_and_densify_quantised_runs(
    tiny_model_dir: Path, tmp_path: Path, run_dtype: str, saved_dtype: torch.dtype
) -> None:
    from studio_desktop.core.backbones import load_tokenizer
    from studio_desktop.core.modeling import load_backbone, prepare_for_training, save_trained

    float_cfg = make_config("dtype", tiny_model_dir)
    model = prepare_for_training(load_backbone(tiny_model_dir, float_cfg, "cpu"), float_cfg)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.2)  # a trained-looking adapter: B starts at zero
    save_trained(model, load_tokenizer(tiny_model_dir), tmp_path / "run")
    cfg = float_cfg.replace({"architecture.backbone_dtype": run_dtype})
    out = export_merged(tmp_path / "run", tiny_model_dir, cfg, tmp_path / "out", "card")
    exported, tokenizer = load_plain(out)
    assert exported.dtype == saved_dtype
    ref_model, ref_tokenizer = load_trained(tmp_path / "run", tiny_model_dir, float_cfg, "cpu")
    prompt = render_prompt(ref_tokenizer, "", QUESTION, template_settings(cfg.dataset))
    expected = logits(ref_model, ref_tokenizer, prompt)
    tolerance = 1e-5 if saved_dtype == torch.float32 else 0.05
    torch.testing.assert_close(logits(exported, tokenizer, prompt), expected, atol=tolerance, rtol=0)
    backbone, _ = load_plain(tiny_model_dir)
    assert not torch.allclose(logits(backbone, tokenizer, prompt), expected, atol=0.2)
