"""The experiment form, generated from the config metadata: general settings, then one collapsible
section per config section, with tooltips, dependent fields and inline validation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.core.config import CAUSAL_LM, SECTIONS, ExperimentConfig, default_config, describe_fields
from studio_desktop.core.config_fields import FieldInfo
from studio_desktop.core.config_io import load_config, save_config
from studio_desktop.core.errors import ConfigError
from studio_desktop.core.problem_types import LOSSES, METRICS
from studio_desktop.gui.widgets.config_command import cli_command
from studio_desktop.gui.widgets.config_fields_editors import (
    ChoiceEditor,
    FieldEditor,
    SuggestionEditor,
    field_label,
    field_tooltip,
    make_editor,
)
from studio_desktop.gui.widgets.memory_verdict import MemoryVerdict, Planner
from studio_desktop.jobs.devices import planned_precision

#: Fields whose allowed values depend on the problem type (the metadata lists the union).
CHOICES_BY_PROBLEM_TYPE = {"training.loss_function": LOSSES, "prediction.metric": METRICS}
ERROR_COLOR = QColor("#d32f2f")
STYLE = """
QLineEdit[invalid="true"], QComboBox[invalid="true"], QSpinBox[invalid="true"] {
    border: 2px solid #d32f2f; border-radius: 3px; padding: 1px;
}
QCheckBox[invalid="true"] { border: 2px solid #d32f2f; border-radius: 3px; padding: 2px 4px; }
QLabel[invalid="true"] { color: #d32f2f; }
QLabel#configError { color: #d32f2f; }
QLabel#configNotice { color: palette(placeholder-text); }
QLabel#configWarning { color: #b26a00; }
"""
_PATH_IN_MESSAGE = re.compile(r"^[a-z_]+(?:\.[a-z_0-9]+)?|\b[a-z_]+\.[a-z_0-9]+")


def fields_named(message: str, known: Sequence[str]) -> list[str]:
    """The settings a config error message names (a top-level name only at its start)."""
    return [path for path in _PATH_IN_MESSAGE.findall(message) if path in known]


class FormSection(QWidget):
    """A titled group of settings whose body a header button folds away."""

    def __init__(self, name: str, title: str) -> None:
        super().__init__()
        self.name = name
        self.invalid = False
        self.header = QToolButton()
        self.header.setText(title)
        self.header.setCheckable(True)
        self.header.setChecked(True)
        self.header.setAutoRaise(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.ArrowType.DownArrow)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        font = self.header.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.header.setFont(font)
        self.header.toggled.connect(self.set_expanded)
        self.body = QWidget()
        self.rows = QFormLayout(self.body)
        self.rows.setContentsMargins(24, 4, 8, 10)
        self.rows.setHorizontalSpacing(16)
        self.rows.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.body)

    def set_expanded(self, expanded: bool) -> None:
        """Show or fold the settings."""
        self.header.setChecked(expanded)
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)

    def is_expanded(self) -> bool:
        """Whether the settings are shown."""
        return self.header.isChecked()

    def set_invalid(self, invalid: bool) -> None:
        """Draw the title red while a setting of the section is invalid (it may be folded away)."""
        if invalid == self.invalid:
            return
        self.invalid = invalid
        palette = self.header.palette()
        color = ERROR_COLOR if invalid else self.palette().color(QPalette.ColorRole.ButtonText)
        palette.setColor(QPalette.ColorRole.ButtonText, color)
        self.header.setPalette(palette)


class ConfigForm(QWidget):
    """Edits an ExperimentConfig; every editor, label and tooltip comes from the config metadata.

    Fields are shown only where their problem type and ``depends_on`` condition apply; advanced ones only
    with "Show advanced settings" (or while they are invalid). After each edit the config is rebuilt and
    checked: an error marks the fields it names and shows its message under the form.

    Changing the problem type loads that type's defaults but keeps each value the user changed from the
    previous type's defaults where the field still applies and the value is still valid; the values that
    had to go are listed in a note.
    """

    changed = Signal()
    validity_changed = Signal(bool)

    def __init__(
        self,
        config: ExperimentConfig | None = None,
        datasets: Sequence[str] = (),
        backbones: Sequence[str] = (),
        planner: Planner | None = None,
    ) -> None:
        super().__init__()
        self._infos = {info.path: info for info in describe_fields()}
        self._editors: dict[str, FieldEditor] = {}
        self._labels: dict[str, QLabel] = {}
        self._sections: dict[str, FormSection] = {}
        self._row_shown: dict[str, bool] = {}
        self._problem_type = CAUSAL_LM
        self._config: ExperimentConfig | None = None
        self._error = ""
        self.show_advanced = QCheckBox("Show advanced settings")
        self.show_advanced.setToolTip("Also show the settings that rarely need changing.")
        self.show_advanced.toggled.connect(self._refresh_visibility)
        self.notice = QLabel(objectName="configNotice", wordWrap=True)
        self.error_label = QLabel(objectName="configError", wordWrap=True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.hardware_warning = QLabel(objectName="configWarning", wordWrap=True)
        self.hardware_warning.setToolTip("How the chosen precision runs on this computer")
        self.hardware_warning.hide()
        self.memory_verdict = MemoryVerdict(planner)
        self._build(datasets, backbones)
        self.setStyleSheet(STYLE)
        self.set_config(config or default_config())

    def _build(self, datasets: Sequence[str], backbones: Sequence[str]) -> None:
        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(8, 4, 8, 8)
        column.setSpacing(8)
        for name in ("", *SECTIONS):
            self._sections[name] = FormSection(name, name.capitalize() or "General")
            column.addWidget(self._sections[name])
        column.addStretch(1)
        for info in self._infos.values():
            self._add_field(info, datasets, backbones)
        width = max(label.sizeHint().width() for label in self._labels.values())
        for label in self._labels.values():
            label.setMinimumWidth(width)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.addWidget(self.show_advanced)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.notice)
        layout.addWidget(self.error_label)
        layout.addWidget(self.hardware_warning)
        layout.addWidget(self.memory_verdict)

    def _add_field(self, info: FieldInfo, datasets: Sequence[str], backbones: Sequence[str]) -> None:
        suggestions = [info.default, *backbones] if info.path == "llm_backbone" else datasets
        editor = make_editor(info, suggestions)
        label = QLabel(field_label(info))
        label.setToolTip(field_tooltip(info))
        label.setBuddy(editor.controls()[0])
        editor.setToolTip(field_tooltip(info))
        editor.edited.connect(lambda path=info.path: self._on_edited(path))
        self._editors[info.path] = editor
        self._labels[info.path] = label
        self._sections[info.path.rpartition(".")[0]].rows.addRow(label, editor)

    # -- public API --------------------------------------------------------------------------------------

    def editor(self, path: str) -> FieldEditor:
        """The editor of a setting (``section.field`` or a top-level name)."""
        return self._editors[path]

    def label(self, path: str) -> QLabel:
        """The label of a setting."""
        return self._labels[path]

    def section(self, name: str) -> FormSection:
        """A section of the form by config section name ("" for the general settings)."""
        return self._sections[name]

    def is_valid(self) -> bool:
        """Whether the values form a valid config."""
        return self._config is not None

    def error(self) -> str:
        """The message of the current validation error, or ""."""
        return self._error

    def config(self) -> ExperimentConfig:
        """The edited config; raises ConfigError while the form is invalid."""
        if self._config is None:
            raise ConfigError(self._error)
        return self._config

    def set_config(self, cfg: ExperimentConfig) -> None:
        """Show ``cfg`` in the form."""
        self.notice.clear()
        self.notice.hide()
        self._fill(cfg)
        self._after_edit()

    def load_yaml(self, path: str | Path) -> list[str]:
        """Show the config of a YAML file; returns the warnings about ignored keys."""
        loaded = load_config(path)
        self.set_config(loaded.config)
        return list(loaded.warnings)

    def save_yaml(self, path: str | Path) -> Path:
        """Write the edited config as YAML; raises ConfigError while the form is invalid."""
        return save_config(self.config(), path)

    def cli_command(self, config_path: str) -> str:
        """The equivalent ``studio-desktop train`` command line, with ``--set`` for each changed value."""
        return cli_command(self.config(), config_path)

    def set_datasets(self, names: Sequence[str]) -> None:
        """Offer these dataset names for the training and validation data."""
        for path in ("dataset.train_dataframe", "dataset.validation_dataframe"):
            editor = self._editors[path]
            if isinstance(editor, SuggestionEditor):
                editor.set_suggestions(names)

    # -- editing -------------------------------------------------------------------------------------

    def _values(self) -> dict[str, Any]:
        return {path: editor.value() for path, editor in self._editors.items()}

    def _fill(self, cfg: ExperimentConfig) -> None:
        self._problem_type = cfg.problem_type
        for path, table in CHOICES_BY_PROBLEM_TYPE.items():
            editor = self._editors[path]
            if isinstance(editor, ChoiceEditor):
                editor.set_choices(table[cfg.problem_type])
        for path, editor in self._editors.items():
            if editor.value() != cfg.get(path):
                editor.set_value(cfg.get(path))

    def _on_edited(self, path: str) -> None:
        if path == "problem_type":
            self._switch_problem_type(self._editors[path].value())
        self._after_edit()

    def _after_edit(self) -> None:
        self._validate()
        self._refresh_visibility()
        self.changed.emit()

    def _switch_problem_type(self, new: str) -> None:
        old_defaults = default_config(self._problem_type)
        applicable = {info.path for info in describe_fields(new)}
        pending = {
            path: value
            for path, value in self._values().items()
            if path != "problem_type" and value != old_defaults.get(path)
        }
        cfg, dropped = keep_valid_values(default_config(new), pending, applicable)
        self._fill(cfg)
        note = f"Loaded the defaults of {new}"
        if pending:
            note += ", keeping your changes"
        if dropped:
            note += f" except {', '.join(dropped)} (not valid there)"
        self.notice.setText(note + ".")
        self.notice.show()

    def _validate(self) -> None:
        was_valid = self.is_valid()
        try:
            config = default_config().replace(self._values())
            self._config, self._error = config, ""
        except ConfigError as err:
            self._config = None
            self._error = str(err)
        named = set(fields_named(self._error, list(self._editors)))
        for path, editor in self._editors.items():
            if editor.is_invalid() != (path in named):
                editor.set_invalid(path in named)
                self._labels[path].setProperty("invalid", path in named)
                self._labels[path].setStyleSheet("")  # re-reads the form's style sheet for the property
        for name, section in self._sections.items():
            section.set_invalid(any(path.rpartition(".")[0] == name for path in named))
        if self.error_label.text() != self._error:
            self.error_label.setText(self._error)
            self.error_label.setVisible(bool(self._error))
        precision = planned_precision(self._config) if self._config is not None else None
        warning = " ".join(precision.warnings) if precision else ""
        self.hardware_warning.setText(warning)
        self.hardware_warning.setVisible(bool(warning))
        self.memory_verdict.update_for(self._config)
        if was_valid != self.is_valid():
            self.validity_changed.emit(self.is_valid())

    def _is_shown(self, info: FieldInfo) -> bool:
        if info.problem_types is not None and self._problem_type not in info.problem_types:
            return False
        if info.depends_on is not None:
            path, wanted = info.depends_on
            if self._editors[path].value() != wanted:
                return False
        editor = self._editors[info.path]
        return (
            not info.advanced or self.show_advanced.isChecked() or editor.is_invalid() or editor.has_focus()
        )

    def _refresh_visibility(self) -> None:
        """Show the rows that apply; only rows whose state changes are touched (edits stay cheap)."""
        shown_sections: set[str] = set()
        for path, info in self._infos.items():
            shown = self._is_shown(info)
            section = path.rpartition(".")[0]
            if self._row_shown.get(path) != shown:
                self._row_shown[path] = shown
                self._sections[section].rows.setRowVisible(self._editors[path], shown)
            if shown:
                shown_sections.add(section)
        for name, section in self._sections.items():
            if section.isHidden() == (name in shown_sections):
                section.setVisible(name in shown_sections)


def keep_valid_values(
    cfg: ExperimentConfig, values: dict[str, Any], applicable: set[str]
) -> tuple[ExperimentConfig, list[str]]:
    """Apply each value that applies and keeps ``cfg`` valid (retrying, as some are valid only together);
    returns the config and the settings whose values were left out."""
    pending = {path: value for path, value in values.items() if path in applicable}
    progress = True
    while pending and progress:
        progress = False
        for path, value in list(pending.items()):
            try:
                cfg = cfg.replace({path: value})
            except ConfigError:
                continue
            del pending[path]
            progress = True
    dropped = [path for path in values if path not in applicable or path in pending]
    return cfg, dropped
