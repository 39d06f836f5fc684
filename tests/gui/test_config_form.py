"""The experiment form generated from the config metadata."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from studio_desktop.core.config import (
    CLASSIFICATION,
    DPO,
    GRPO,
    PROBLEM_TYPES,
    default_config,
    describe_fields,
)
from studio_desktop.core.config_io import apply_overrides, load_config
from studio_desktop.core.errors import ConfigError
from studio_desktop.core.training.recipe import RECIPE_MODULES

pytest.importorskip("pytestqt")

from studio_desktop.gui.widgets.config_form import ConfigForm


@pytest.fixture
def form(qtbot) -> ConfigForm:
    widget = ConfigForm(datasets=["demo", "support-chats"], backbones=["Qwen/Qwen2.5-0.5B-Instruct"])
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    return widget


def type_text(qtbot, form: ConfigForm, path: str, text: str) -> None:
    """Replace the text of a line-edit field by typing, as a user does."""
    control = form.editor(path).control
    control.clear()
    qtbot.keyClicks(control, text)


def shown(form: ConfigForm, path: str) -> bool:
    return not form.editor(path).isHidden() and not form.label(path).isHidden()


def test_every_setting_has_an_editor_and_label_with_its_help(form: ConfigForm) -> None:
    infos = describe_fields()
    assert len(infos) > 80
    for info in infos:
        expected = f"{info.help}\n\nAllowed: {info.allowed()}\nSetting: {info.path}"
        editor = form.editor(info.path)
        assert form.label(info.path).toolTip() == expected
        assert editor.controls(), info.path
        for control in editor.controls():
            assert control.toolTip() == expected, info.path
    assert "Allowed: an int from 1 to 1024" in form.label("training.lora_r").toolTip()


def test_editors_fit_the_field_types(form: ConfigForm) -> None:
    assert form.editor("training.lora").control.isChecked() is True
    assert form.editor("training.lora_r").control.maximum() == 1024
    assert form.editor("training.learning_rate").control.text() == "0.0001"
    combo = form.editor("training.optimizer").control
    assert [combo.itemText(i) for i in range(combo.count())][:2] == ["AdamW", "AdamW8bit"]
    assert list(form.editor("dataset.data_sample_choice").boxes) == ["Train", "Validation"]
    assert form.editor("dataset.prompt_column_separator").control.text() == "\\n\\n"
    train = form.editor("dataset.train_dataframe").control
    assert train.isEditable()
    assert [train.itemText(i) for i in range(train.count())] == ["demo", "support-chats"]
    train.setCurrentText("my-file.csv")
    form.set_datasets(["demo", "support-chats", "new-data"])
    assert [train.itemText(i) for i in range(train.count())][-1] == "new-data"
    assert form.config().dataset.train_dataframe == "my-file.csv"
    backbone = form.editor("llm_backbone").control
    assert backbone.isEditable()
    assert "Qwen/Qwen2.5-0.5B-Instruct" in [backbone.itemText(i) for i in range(backbone.count())]
    assert backbone.currentText() == default_config().llm_backbone


def test_editing_lora_r_changes_the_config(qtbot, form: ConfigForm) -> None:
    with qtbot.waitSignal(form.changed):
        form.editor("training.lora_r").control.setValue(32)
    assert form.is_valid()
    assert form.config().training.lora_r == 32
    type_text(qtbot, form, "training.learning_rate", "3e-4")
    assert form.config().training.learning_rate == pytest.approx(3e-4)
    form.editor("dataset.data_sample_choice").boxes["Validation"].setChecked(False)
    assert form.config().dataset.data_sample_choice == ("Train",)
    type_text(qtbot, form, "dataset.prompt_column", "instruction, input")
    assert form.config().dataset.prompt_column == ("instruction", "input")
    type_text(qtbot, form, "dataset.system_column", "system")
    assert form.config().dataset.system_column == "system"
    form.editor("dataset.system_column").control.clear()
    assert form.config().dataset.system_column is None


def test_cross_field_error_marks_the_fields_and_shows_the_message(qtbot, form: ConfigForm) -> None:
    form.editor("training.lora").control.setChecked(False)
    assert form.is_valid()
    with qtbot.waitSignal(form.validity_changed, check_params_cb=lambda valid: valid is False):
        form.editor("architecture.backbone_dtype").control.setCurrentText("int4")
    assert not form.is_valid()
    assert "architecture.backbone_dtype = 'int4' needs training.lora = true" in form.error()
    assert form.error_label.isVisible()
    assert form.error_label.text() == form.error()
    assert form.editor("architecture.backbone_dtype").control.property("invalid") is True
    assert form.editor("training.lora").control.property("invalid") is True
    assert form.label("architecture.backbone_dtype").property("invalid") is True
    assert form.editor("training.epochs").control.property("invalid") is not True
    with pytest.raises(ConfigError, match="backbone_dtype"):
        form.config()
    with qtbot.waitSignal(form.validity_changed, check_params_cb=lambda valid: valid is True):
        form.editor("training.lora").control.setChecked(True)
    assert not form.error_label.isVisible()
    assert form.editor("architecture.backbone_dtype").control.property("invalid") is False
    assert form.config().architecture.backbone_dtype == "int4"


def test_out_of_range_number_names_the_field(qtbot, form: ConfigForm) -> None:
    type_text(qtbot, form, "training.learning_rate", "2")
    assert not form.is_valid()
    assert form.error().startswith("training.learning_rate = 2.0 is not allowed")
    assert form.editor("training.learning_rate").is_invalid()
    type_text(qtbot, form, "training.learning_rate", "0.5")
    assert form.is_valid()


def test_lora_fields_follow_the_lora_switch(form: ConfigForm) -> None:
    assert shown(form, "training.lora_r")
    assert not shown(form, "training.freeze_layers")
    form.editor("training.lora").control.setChecked(False)
    assert not shown(form, "training.lora_r")
    assert not shown(form, "training.lora_alpha")
    form.show_advanced.setChecked(True)
    assert shown(form, "training.freeze_layers")
    form.editor("training.lora").control.setChecked(True)
    assert shown(form, "training.lora_r")
    assert not shown(form, "training.freeze_layers")


def test_custom_validation_shows_the_validation_dataset(qtbot, form: ConfigForm) -> None:
    assert not shown(form, "dataset.validation_dataframe")
    assert shown(form, "dataset.validation_size")
    form.editor("dataset.validation_strategy").control.setCurrentText("custom")
    assert shown(form, "dataset.validation_dataframe")
    assert not shown(form, "dataset.validation_size")
    assert not form.is_valid()
    assert form.error().startswith("dataset.validation_dataframe is empty")
    form.editor("dataset.validation_dataframe").control.setCurrentText("support-chats")
    assert form.is_valid()
    assert form.config().dataset.validation_dataframe == "support-chats"


def test_switching_to_dpo_shows_beta_and_loads_its_defaults(qtbot, form: ConfigForm) -> None:
    assert not shown(form, "training.beta")
    form.editor("training.lora_r").control.setValue(32)
    form.editor("problem_type").control.setCurrentText(DPO)
    assert shown(form, "training.beta")
    assert form.is_valid()
    cfg = form.config()
    assert cfg.problem_type == DPO
    assert cfg.training.loss_function == "DPOLoss"
    assert cfg.training.gradient_clip == 10.0
    assert cfg.training.lora_r == 32
    losses = form.editor("training.loss_function").control
    assert [losses.itemText(i) for i in range(losses.count())] == [
        "DPOLoss",
        "DPOHingeLoss",
        "DPOIPOLoss",
        "KTOPairLoss",
        "CPOLoss",
        "SimPOLoss",
        "ORPOLoss",
        "KTOLoss",
    ]
    assert "keeping your changes" in form.notice.text()


def test_switching_problem_type_drops_changes_that_no_longer_fit(form: ConfigForm) -> None:
    form.editor("training.loss_function").control.setCurrentText("SampleAveragedCrossEntropy")
    form.editor("dataset.only_last_answer").control.setChecked(True)
    form.editor("problem_type").control.setCurrentText(DPO)
    cfg = form.config()
    assert cfg.training.loss_function == "DPOLoss"
    assert cfg.dataset.only_last_answer is False
    assert not shown(form, "dataset.only_last_answer")
    assert shown(form, "training.beta")
    assert "training.loss_function" in form.notice.text()
    assert "dataset.only_last_answer" in form.notice.text()


def test_every_problem_type_is_offered_and_a_switch_shows_its_own_settings(form: ConfigForm) -> None:
    choices = form.editor("problem_type").control
    assert [choices.itemText(i) for i in range(choices.count())] == list(PROBLEM_TYPES)
    assert set(RECIPE_MODULES) == set(PROBLEM_TYPES)  # every one of them trains
    form.set_config(default_config(CLASSIFICATION))
    assert form.is_valid()
    assert shown(form, "dataset.num_classes") and not shown(form, "prediction.max_length_inference")
    form.set_config(default_config())
    assert not shown(form, "dataset.num_classes") and shown(form, "prediction.max_length_inference")


def test_advanced_settings_are_hidden_until_asked_for(form: ConfigForm) -> None:
    advanced = ["dataset.system_column", "architecture.intermediate_dropout", "training.drop_last_batch"]
    assert not any(shown(form, path) for path in advanced)
    assert shown(form, "training.epochs")
    form.show_advanced.setChecked(True)
    assert all(shown(form, path) for path in advanced)
    form.show_advanced.setChecked(False)
    assert not any(shown(form, path) for path in advanced)


def test_invalid_advanced_setting_stays_shown(qtbot, form: ConfigForm) -> None:
    form.show_advanced.setChecked(True)
    type_text(qtbot, form, "dataset.answer_column", "a, b")
    assert form.error().startswith("dataset.answer_column = ['a', 'b']")
    form.show_advanced.setChecked(False)
    assert shown(form, "dataset.answer_column")
    control = form.editor("dataset.answer_column").control
    form.activateWindow()
    control.setFocus()
    qtbot.waitUntil(control.hasFocus)
    qtbot.keyClick(control, Qt.Key.Key_Backspace)
    assert form.is_valid()
    assert shown(form, "dataset.answer_column"), "the field being typed into stays"
    control.clearFocus()
    type_text(qtbot, form, "dataset.answer_column", "a")
    assert not shown(form, "dataset.answer_column")


def test_section_header_folds_its_settings(qtbot, form: ConfigForm) -> None:
    section = form.section("training")
    assert section.body.isVisible()
    section.header.click()
    assert not section.body.isVisible()
    assert not section.is_expanded()
    section.header.click()
    assert section.body.isVisible()


def test_yaml_round_trip_through_the_form(qtbot, form: ConfigForm, tmp_path: Path) -> None:
    form.editor("problem_type").control.setCurrentText(DPO)
    form.editor("training.lora_r").control.setValue(64)
    type_text(qtbot, form, "training.beta", "0.05")
    type_text(qtbot, form, "experiment_name", "first try")
    type_text(qtbot, form, "dataset.prompt_column_separator", "\\n---\\n")
    form.editor("dataset.train_dataframe").control.setCurrentText("demo")
    edited = form.config()
    assert edited.dataset.prompt_column_separator == "\n---\n"
    saved = form.save_yaml(tmp_path / "cfg.yaml")
    assert load_config(saved).config == edited
    other = ConfigForm()
    qtbot.addWidget(other)
    assert other.load_yaml(saved) == []
    assert other.config() == edited
    assert other.editor("training.beta").control.text() == "0.05"
    saved.write_text(saved.read_text(encoding="utf-8") + "wandb_project: x\n", encoding="utf-8")
    assert other.load_yaml(saved) == ["unknown setting 'wandb_project' ignored"]


def test_set_config_shows_the_values(qtbot, form: ConfigForm) -> None:
    cfg = default_config().replace({"training.epochs": 3, "environment.gpus": ("0", "1")})
    with qtbot.waitSignal(form.changed):
        form.set_config(cfg)
    assert form.editor("training.epochs").control.value() == 3
    assert form.editor("environment.gpus").control.text() == "0, 1"
    assert form.config() == cfg


def test_cli_command_lists_only_the_changed_settings(qtbot, form: ConfigForm) -> None:
    assert form.cli_command("cfg.yaml") == "studio-desktop train --config cfg.yaml"
    form.editor("training.lora_r").control.setValue(32)
    command = form.cli_command("my configs/cfg.yaml")
    assert command == "studio-desktop train --config 'my configs/cfg.yaml' --set training.lora_r=32"


def test_cli_command_reproduces_the_config(qtbot, form: ConfigForm) -> None:
    form.editor("problem_type").control.setCurrentText(DPO)
    type_text(qtbot, form, "experiment_name", "yes")
    type_text(qtbot, form, "llm_backbone", "/models/my model")
    type_text(qtbot, form, "training.learning_rate", "1e-5")
    type_text(qtbot, form, "dataset.prompt_column_separator", "\\n: ")
    type_text(qtbot, form, "environment.gpus", "0, 1")
    form.editor("dataset.data_sample_choice").boxes["Train"].setChecked(False)
    form.editor("architecture.gradient_checkpointing").control.setCurrentText("false")
    command = form.cli_command("cfg.yaml")
    assert "--set problem_type=text_dpo_modeling" in command
    assert "training.loss_function" not in command
    words = shlex.split(command)
    assert words[:4] == ["studio-desktop", "train", "--config", "cfg.yaml"]
    overrides = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
    assert len(overrides) == 8
    assert apply_overrides(default_config(DPO), overrides) == form.config()


def test_invalid_form_has_no_config_or_command(qtbot, form: ConfigForm, tmp_path: Path) -> None:
    form.editor("dataset.validation_strategy").control.setCurrentText("custom")
    with pytest.raises(ConfigError, match="validation_dataframe"):
        form.cli_command("cfg.yaml")
    with pytest.raises(ConfigError, match="validation_dataframe"):
        form.save_yaml(tmp_path / "cfg.yaml")
    assert not (tmp_path / "cfg.yaml").exists()


def test_mouse_wheel_scrolls_past_unfocused_fields(form: ConfigForm) -> None:
    def wheel(widget) -> None:
        event = QWheelEvent(
            QPointF(5, 5),
            QPointF(widget.mapToGlobal(QPoint(5, 5))),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(widget, event)

    spin = form.editor("training.epochs").control
    combo = form.editor("training.optimizer").control
    combo.setCurrentIndex(1)
    wheel(spin)
    wheel(combo)
    assert form.config().training.epochs == 1
    assert form.config().training.optimizer == "AdamW8bit"


def test_a_precision_that_is_slow_on_this_cpu_is_warned_in_the_form(form: ConfigForm) -> None:
    from studio_desktop.core.precision import cpu_device_facts

    assert not form.hardware_warning.isVisibleTo(form)  # auto never warns
    form.editor("architecture.backbone_dtype").control.setCurrentText("bfloat16")
    assert form.is_valid()
    if cpu_device_facts().native_bf16:
        assert not form.hardware_warning.isVisibleTo(form)
    else:
        assert form.hardware_warning.isVisibleTo(form)
        assert "architecture.backbone_dtype = 'bfloat16' will be slow" in form.hardware_warning.text()


def test_the_form_shows_the_memory_verdict_of_the_run_on_this_machine(
    qtbot, workdir: Path, tiny_model_dir: Path
) -> None:
    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.devices import planned_device
    from studio_desktop.jobs.memory import MemoryPlanner
    from studio_desktop.jobs.workdir import open_workdir

    wd = open_workdir()
    planner = MemoryPlanner(wd, Catalog(wd.catalog_path))
    base = default_config().replace({"llm_backbone": str(tiny_model_dir)})
    form = ConfigForm(base, planner=planner.plan)
    qtbot.addWidget(form)
    form.show()
    verdict = form.memory_verdict
    device = planned_device(base)
    assert device is not None and not device.facts.cuda  # no GPU on the machines these tests run on
    assert verdict.isVisibleTo(form) and verdict.verdict == "fits"
    assert verdict.text().startswith("Memory on this computer's CPU: fits: about")
    assert "activations" in verdict.toolTip() and "GiB" in verdict.toolTip()
    # A batch far beyond this machine's memory (the tiny model's logits alone are hundreds of GiB).
    form.editor("training.batch_size").control.setValue(1024)
    form.editor("tokenizer.max_length").control.setValue(131072)
    assert form.is_valid() and verdict.verdict == "will not fit"
    assert "will not fit" in verdict.text() and "Lower the batch size" in verdict.text()
    # Only changes the run does not make already: auto turned checkpointing on, and LoRA is on.
    assert (
        "gradient checkpointing on" in verdict.text()
        and "turn on gradient checkpointing" not in verdict.text()
    )
    assert "use LoRA" not in verdict.text() and "4/8-bit" in verdict.text()
    form.editor("llm_backbone").control.setCurrentText("some-owner/not-downloaded-here")
    assert not verdict.isVisibleTo(form)  # nothing to read the shape from before it is downloaded


def test_the_reward_function_is_edited_as_code(qtbot, form: ConfigForm) -> None:
    form.set_config(default_config(GRPO))
    editor = form.editor("training.reward_custom_code")
    assert shown(form, "training.reward_custom_code") and "def reward(" in editor.value()
    editor.control.clear()
    qtbot.keyClicks(editor.control, "def reward(completion, prompt, reference):")
    qtbot.keyClick(editor.control, Qt.Key.Key_Return)
    qtbot.keyClick(editor.control, Qt.Key.Key_Tab)
    qtbot.keyClicks(editor.control, "return 1.0")
    assert editor.value() == "def reward(completion, prompt, reference):\n    return 1.0"
    assert form.is_valid()
    assert form.config().training.reward_custom_code == editor.value()
