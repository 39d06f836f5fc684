"""The chat worker as a child process: ready, streamed answers, history, stop, bad requests, exit codes."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.chat_models import ChatTarget, generation_defaults, resolve_chat_target
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.jobs.workdir import open_workdir
from studio_desktop.worker.train import run_training

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = "Answer briefly."
GREEDY = {"max_length_inference": 24, "min_length_inference": 24, "do_sample": False}
LONG = {"max_length_inference": 4000, "min_length_inference": 4000, "do_sample": False}


class ChatWorker:
    """``studio-desktop worker chat SPEC`` with its stdout read line by line in a thread."""

    def __init__(self, workdir: Path, spec: str, log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "studio_desktop", "--workdir", str(workdir), "worker", "chat", spec]
        self.log = log
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=handle, env=env
            )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.put(json.loads(line))  # every stdout line must be JSON
        self.lines.put(None)

    def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.process.stdin.write(text.encode("utf-8") + b"\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]

    def receive(self, timeout: float = 90.0) -> dict[str, Any] | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"no reply from the chat worker; its log:\n{self.log.read_text()}") from None

    def answer(self, request_id: str) -> tuple[list[str], dict[str, Any]]:
        """The deltas and the done line of ``request_id``."""
        deltas = []
        while True:
            message = self.receive()
            assert message is not None and message["id"] == request_id, message
            if message["type"] == "done":
                return deltas, message
            assert message["type"] == "delta", message
            deltas.append(message["text"])

    def __enter__(self) -> ChatWorker:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:  # a failed test leaves no worker behind
            self.process.kill()
            self.process.wait()

    def close(self) -> int:
        """Close stdin and wait for the exit code."""
        self.process.stdin.close()  # type: ignore[union-attr]
        return self.process.wait(timeout=60)


def generate(request_id: str, messages: list[tuple[str, str]], **settings: Any) -> dict[str, Any]:
    return {
        "type": "generate",
        "id": request_id,
        "messages": [{"role": role, "content": content} for role, content in messages],
        "system": SYSTEM,
        "settings": settings,
    }


class Reference:
    """The same model loaded in this process, answering with the core inference functions."""

    def __init__(self, target: ChatTarget, models_dir: Path) -> None:
        from studio_desktop.core.backbones import resolve_backbone
        from studio_desktop.core.modeling import load_trained

        self.target = target
        backbone = resolve_backbone(target.backbone, models_dir).folder
        folder = target.model_dir or backbone
        self.model, self.tokenizer = load_trained(folder, backbone, target.config, "cpu", merge=True)

    def answer(self, messages: list[tuple[str, str]], settings: dict[str, Any]) -> str:
        from studio_desktop.core.data.conversations import Message
        from studio_desktop.core.data.prepare import template_settings
        from studio_desktop.core.inference import chat_prompt, generate_text

        cfg = self.target.config
        prediction = dataclasses.replace(cfg.prediction, **settings)
        history = [Message(role, content) for role, content in messages]
        template = template_settings(cfg.dataset)
        prompt = chat_prompt(self.tokenizer, SYSTEM, history, prediction.num_history, template)
        return generate_text(self.model, self.tokenizer, prompt, prediction)


def exercise(worker: ChatWorker, reference: Reference, expected_name: str) -> None:
    """Every part of the protocol against one loaded model."""
    target = reference.target
    ready = worker.receive()
    while ready is not None and ready["type"] == "log":
        ready = worker.receive()
    assert ready is not None, worker.log.read_text()
    assert ready["type"] == "ready" and ready["model"] == expected_name and ready["device"] == "cpu"
    assert ready["kind"] == target.kind
    assert ready["settings"] == generation_defaults(target.config.prediction)

    first = [("user", "What is LoRA?")]
    worker.send(generate("q1", first, **GREEDY))
    deltas, done = worker.answer("q1")
    assert len(deltas) > 1 and "".join(deltas) == done["text"]
    assert done["text"] == reference.answer(first, GREEDY)
    assert done["tokens"] == 24 and done["stopped"] is False and done["seconds"] > 0

    worker.send(generate("bad1", first, max_length_inference=8, warp_speed=9))
    error = worker.receive()
    assert set(error) == {"type", "id", "message"} and error["type"] == "error" and error["id"] == "bad1"
    assert "unknown setting 'warp_speed'" in error["message"]
    worker.send(generate("bad2", first, temperature=-1))
    error = worker.receive()
    assert error["type"] == "error" and error["id"] == "bad2" and "prediction.temperature" in error["message"]
    worker.send("not json")
    assert worker.receive()["type"] == "error"

    second = [*first, ("assistant", done["text"]), ("user", "And the rank?")]
    worker.send(generate("q2", second, **GREEDY))
    deltas, done2 = worker.answer("q2")
    assert "".join(deltas) == done2["text"] == reference.answer(second, GREEDY)
    assert done2["text"] != reference.answer(second[-1:], GREEDY)  # the history changed the answer

    worker.send(generate("long", first, **LONG))
    message = worker.receive()
    assert message["type"] == "delta" and message["id"] == "long"
    worker.send({"type": "stop", "id": "long"})
    deltas, done3 = worker.answer("long")
    assert done3["stopped"] is True and 0 < done3["tokens"] < 4000
    assert message["text"] + "".join(deltas) == done3["text"]

    worker.send(generate("q3", first, **GREEDY))
    assert worker.answer("q3")[1]["text"] == done["text"]  # the worker serves on after a stop

    # Hostile lines get an error line each, and the worker serves on.
    worker.send("[" * 100_000)
    assert "nested too deeply" in worker.receive()["message"]
    worker.send(json.dumps(generate("x", first)).replace('"id": "x"', '"id": 1e400'))
    error = worker.receive()  # an infinite id is not echoed (it would not be JSON)
    assert error["type"] == "error" and error["id"] is None and "finite number" in error["message"]
    worker.send(generate("too-long", [("user", "LoRA " * 3000)], **GREEDY))
    error = worker.receive()
    assert error["type"] == "error" and error["id"] == "too-long" and "whole context" in error["message"]

    # Closing stdin (the app went away) stops the answer being generated.
    worker.send(generate("left", first, **LONG))
    assert worker.receive()["id"] == "left"
    started = time.monotonic()
    assert worker.close() == 0
    assert time.monotonic() - started < 30
    messages = []
    while (message := worker.receive()) is not None:
        messages.append(message)
    assert messages[-1]["type"] == "done" and messages[-1]["stopped"] is True


def test_chat_with_a_trained_experiment(trained_workdir, make_config, varied_model_dir, tmp_path) -> None:
    wd, catalog = trained_workdir
    cfg = make_config("chatty", llm_backbone=str(varied_model_dir))
    experiment = create_experiment(wd, catalog, cfg)
    assert run_training(wd.root, experiment.path) == 0
    target = resolve_chat_target("chatty", wd, catalog)
    assert target.kind == "experiment" and target.model_dir == experiment.model_dir
    with ChatWorker(wd.root, "chatty", tmp_path / "chat.log") as worker:
        exercise(worker, Reference(target, wd.models), "chatty")


def test_chat_with_a_registered_backbone_folder(workdir, varied_model_dir, tmp_path) -> None:
    wd = open_workdir()
    catalog = Catalog(wd.catalog_path)
    catalog.add_backbone("varied", str(varied_model_dir))
    target = resolve_chat_target("varied", wd, catalog)
    assert target.kind == "backbone" and target.model_dir is None
    assert target.config.llm_backbone == "varied" and target.backbone == str(varied_model_dir)
    with ChatWorker(wd.root, "varied", tmp_path / "chat.log") as worker:
        exercise(worker, Reference(target, wd.models), "varied")


def load_failure(workdir: Path, spec: str, tmp_path: Path) -> str:
    """The one error line of a worker that cannot load ``spec`` (it must exit 1)."""
    with ChatWorker(workdir, spec, tmp_path / "chat.log") as worker:
        assert worker.process.wait(timeout=60) == 1
        error = worker.receive()
        assert worker.receive() is None
    assert error is not None and set(error) == {"type", "message"} and error["type"] == "error"
    return error["message"]


def test_a_spec_that_is_neither_experiment_nor_backbone_fails(workdir, tmp_path) -> None:
    wd = open_workdir()
    message = load_failure(wd.root, "no-such-model", tmp_path)
    assert "'no-such-model' is neither an experiment nor a backbone" in message


def test_an_experiment_without_a_trained_model_fails(trained_workdir, make_config, tmp_path) -> None:
    wd, catalog = trained_workdir
    create_experiment(wd, catalog, make_config("unfinished"))
    message = load_failure(wd.root, "unfinished", tmp_path)
    assert "'unfinished' has not finished training" in message
