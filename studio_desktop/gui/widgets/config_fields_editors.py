"""One editor widget per config field, chosen from the field's metadata (type, range, choices)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QLocale, Qt, Signal
from PySide6.QtGui import QDoubleValidator, QFontDatabase, QKeyEvent, QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from studio_desktop.core.config_fields import FieldInfo

INT_LIMIT = 2**31 - 1
TEXT_WIDTH = 640
SUGGESTION_FIELDS = ("llm_backbone", "dataset.train_dataframe", "dataset.validation_dataframe")
WORDS = {
    "lora": "LoRA",
    "dora": "DoRA",
    "rslora": "rsLoRA",
    "llm": "LLM",
    "eos": "EOS",
    "gpt": "GPT",
    "gpus": "GPUs",
    "id": "ID",
    "dpo": "DPO",
    "simpo": "SimPO",
    "neftune": "NEFTune",
    "deepspeed": "DeepSpeed",
    "huggingface": "Hugging Face",
    "kwargs": "arguments",
    "dataframe": "dataset",
}
_ESCAPE = {"\\": "\\\\", "\n": "\\n", "\t": "\\t"}
_UNESCAPE = {"\\": "\\", "n": "\n", "t": "\t"}


def field_label(info: FieldInfo) -> str:
    """A readable label for a setting, e.g. ``training.lora_r`` -> "LoRA r"."""
    words = [WORDS.get(word, word) for word in info.path.rpartition(".")[2].split("_")]
    first = words[0]
    words[0] = first if first[:1].isupper() else first.capitalize()
    return " ".join(words)


def field_tooltip(info: FieldInfo) -> str:
    """The help text of a setting with its allowed values and its name in config files."""
    return f"{info.help}\n\nAllowed: {info.allowed()}\nSetting: {info.path}"


def escape_text(text: str) -> str:
    """Show line breaks and tabs as ``\\n`` and ``\\t`` so they fit a one-line box."""
    return "".join(_ESCAPE.get(ch, ch) for ch in text)


def unescape_text(text: str) -> str:
    """Inverse of ``escape_text``; a lone backslash stays as typed."""
    return re.sub(r"\\([\\nt])", lambda m: _UNESCAPE[m.group(1)], text)


class WheelSafeSpinBox(QSpinBox):
    """A spin box that ignores the mouse wheel unless focused, so scrolling the form never edits it."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class WheelSafeComboBox(QComboBox):
    """A combo box that ignores the mouse wheel unless focused."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class FieldEditor(QWidget):
    """Shows one setting's value, reports edits with ``edited`` and can be marked invalid."""

    edited = Signal()

    def __init__(self, info: FieldInfo) -> None:
        super().__init__()
        self.info = info
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setSpacing(12)
        self._controls: list[QWidget] = []
        self._invalid = False

    def add_control(self, control: QWidget) -> None:
        """Place a control in the editor with the field's tooltip."""
        control.setToolTip(field_tooltip(self.info))
        control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.layout_.addWidget(control)
        self._controls.append(control)

    def controls(self) -> list[QWidget]:
        """The widgets a user edits."""
        return list(self._controls)

    def value(self) -> Any:
        """The value as typed; text that is not a valid value is returned as is for the config to reject."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Show ``value`` without emitting ``edited``."""
        self.blockSignals(True)
        for control in self.controls():
            control.blockSignals(True)
        try:
            self.show_value(value)
        finally:
            for control in self.controls():
                control.blockSignals(False)
            self.blockSignals(False)

    def show_value(self, value: Any) -> None:
        """Put ``value`` into the controls (signals are blocked)."""
        raise NotImplementedError

    def set_invalid(self, invalid: bool) -> None:
        """Mark the controls with the ``invalid`` property that the form's style sheet draws red."""
        if invalid == self._invalid:
            return
        self._invalid = invalid
        for control in self._controls:
            control.setProperty("invalid", invalid)
            control.setStyleSheet("")  # re-styles the control and its size for the new property

    def has_focus(self) -> bool:
        """Whether the user is in one of the controls."""
        return any(control.hasFocus() for control in self._controls)

    def is_invalid(self) -> bool:
        """Whether the editor is marked invalid."""
        return self._invalid


