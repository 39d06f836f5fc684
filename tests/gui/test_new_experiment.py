"""The New experiment dialog: defaults, cloning an experiment, YAML round trip and the CLI twin."""

from __future__ import annotations

from pathlib import Path

from studio_desktop.core.config_io import load_config
from studio_desktop.core.resources import demo_config_file
from studio_desktop.jobs.experiment import create_experiment


def test_clone_yaml_and_command(qtbot, trained_workdir, make_config, tmp_path: Path) -> None:
    from studio_desktop.gui.dialogs.new_experiment import NewExperimentDialog

    wd, catalog = trained_workdir
    create_experiment(wd, catalog, make_config("earlier", training__lora_r=4))
    dialog = NewExperimentDialog(catalog)
    qtbot.addWidget(dialog)
    assert dialog.config().dataset.train_dataframe == "facts"
    assert dialog.start_button.isEnabled()

    dialog.clone_from("earlier")
    cfg = dialog.config()
    assert cfg.training.lora_r == 4 and cfg.experiment_name == ""

    dialog.save(str(tmp_path / "cfg.yaml"))
    assert load_config(tmp_path / "cfg.yaml").config == cfg
    command = dialog.command()
    assert command.startswith(f"studio-desktop train --config {tmp_path / 'cfg.yaml'}")
    assert "training.lora_r=4" in command

    dialog.load(str(demo_config_file()))
    assert dialog.config().experiment_name == "studio-desktop-demo"
