"""The Chat tab: talk to a fine-tuned experiment or any backbone; compare two models side by side."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE
from studio_desktop.core.config import describe_fields
from studio_desktop.gui.chat_session import ChatSession
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.chat_models import has_trained_model
from studio_desktop.jobs.experiment import open_experiment
from studio_desktop.jobs.workdir import Workdir

SETTINGS = ("max_length_inference", "temperature", "top_p", "repetition_penalty")


class ChatPane(QWidget):
    """One model: its picker, its worker and its transcript."""

    def __init__(self, workdir: Workdir, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = ChatSession(workdir, self)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setToolTip(
            "A finished experiment, the bundled model, a registered backbone, a folder or a hub id"
        )
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Start a chat process with this model (loading takes a few seconds)")
        self.load_button.clicked.connect(self.load)
        self.status = QLabel("No model loaded")
        self.transcript = QTextBrowser()
        self.history: list[dict[str, str]] = []
        self.answer = ""
        picker = QHBoxLayout()
        picker.addWidget(QLabel(title))
        picker.addWidget(self.model, stretch=1)
        picker.addWidget(self.load_button)
        layout = QVBoxLayout(self)
        layout.addLayout(picker)
        layout.addWidget(self.status)
        layout.addWidget(self.transcript, stretch=1)
        self.task = "generation"
        self.session.ready.connect(self._ready)
        self.session.delta.connect(self._delta)
        self.session.done.connect(self._done)
        self.session.failed.connect(lambda message: self.status.setText(f"Error: {message}"))
        self.session.log.connect(self.status.setText)

    def _ready(self, info: dict) -> None:
        self.task = info.get("task", "generation")
        note = "" if self.task == "generation" else f" · a {self.task} model: it answers with its prediction"
        self.status.setText(f"{info['model']} on {info['device']}{note}")

    def load(self) -> None:
        spec = self.model.currentText().strip()
        if not spec:
            return
        self.session.close()
        self.status.setText(f"Loading {spec}…")
        self.session.start(spec)

    def ask(self, question: str, system: str, settings: dict[str, Any]) -> bool:
        """Send the question with this pane's history; False when no model is ready or one is answering."""
        if not self.session.is_ready or self.session.running is not None:
            return False
        self.history.append({"role": "user", "content": question})
        self.answer = ""
        self._render()
        self.session.send(self.history, system, settings)
        return True

    def _delta(self, _request: int, text: str) -> None:
        self.answer += text
        self._render()

    def _done(self, _request: int, message: dict) -> None:
        self.history.append({"role": "assistant", "content": message["text"]})
        self.answer = ""
        seconds = message.get("seconds") or 0.0
        rate = message["tokens"] / seconds if seconds else 0.0
        note = " (stopped)" if message.get("stopped") else ""
        if self.task == "generation":
            self.status.setText(f"{message['tokens']} tokens in {seconds:.1f} s, {rate:.1f} tokens/s{note}")
        else:
            self.status.setText(f"Scored in {seconds:.2f} s")
        self._render()

    def clear(self) -> None:
        self.history.clear()
        self.answer = ""
        self._render()

    def _render(self) -> None:
        parts = []
        turns = self.history + ([{"role": "assistant", "content": self.answer}] if self.answer else [])
        for turn in turns:
            who = "You" if turn["role"] == "user" else "Model"
            text = html.escape(turn["content"]).replace("\n", "<br>")
            parts.append(f"<p><b>{who}:</b> {text}</p>")
        self.transcript.setHtml("".join(parts))
        bar = self.transcript.verticalScrollBar()
        bar.setValue(bar.maximum())

    def transcript_text(self) -> str:
        return "\n\n".join(f"{t['role']}: {t['content']}" for t in self.history)