class BoolEditor(FieldEditor):
    """A check box."""

    def __init__(self, info: FieldInfo) -> None:
        super().__init__(info)
        self.control = QCheckBox()
        self.control.toggled.connect(self.edited)
        self.add_control(self.control)
        self.layout_.addStretch(1)

    def value(self) -> bool:
        return self.control.isChecked()

    def show_value(self, value: Any) -> None:
        self.control.setChecked(bool(value))


class IntEditor(FieldEditor):
    """A spin box limited to the field's range."""

    def __init__(self, info: FieldInfo) -> None:
        super().__init__(info)
        self.control = WheelSafeSpinBox()
        low = -INT_LIMIT if info.minimum is None else int(info.minimum)
        high = INT_LIMIT if info.maximum is None else int(info.maximum)
        self.control.setRange(low, high)
        self.control.setMinimumWidth(140)
        self.control.valueChanged.connect(self.edited)
        self.add_control(self.control)
        self.layout_.addStretch(1)

    def value(self) -> int:
        return self.control.value()

    def show_value(self, value: Any) -> None:
        self.control.setValue(int(value))


class FloatEditor(FieldEditor):
    """A number box that takes plain or scientific notation (``0.0001`` or ``1e-4``)."""

    def __init__(self, info: FieldInfo) -> None:
        super().__init__(info)
        self.control = QLineEdit()
        validator = QDoubleValidator(self.control)
        validator.setLocale(QLocale.c())
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.control.setValidator(validator)
        self.control.setMaximumWidth(140)
        self.control.setMinimumWidth(140)
        self.control.textChanged.connect(self.edited)
        self.add_control(self.control)
        self.layout_.addStretch(1)

    def value(self) -> float | str:
        text = self.control.text().strip()
        try:
            return float(text)
        except ValueError:
            return text

    def show_value(self, value: Any) -> None:
        self.control.setText(repr(float(value)))


class ChoiceEditor(FieldEditor):
    """A drop-down of the allowed values."""

    def __init__(self, info: FieldInfo) -> None:
        super().__init__(info)
        self.control = WheelSafeComboBox()
        self.set_choices(info.choices or ())
        self.control.setMinimumWidth(220)
        self.control.currentIndexChanged.connect(self.edited)
        self.add_control(self.control)
        self.layout_.addStretch(1)

    def set_choices(self, choices: Sequence[Any]) -> None:
        """Offer ``choices``; the current value stays selected when it is one of them."""
        if [self.control.itemData(i) for i in range(self.control.count())] == list(choices):
            return
        current = self.control.currentData()
        self.control.blockSignals(True)
        self.control.clear()
        for choice in choices:
            self.control.addItem(str(choice), choice)
        self.control.setCurrentIndex(max(self.control.findData(current), 0))
        self.control.blockSignals(False)

    def value(self) -> Any:
        return self.control.currentData()

    def show_value(self, value: Any) -> None:
        index = self.control.findData(value)
        if index < 0:
            self.control.addItem(str(value), value)
            index = self.control.count() - 1
        self.control.setCurrentIndex(index)


class MultiChoiceEditor(FieldEditor):
    """A row of check boxes, one per allowed value."""

    def __init__(self, info: FieldInfo) -> None:
        super().__init__(info)
        self.boxes = {choice: QCheckBox(str(choice)) for choice in info.choices or ()}
        for box in self.boxes.values():
            box.toggled.connect(self.edited)
            self.add_control(box)
        self.layout_.addStretch(1)

    def value(self) -> tuple[Any, ...]:
        return tuple(choice for choice, box in self.boxes.items() if box.isChecked())

    def show_value(self, value: Any) -> None:
        for choice, box in self.boxes.items():
            box.setChecked(choice in tuple(value))


