"""Classification and regression heads on the tiny model: they learn, report their metrics, write predictions,
refuse bad labels naming the row, resume, chat and export."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from studio_desktop.core.events import Failed, Finished, Log, Metric, Progress
from studio_desktop.core.problem_types import CLASSIFICATION, REGRESSION
from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.worker.train import EXIT_FAILED, EXIT_FINISHED, run_training

TOPICS = (
    "the sky is blue and the fox is quick",
    "the dog is lazy and the model is slow",
    "memory and tokens fill the GPU",
)


def write_rows(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def labelled_rows(count: int, classes: int) -> list[list[object]]:
    return [[f"Item {i}: {TOPICS[i % classes]}.", i % classes] for i in range(count)]


@pytest.fixture
def head_workdir(trained_workdir, tiny_model_dir: Path):
    wd, catalog = trained_workdir

    def add(name: str, header: list[str], rows: list[list[object]], **mapping: object):
        source = write_rows(wd.root.parent / f"{name}.csv", header, rows)
        request = ImportRequest(
            source=source, name=name, backbone=str(tiny_model_dir), validation_size=0.25, mapping=mapping
        )
        import_dataset(wd, catalog, request)

    add("binary", ["text", "label"], labelled_rows(40, 2), prompt_columns=["text"], answer_column="label")
    return wd, catalog, add


def head_config(make_config, name: str, problem_type: str, dataset: str, **overrides):
    values = {
        "problem_type": problem_type,
        "dataset__train_dataframe": dataset,
        "dataset__validation_size": 0.25,
        "training__save_checkpoint": "disable",
        "training__epochs": 6,
        "training__learning_rate": 0.003,
        "training__evaluate_before_training": True,
    }
    return make_config(name, **(values | overrides))


def metric_values(experiment, name: str) -> list[float]:
    return [e.values[name] for e in experiment.events() if isinstance(e, Metric) and name in e.values]


def train(wd, experiment) -> Finished:
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED, experiment.events()[-1]
    final = experiment.events()[-1]
    assert isinstance(final, Finished)
    return final


def test_binary_classification_separates_a_separable_set(head_workdir, make_config) -> None:
    wd, catalog, _ = head_workdir
    experiment = create_experiment(wd, catalog, head_config(make_config, "cls", CLASSIFICATION, "binary"))
    final = train(wd, experiment)
    assert final.metrics["val/accuracy"] >= 0.9
    assert final.metrics["val/auc"] >= 0.9
    assert "val/perplexity" not in final.metrics
    assert metric_values(experiment, "val/logloss")[-1] < metric_values(experiment, "val/logloss")[0]
    table = pd.read_csv(experiment.predictions_path)
    assert list(table.columns) == ["text", "target", "p(label)", "error"]
    assert len(table) == 10 and table["error"].is_monotonic_decreasing
    assert (table["error"] - (table["p(label)"] - table["target"]).abs()).abs().max() < 1e-9
    assert (experiment.model_dir / "head.json").is_file()


def test_multiclass_and_multilabel_classification_learn(head_workdir, make_config) -> None:
    wd, catalog, add = head_workdir
    add("three", ["text", "label"], labelled_rows(48, 3), prompt_columns=["text"], answer_column="label")
    multiclass = head_config(
        make_config,
        "multiclass",
        CLASSIFICATION,
        "three",
        dataset__num_classes=3,
        training__loss_function="CrossEntropyLoss",
        prediction__metric="Accuracy",
    )
    final = train(wd, create_experiment(wd, catalog, multiclass))
    assert final.metrics["val/accuracy"] >= 0.9
    rows = [[f"Item {i}: {TOPICS[i % 3]}.", int(i % 3 == 0), int(i % 3 == 1)] for i in range(48)]
    add("tags", ["text", "blue", "lazy"], rows, prompt_columns=["text"], answer_column="blue",
        extra_answer_columns=["lazy"])  # fmt: skip
    multilabel = head_config(make_config, "multilabel", CLASSIFICATION, "tags", dataset__num_classes=2)
    experiment = create_experiment(wd, catalog, multilabel)
    final = train(wd, experiment)
    assert final.metrics["val/accuracy"] >= 0.9
    table = pd.read_csv(experiment.predictions_path)
    assert {"target blue", "p(blue)", "target lazy", "p(lazy)"} <= set(table.columns)


def test_regression_halves_the_squared_error(head_workdir, make_config) -> None:
    wd, catalog, add = head_workdir
    rows = [[f"Item {i}: {TOPICS[i % 2]}.", 1.0 + 2.0 * (i % 2)] for i in range(40)]
    add("values", ["text", "score"], rows, prompt_columns=["text"], answer_column="score")
    for loss in ("MSELoss", "MAELoss"):
        cfg = head_config(
            make_config, f"reg-{loss.lower()}", REGRESSION, "values", training__loss_function=loss
        )
        experiment = create_experiment(wd, catalog, cfg)
        train(wd, experiment)
        mse = metric_values(experiment, "val/mse")
        assert mse[-1] < mse[0] / 2, (loss, mse)
        table = pd.read_csv(experiment.predictions_path)
        assert list(table.columns) == ["text", "target", "prediction", "error"]


@pytest.mark.parametrize(
    ("label", "overrides", "expected"),
    [
        ("1.5", {}, "label 1.5 is not an integer"),
        ("-1", {}, "label -1 is negative"),
        ("2", {}, "label 2 is neither 0 nor 1"),
        (
            "3",
            {"dataset__num_classes": 3, "training__loss_function": "CrossEntropyLoss"},
            "label 3 is not below dataset.num_classes = 3",
        ),
        ("n/a", {}, "value 'n/a' is not a number"),
        ("nan", {}, "value 'nan' is missing, NaN or infinite"),
    ],
)
def test_a_bad_label_fails_the_run_naming_file_row_column_and_value(
    head_workdir, make_config, label: str, overrides: dict, expected: str
) -> None:
    wd, catalog, add = head_workdir
    rows = labelled_rows(12, 2)
    rows[6][1] = label
    add("bad", ["text", "label"], rows, prompt_columns=["text"], answer_column="label")
    cfg = head_config(make_config, "bad-labels", CLASSIFICATION, "bad", **overrides)
    experiment = create_experiment(wd, catalog, cfg)
    assert run_training(wd.root, experiment.path) == EXIT_FAILED
    failed = experiment.events()[-1]
    assert isinstance(failed, Failed) and failed.failure == "data"
    assert "bad.csv (dataset 'bad')" in failed.message
    assert "row 7" in failed.message and "field 'label'" in failed.message
    assert expected in failed.message
    assert not any(isinstance(e, Progress) for e in experiment.events())  # refused before training


def test_labels_that_skip_a_class_train_with_a_warning(head_workdir, make_config) -> None:
    wd, catalog, add = head_workdir
    rows = [[f"Item {i}: {TOPICS[i % 2]}.", 2 * (i % 2)] for i in range(24)]
    add("gaps", ["text", "label"], rows, prompt_columns=["text"], answer_column="label")
    cfg = head_config(
        make_config,
        "gaps",
        CLASSIFICATION,
        "gaps",
        dataset__num_classes=3,
        training__loss_function="CrossEntropyLoss",
        training__epochs=1,
    )
    experiment = create_experiment(wd, catalog, cfg)
    train(wd, experiment)
    warnings = [e.message for e in experiment.events() if isinstance(e, Log) and e.level == "warning"]
    assert any("not contiguous: class(es) 1 of 0 to 2" in message for message in warnings)


def chat_replies(workdir: Path, name: str, texts: list[str], log: Path) -> tuple[dict, list[str]]:
    """The ready line and the reply to each text of a chat worker on ``name``."""
    from tests.worker.test_chat import ChatWorker, generate

    with ChatWorker(workdir, name, log) as worker:
        ready = worker.receive()
        while ready is not None and ready["type"] == "log":
            ready = worker.receive()
        assert ready is not None and ready["type"] == "ready", log.read_text()
        replies = []
        for index, text in enumerate(texts):
            request = generate(f"q{index}", [("user", text)])
            request["system"] = ""
            worker.send(request)
            replies.append(worker.answer(f"q{index}")[1]["text"])
        assert worker.close() == 0
    return ready, replies


def card_snippets(folder: Path) -> list[str]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    return [block.split("\n", 1)[1] for block in text.split("```")[1::2] if block.startswith("python")]


def run_snippet(code: str, replacements: dict[str, str]) -> dict[str, float]:
    import ast
    import os
    import subprocess
    import sys

    for old, new in replacements.items():
        assert old in code
        code = code.replace(old, new)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_a_classifier_chats_with_its_prediction_and_exports_with_a_working_card(
    head_workdir, make_config, tmp_path: Path
) -> None:
    from studio_desktop.jobs.exports import export_experiment

    wd, catalog, _ = head_workdir
    experiment = create_experiment(wd, catalog, head_config(make_config, "judge", CLASSIFICATION, "binary"))
    train(wd, experiment)
    texts = [f"Item 90: {TOPICS[0]}.", f"Item 91: {TOPICS[1]}.", "The text to score"]
    ready, replies = chat_replies(wd.root, "judge", texts, tmp_path / "chat.log")
    assert ready["task"] == "classification" and ready["settings"] == {}
    assert replies[0].startswith("Predicted label: 0 (probability of 1: ")
    assert replies[1].startswith("Predicted label: 1 (probability of 1: ")
    chat_probability = float(replies[2].rsplit(": ", 1)[1].rstrip(")"))

    for kind in ("merged", "adapter"):
        folder = export_experiment(wd, catalog, "judge", kind)
        snippets = card_snippets(folder)
        assert len(snippets) == 2
        snippet = snippets[0]  # the snippet of this export's kind comes first
        scores = run_snippet(snippet, {f"path/to/judge-{kind}": str(folder)})
        assert list(scores) == ["label"]
        assert abs(scores["label"] - chat_probability) < 2e-3, (kind, scores, replies[2])
    merged = folder.parent / "judge-merged"
    assert '"LlamaForSequenceClassification"' in (merged / "config.json").read_text(encoding="utf-8")
    assert not (merged / "generation_config.json").exists()


def test_a_fully_fine_tuned_multiclass_model_and_a_regressor_chat(
    head_workdir, make_config, tmp_path
) -> None:
    wd, catalog, add = head_workdir
    add("three", ["text", "label"], labelled_rows(48, 3), prompt_columns=["text"], answer_column="label")
    cfg = head_config(
        make_config,
        "topics",
        CLASSIFICATION,
        "three",
        dataset__num_classes=3,
        training__loss_function="CrossEntropyLoss",
        training__lora=False,
        training__learning_rate=0.001,
    )
    train(wd, create_experiment(wd, catalog, cfg))
    ready, replies = chat_replies(wd.root, "topics", [f"Item 95: {TOPICS[2]}."], tmp_path / "topics.log")
    assert replies[0].startswith("Predicted class: 2 (probability ")
    assert replies[0].count(" · ") == 2  # the other two classes follow
    rows = [[f"Item {i}: {TOPICS[i % 2]}.", 1.0 + 2.0 * (i % 2)] for i in range(40)]
    add("values", ["text", "score"], rows, prompt_columns=["text"], answer_column="score")
    train(wd, create_experiment(wd, catalog, head_config(make_config, "scores", REGRESSION, "values")))
    ready, replies = chat_replies(wd.root, "scores", [f"Item 97: {TOPICS[1]}."], tmp_path / "scores.log")
    assert ready["task"] == "regression"
    value = float(replies[0].removeprefix("Predicted value: "))
    assert abs(value - 3.0) < 0.5


def test_stop_then_resume_reproduces_the_uninterrupted_classifier_curve(head_workdir, make_config) -> None:
    from tests.worker.test_training import assert_same_curve, stop_and_resume

    wd, catalog, _ = head_workdir
    settings = {
        "training__save_checkpoint": "last",
        "training__evaluation_epochs": 0.5,
        "training__epochs": 10,
    }
    reference = create_experiment(
        wd, catalog, head_config(make_config, "cls-straight", CLASSIFICATION, "binary", **settings)
    )
    train(wd, reference)
    interrupted = create_experiment(
        wd, catalog, head_config(make_config, "cls-stopped", CLASSIFICATION, "binary", **settings)
    )
    stop_and_resume(wd, interrupted, at_step=20)
    assert_same_curve(interrupted, reference, rel=1e-4)
