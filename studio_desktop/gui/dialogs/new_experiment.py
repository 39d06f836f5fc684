"""The New experiment dialog: the generated settings form with YAML load/save and the CLI equivalent."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE
from studio_desktop.core.config import ExperimentConfig, default_config
from studio_desktop.core.errors import StudioError
from studio_desktop.gui.widgets.config_form import ConfigForm
from studio_desktop.gui.widgets.memory_verdict import Planner
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import open_experiment

YAML_FILTER = "YAML config (*.yaml *.yml)"


class NewExperimentDialog(QDialog):
    """Edit a config and accept it to start an experiment; ``config()`` is the result."""

    def __init__(
        self,
        catalog: Catalog,
        base: ExperimentConfig | None = None,
        parent: QWidget | None = None,
        planner: Planner | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New experiment")
        self.resize(900, 760)
        datasets = [record.name for record in catalog.datasets()]
        backbones = [BUNDLED_BACKBONE] + [record.name for record in catalog.backbones()]
        if base is None:
            base = default_config().replace({"dataset.train_dataframe": datasets[0] if datasets else ""})
        self.form = ConfigForm(base, datasets=datasets, backbones=backbones, planner=planner)
        self.yaml_path: Path | None = None
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.setToolTip("Create the experiment and start training in the background")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.form.validity_changed.connect(self.start_button.setEnabled)
        self.start_button.setEnabled(self.form.is_valid())
        tools = QHBoxLayout()
        self.clone = QComboBox()
        self.clone.addItem("Start from defaults")
        self.clone.addItems([record.name for record in catalog.experiments()])
        self.clone.setToolTip("Copy the settings of an earlier experiment (its name is cleared)")
        self.clone.activated.connect(lambda _index: self.clone_from(self.clone.currentText()))
        self.catalog = catalog
        tools.addWidget(self.clone)
        for text, tip, slot in (
            (
                "Load YAML…",
                "Fill the form from a config file (H2O LLM Studio cfg.yaml files work too)",
                self.load,
            ),
            ("Save YAML…", "Write these settings to a config file", self.save),
            ("Copy CLI command", "Copy the equivalent studio-desktop train command", self.copy_command),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, run=slot: run())
            tools.addWidget(button)
        tools.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.form, stretch=1)
        layout.addWidget(self.buttons)

    def clone_from(self, name: str) -> None:
        """Fill the form with an earlier experiment's settings, under a new (empty) name."""
        if not self.catalog.has_experiment(name):
            return
        cfg = open_experiment(self.catalog, name).config()
        self.form.set_config(cfg.replace({"experiment_name": ""}))

    def config(self) -> ExperimentConfig:
        return self.form.config()

    def load(self, path: str | None = None) -> None:
        path = path or QFileDialog.getOpenFileName(self, "Load config", "", YAML_FILTER)[0]
        if not path:
            return
        try:
            warnings = self.form.load_yaml(path)
        except StudioError as err:
            QMessageBox.warning(self, "Load config", str(err))
            return
        self.yaml_path = Path(path)
        if warnings:
            QMessageBox.information(self, "Load config", "Ignored:\n" + "\n".join(warnings))

    def save(self, path: str | None = None) -> None:
        path = path or QFileDialog.getSaveFileName(self, "Save config", "config.yaml", YAML_FILTER)[0]
        if not path:
            return
        try:
            self.yaml_path = self.form.save_yaml(path)
        except StudioError as err:
            QMessageBox.warning(self, "Save config", str(err))

    def command(self) -> str:
        """The CLI twin of this form (relative to the last loaded or saved YAML file)."""
        return self.form.cli_command(str(self.yaml_path or "config.yaml"))

    def copy_command(self) -> None:
        try:
            QGuiApplication.clipboard().setText(self.command())
        except StudioError as err:
            QMessageBox.warning(self, "Copy CLI command", str(err))