class TextEditor(FieldEditor):
    """A one-line text box; for "text or empty" fields an empty box means no value (None).

    Fields whose default holds a line break or tab show them as ``\\n`` and ``\\t``.
    """

    def __init__(self, info: FieldInfo) -> None:
        super().__init__(info)
        self.optional = info.type_name.endswith("or empty")
        self.escapes = any(ch in str(info.default) for ch in "\n\t")
        self.control = QLineEdit()
        if self.optional or not info.default:
            self.control.setPlaceholderText("empty")
        if self.escapes:
            self.control.setPlaceholderText("\\n is a line break, \\t a tab")
        self.control.setMaximumWidth(TEXT_WIDTH)
        self.control.textChanged.connect(self.edited)
        self.add_control(self.control)

    def value(self) -> str | None:
        text = self.control.text()
        if self.escapes:
            text = unescape_text(text)
        return None if self.optional and not text.strip() else text

    def show_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        self.control.setText(escape_text(text) if self.escapes else text)


class ListEditor(FieldEditor):
    """Comma-separated values in a text box."""

    def __init__(self, info: FieldInfo) -> None:
        super().__init__(info)
        self.control = QLineEdit()
        self.control.setPlaceholderText("empty; separate several with commas")
        self.control.setMaximumWidth(TEXT_WIDTH)
        self.control.textChanged.connect(self.edited)
        self.add_control(self.control)

    def value(self) -> tuple[str, ...]:
        return tuple(item.strip() for item in self.control.text().split(",") if item.strip())

    def show_value(self, value: Any) -> None:
        self.control.setText(", ".join(map(str, value or ())))


class SuggestionEditor(FieldEditor):
    """Free text with a drop-down of suggestions (backbones, dataset names)."""

    def __init__(self, info: FieldInfo, suggestions: Sequence[str]) -> None:
        super().__init__(info)
        self.control = WheelSafeComboBox()
        self.control.setEditable(True)
        self.control.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.control.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.control.lineEdit().setPlaceholderText("empty")
        self.set_suggestions(suggestions)
        self.control.setMaximumWidth(TEXT_WIDTH)
        self.control.editTextChanged.connect(self.edited)
        self.add_control(self.control)

    def set_suggestions(self, suggestions: Sequence[str]) -> None:
        """Offer ``suggestions``; the typed text stays."""
        text = self.control.currentText()
        self.control.blockSignals(True)
        self.control.clear()
        self.control.addItems(list(dict.fromkeys(suggestions)))
        self.control.setEditText(text)
        self.control.blockSignals(False)

    def value(self) -> str:
        return self.control.currentText().strip()

    def show_value(self, value: Any) -> None:
        self.control.setEditText("" if value is None else str(value))


class CodeBox(QPlainTextEdit):
    """A plain-text box where Tab indents with four spaces (Python) instead of moving the focus."""

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Tab and not event.modifiers():
            self.insertPlainText("    ")
            return
        super().keyPressEvent(event)


class CodeEditor(FieldEditor):
    """A few lines of Python in a fixed-width box."""

    def __init__(self, info: FieldInfo) -> None:
        super().__init__(info)
        self.control = CodeBox()
        self.control.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.control.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.control.setMinimumHeight(7 * self.control.fontMetrics().lineSpacing())
        self.control.setMinimumWidth(TEXT_WIDTH)
        self.control.textChanged.connect(self.edited)
        self.add_control(self.control)

    def value(self) -> str:
        return self.control.toPlainText()

    def show_value(self, value: Any) -> None:
        self.control.setPlainText("" if value is None else str(value))


def make_editor(info: FieldInfo, suggestions: Sequence[str] = ()) -> FieldEditor:
    """The editor that fits a field: chosen from its path, type and choices."""
    if info.path in SUGGESTION_FIELDS:
        return SuggestionEditor(info, suggestions)
    if info.type_name == "bool":
        return BoolEditor(info)
    if info.type_name == "int":
        return IntEditor(info)
    if info.type_name == "float":
        return FloatEditor(info)
    if info.type_name == "list":
        return MultiChoiceEditor(info) if info.choices else ListEditor(info)
    if info.choices:
        return ChoiceEditor(info)
    return CodeEditor(info) if info.code else TextEditor(info)
