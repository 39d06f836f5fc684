"""The chat worker: loads a model once, then answers generate requests from stdin as JSON lines on stdout.

The protocol is described in ``studio_desktop.jobs.chat_models``. Only protocol lines reach stdout:
everything else a library prints goes to stderr, which the client keeps as a log.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from studio_desktop.core.errors import ConfigError, StudioError
from studio_desktop.core.problem_types import HEAD_TYPES
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.chat_models import (
    ChatRequest,
    ChatTarget,
    generation_defaults,
    parse_generate,
    plain_id,
    resolve_chat_target,
)
from studio_desktop.jobs.workdir import Workdir, open_workdir

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class ProtocolWriter:
    """Writes one JSON object per line and flushes it; safe to call from several threads."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=True) + "\n"
        with self.lock:
            self.stream.write(line)
            self.stream.flush()

    def error(self, message: str, request_id: Any = None, *, with_id: bool = True) -> None:
        """An error line; ``with_id=False`` for one that is about the worker, not a request."""
        reply: dict[str, Any] = {"type": "error", "id": request_id} if with_id else {"type": "error"}
        self.send({**reply, "message": message})


def claim_stdout() -> IO[str]:
    """A handle on the real stdout for protocol lines; file descriptor 1 and ``sys.stdout`` go to stderr."""
    sys.stdout.flush()
    handle = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return handle


@dataclass
class ChatModel:
    """A model loaded for chat, with what building its prompts needs; ``head`` holds the task and output
    names of a classification or regression model, which answers with its prediction instead of text it
    generates."""

    model: Any
    tokenizer: Any
    target: ChatTarget
    device: str
    template: Any
    head: tuple[Any, tuple[str, ...]] | None = None

    @property
    def task(self) -> str:
        """``generation``, ``classification`` or ``regression``."""
        if self.head is None:
            return "generation"
        return "regression" if self.head[0].regression else "classification"

    def reply(self, request: ChatRequest) -> Iterator[str]:
        """The answer to ``request`` as text deltas."""
        from studio_desktop.core.inference import chat_prompt, stream_generate

        if self.head is None:
            prompt = chat_prompt(
                self.tokenizer, request.system, request.history, request.prediction.num_history, self.template
            )
            yield from stream_generate(
                self.model, self.tokenizer, prompt, request.prediction, request.stop_event
            )
            return
        from studio_desktop.core.head_inference import describe_prediction, head_logits

        # A head reads one text: the new message alone, after the system prompt.
        prompt = chat_prompt(self.tokenizer, request.system, request.history, 0, self.template)
        max_length = self.target.config.tokenizer.max_length
        yield describe_prediction(*self.head, head_logits(self.model, self.tokenizer, prompt, max_length))


def load_chat_model(target: ChatTarget, workdir: Workdir, log: Callable[[str], None]) -> ChatModel:
    """Load the target in eval mode with its tokenizer; an experiment's LoRA adapter is merged in."""
    from studio_desktop.core.backbones import resolve_backbone
    from studio_desktop.core.data.prepare import template_settings
    from studio_desktop.core.modeling import load_trained, pick_device

    cfg = target.config
    device = pick_device(cfg.environment)
    folder = target.model_dir
    if folder is None or (folder / "adapter_config.json").is_file():
        backbone = resolve_backbone(target.backbone, workdir.models, progress=log).folder
    else:
        backbone = folder  # a fully fine-tuned model needs no backbone
    log(f"Loading {target.name} on {device}")
    model, tokenizer = load_trained(folder or backbone, backbone, cfg, device, merge=True)
    head = None
    if cfg.problem_type in HEAD_TYPES:
        from studio_desktop.core.head_inference import model_task

        head = model_task(cfg.problem_type, cfg.training.loss_function, model)
    return ChatModel(model, tokenizer, target, device, template_settings(cfg.dataset), head)


class StepCounter:
    """Counts the model's forward passes while generating: one per new token."""

    def __init__(self, model: Any) -> None:
        self.steps = 0
        model.register_forward_hook(self._count)

    def _count(self, *_args: Any) -> None:
        self.steps += 1


