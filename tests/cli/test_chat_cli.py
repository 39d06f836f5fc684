"""``studio-desktop chat`` in a child process: one-shot and interactive answers, Ctrl+C, clean errors."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.worker.train import run_training

# The fixtures that build a working directory with the ``facts`` dataset, shared with the worker tests.

ROOT = Path(__file__).resolve().parents[2]


def command(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "studio_desktop", "--workdir", str(workdir), *args]


def child_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    for name in ("HF_HOME", "STUDIO_DESKTOP_WORKDIR"):
        env.pop(name, None)
    return env


def run_cli(workdir: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """Exit code, stdout and stderr, decoded without newline translation."""
    result = subprocess.run(
        command(workdir, *args),
        input=stdin.encode(),
        capture_output=True,
        env=child_env(),
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8")


def answer(model, tokenizer, cfg, turns: list[str], **settings: object) -> list[str]:
    """The answers to ``turns`` in one conversation, generated in this process."""
    from studio_desktop.core.data.conversations import Message
    from studio_desktop.core.data.prepare import template_settings
    from studio_desktop.core.inference import chat_prompt, generate_text

    prediction = dataclasses.replace(cfg.prediction, **settings)
    history: list[Message] = []
    answers = []
    for turn in turns:
        history.append(Message("user", turn))
        prompt = chat_prompt(tokenizer, "", history, prediction.num_history, template_settings(cfg.dataset))
        answers.append(generate_text(model, tokenizer, prompt, prediction))
        history.append(Message("assistant", answers[-1]))
    return answers


def test_one_shot_and_interactive_chat_print_the_answers(
    trained_workdir,
    make_config,
    varied_model_dir: Path,
) -> None:
    from studio_desktop.core.modeling import load_trained

    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("chatty", llm_backbone=str(varied_model_dir)))
    assert run_training(wd.root, experiment.path) == 0
    cfg = experiment.config()
    model, tokenizer = load_trained(experiment.model_dir, varied_model_dir, cfg, "cpu", merge=True)

    code, out, err = run_cli(wd.root, "chat", "chatty", "--prompt", "What is LoRA?", "--max-new-tokens", "8")
    assert code == 0, err
    assert out == answer(model, tokenizer, cfg, ["What is LoRA?"], max_length_inference=8)[0] + "\n"
    assert "Traceback" not in err

    turns = "What is LoRA?\nAnd the rank?\n/reset\n\nWhat is LoRA?\n"
    code, out, err = run_cli(wd.root, "chat", "chatty", "--max-new-tokens", "12", stdin=turns)
    assert code == 0, err
    first, second = answer(model, tokenizer, cfg, ["What is LoRA?", "And the rank?"], max_length_inference=12)
    assert second != answer(model, tokenizer, cfg, ["And the rank?"], max_length_inference=12)[0]
    assert out == f"{first}\n{second}\n{first}\n"  # the history reaches the second turn; /reset clears it
    assert err.count("you> ") == 6 and "(history cleared)" in err and "Traceback" not in err


def test_ctrl_c_stops_the_answer_and_keeps_the_session(workdir: Path, varied_model_dir: Path) -> None:
    process = subprocess.Popen(
        command(workdir, "chat", str(varied_model_dir), "--max-new-tokens", "4000"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"Tell me everything\n")
    process.stdin.flush()
    started = time.monotonic()
    first = process.stdout.read1(1024)  # the answer has started streaming
    assert first and time.monotonic() - started < 60
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(b"/exit\n", timeout=60)
    assert process.returncode == 0, err  # the session read /exit after the stop
    assert b"(stopping)" in err and b"Traceback" not in err
    assert out.endswith(b"\n") and len(first + out) < 2000  # far less than 4000 tokens of text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no-such-model", "--prompt", "hi"), "'no-such-model' is neither an experiment nor a backbone"),
        (("bundled", "--temperature", "-1"), "--temperature: prediction.temperature = -1.0 is not allowed"),
    ],
)
def test_bad_models_and_settings_fail_with_one_message(
    workdir: Path, args: tuple[str, ...], message: str
) -> None:
    code, out, err = run_cli(workdir, "chat", *args)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err