class ChatTab(QWidget):
    """Chat with one model, or two side by side on the same prompts (compare mode)."""

    def __init__(self, workdir: Workdir, catalog: Catalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workdir = workdir
        self.catalog = catalog
        self.panes = [ChatPane(workdir, "Model"), ChatPane(workdir, "Compare with")]
        self.panes[1].hide()
        self.compare = QCheckBox("Compare two models")
        self.compare.setToolTip("Send every prompt to a second model and show the answers side by side")
        self.compare.toggled.connect(self.panes[1].setVisible)
        self.compare.toggled.connect(self._offer_settings)
        for pane in self.panes:
            pane.session.ready.connect(self._offer_settings)
            pane.session.ended.connect(self._offer_settings)
        self.system = QLineEdit()
        self.system.setPlaceholderText("System prompt (optional)")
        self.system.setToolTip("Instructions given to the model before the conversation")
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Ask something… (Ctrl+Enter sends)")
        self.prompt.setMaximumHeight(90)
        self.settings = self._settings_box()
        splitter = QSplitter()
        for pane in self.panes:
            splitter.addWidget(pane)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.compare)
        top.addWidget(self.system, stretch=1)
        layout.addLayout(top)
        body = QHBoxLayout()
        body.addWidget(splitter, stretch=1)
        body.addWidget(self.settings)
        layout.addLayout(body, stretch=1)
        layout.addWidget(self.prompt)
        layout.addLayout(self._buttons())
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.send)
        QShortcut(QKeySequence("Ctrl+Enter"), self, activated=self.send)
        self.refresh()

    def _settings_box(self) -> QGroupBox:
        box = QGroupBox("Generation")
        form = QFormLayout(box)
        infos = {info.path: info for info in describe_fields() if info.path.startswith("prediction.")}
        self.editors: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for name in SETTINGS:
            info = infos[f"prediction.{name}"]
            editor: QSpinBox | QDoubleSpinBox = QSpinBox() if info.type_name == "int" else QDoubleSpinBox()
            editor.setRange(info.minimum or 0, min(info.maximum or 100000, 100000))
            if isinstance(editor, QDoubleSpinBox):
                editor.setDecimals(2)
                editor.setSingleStep(0.05)
            editor.setValue(info.default)
            editor.setToolTip(f"{info.help}\n\nAllowed: {info.allowed()}")
            form.addRow(name.replace("_", " "), editor)
            self.editors[name] = editor
        return box

    def _buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        for text, tip, slot in (
            ("Send", "Send the prompt (Ctrl+Enter)", self.send),
            ("Stop", "Stop the answers being generated", self.stop),
            ("Clear", "Forget the conversation", self.clear),
            ("Copy", "Copy the conversation to the clipboard", self.copy),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, run=slot: run())
            row.addWidget(button)
        row.addStretch(1)
        return row

    def refresh(self) -> None:
        """Offer the finished experiments, the bundled model and the registered backbones."""
        names = [
            record.name
            for record in self.catalog.experiments()
            if has_trained_model(open_experiment(self.catalog, record.name))
        ]
        names += [BUNDLED_BACKBONE] + [record.name for record in self.catalog.backbones()]
        for pane in self.panes:
            current = pane.model.currentText()
            pane.model.clear()
            pane.model.addItems(names)
            if current:
                pane.model.setCurrentText(current)

    def generation_settings(self) -> dict[str, Any]:
        values: dict[str, Any] = {name: editor.value() for name, editor in self.editors.items()}
        values["do_sample"] = values["temperature"] > 0
        return values

    def _offer_settings(self, *_args: object) -> None:
        """The generation settings apply unless every loaded model answers with a prediction."""
        loaded = [pane for pane in self.active_panes() if pane.session.is_ready]
        generating = not loaded or any(pane.task == "generation" for pane in loaded)
        self.settings.setEnabled(generating)
        self.settings.setToolTip(
            ""
            if generating
            else "Classification and regression models answer with their prediction: "
            "generation settings do not apply to them"
        )

    def active_panes(self) -> list[ChatPane]:
        return self.panes if self.compare.isChecked() else self.panes[:1]

    def send(self) -> None:
        question = self.prompt.toPlainText().strip()
        if not question:
            return
        sent = [
            pane.ask(question, self.system.text(), self.generation_settings()) for pane in self.active_panes()
        ]
        if any(sent):
            self.prompt.clear()

    def stop(self) -> None:
        for pane in self.panes:
            pane.session.stop()

    def clear(self) -> None:
        for pane in self.panes:
            pane.clear()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(
            "\n\n---\n\n".join(p.transcript_text() for p in self.active_panes())
        )

    def shutdown(self) -> None:
        """End the chat processes (the window is closing)."""
        for pane in self.panes:
            pane.session.close()