class ChatServer:
    """Reads requests in a thread and answers them one at a time in the calling thread."""

    def __init__(self, chat: ChatModel, writer: ProtocolWriter) -> None:
        self.chat = chat
        self.writer = writer
        self.requests: queue.Queue[ChatRequest | None] = queue.Queue()
        self.pending: dict[Any, ChatRequest] = {}
        self.lock = threading.Lock()
        self.counter = StepCounter(chat.model)

    def serve(self, stream: IO[bytes]) -> int:
        """Answer requests until stdin ends and the queued ones are answered."""
        reader = threading.Thread(
            target=self.read_requests, args=(stream,), name="chat-requests", daemon=True
        )
        reader.start()
        while (request := self.requests.get()) is not None:
            try:
                self.answer(request)
            except BrokenPipeError:
                raise
            except (StudioError, ValueError) as exc:
                self.writer.error(str(exc), request.id)
            except Exception as exc:  # e.g. out of memory: report it and keep serving
                traceback.print_exc()
                self.writer.error(f"Unexpected {type(exc).__name__}: {exc}", request.id)
            finally:
                with self.lock:
                    self.pending.pop(request.id, None)
        return EXIT_OK

    def read_requests(self, stream: IO[bytes]) -> None:
        """Handle each stdin line; a generate request is queued, a stop request acts at once. When stdin
        ends (the app went away) the answer being generated stops too."""
        try:
            for line in stream:
                if line.strip():
                    self.handle_line(line)
        finally:
            self.stop(None)
            self.requests.put(None)

    def handle_line(self, line: bytes) -> None:
        """Parse one request line, answering a bad one with an error line."""
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self.writer.error(f"a request line is not UTF-8 JSON: {exc}")
            return
        except RecursionError:
            self.writer.error("a request line is nested too deeply to be a request.")
            return
        if not isinstance(request, dict):
            self.writer.error("a request must be a JSON object with a 'type'.")
            return
        request_id = request.get("id")
        kind = request.get("type")
        try:
            if kind == "generate":
                self.enqueue(parse_generate(request, self.chat.target.config.prediction))
            elif kind == "stop":
                self.stop(request_id)
            else:
                raise ConfigError(f"unknown request type {kind!r}: expected 'generate' or 'stop'.")
        except ConfigError as exc:
            self.writer.error(str(exc), request_id if plain_id(request_id) else None)

    def enqueue(self, request: ChatRequest) -> None:
        with self.lock:
            if request.id in self.pending:
                raise ConfigError(f"a request with id {request.id!r} is still being answered.")
            self.pending[request.id] = request
        self.requests.put(request)

    def stop(self, request_id: Any) -> None:
        """End generation ``request_id`` (every pending one when it is missing); unknown ids are ignored."""
        with self.lock:
            if request_id is None:
                targets = list(self.pending.values())
            else:
                found = self.pending.get(request_id) if plain_id(request_id) else None
                targets = [found] if found is not None else []
        for request in targets:
            request.stop_event.set()

    def answer(self, request: ChatRequest) -> None:
        """Stream the answer as delta lines, then a done line."""
        self.counter.steps = 0
        started = time.monotonic()
        parts = []
        for delta in self.chat.reply(request):
            parts.append(delta)
            self.writer.send({"type": "delta", "id": request.id, "text": delta})
        self.writer.send(
            {
                "type": "done",
                "id": request.id,
                "text": "".join(parts),
                "tokens": self.counter.steps,
                "seconds": round(time.monotonic() - started, 3),
                "stopped": request.stop_event.is_set(),
            }
        )


def run_chat(workdir_root: Path, spec: str) -> int:
    """Load ``spec`` and serve chat requests; exits 0 when stdin ends, 1 when the model cannot be loaded."""
    from studio_desktop.worker.train import worker_environment

    writer = ProtocolWriter(claim_stdout())

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        writer.send({"type": "log", "message": message})

    try:
        worker_environment()
        workdir = open_workdir(workdir_root)
        target = resolve_chat_target(spec, workdir, Catalog(workdir.catalog_path))
        chat = load_chat_model(target, workdir, log)
    except StudioError as exc:
        writer.error(str(exc), with_id=False)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # the details go to the log (stderr)
        traceback.print_exc()
        writer.error(f"Cannot load {spec!r}: unexpected {type(exc).__name__}: {exc}", with_id=False)
        return EXIT_FAILED
    server = ChatServer(chat, writer)
    writer.send(
        {
            "type": "ready",
            "model": target.name,
            "device": chat.device,
            "kind": target.kind,
            "task": chat.task,
            "settings": generation_defaults(target.config.prediction) if chat.head is None else {},
        }
    )
    try:
        return server.serve(sys.stdin.buffer)
    except BrokenPipeError:  # the client has gone: nobody is left to answer
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
