"""``studio-desktop chat SPEC``: talk to a finished experiment or a backbone in the terminal.

The model runs in the same chat worker the GUI uses (``studio-desktop worker chat SPEC``), a child process
that answers JSON requests on its stdin with JSON lines on its stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from studio_desktop.core.config_sections import PredictionSection
from studio_desktop.core.errors import ConfigError, StudioError
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.chat_models import generate_request, resolve_chat_target, stop_request
from studio_desktop.jobs.launcher import app_command
from studio_desktop.jobs.workdir import open_workdir

LOG_NAME = "chat.log"
# (flag, prediction field, type, metavar); the help text comes from the field's metadata.
SETTING_FLAGS = (
    ("--max-new-tokens", "max_length_inference", int, "N"),
    ("--temperature", "temperature", float, "T"),
    ("--top-p", "top_p", float, "P"),
    ("--top-k", "top_k", int, "K"),
    ("--repetition-penalty", "repetition_penalty", float, "R"),
    ("--num-beams", "num_beams", int, "N"),
)
HELP_TEXT = "/reset clears the history, /exit (or Ctrl+D) quits, Ctrl+C stops an answer."


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``chat``."""
    chat = commands.add_parser(
        "chat",
        help="chat with a finished experiment or a backbone",
        description="Chat with the trained model of an experiment, or with a backbone (the bundled model, "
        "a registered name, a model folder, a GGUF file or a hub id). With --prompt the answer is printed "
        "and the command exits; without it, an interactive session starts: " + HELP_TEXT + " Settings "
        "not given come from the experiment's prediction settings; --temperature above 0 turns sampling on.",
    )
    chat.add_argument("spec", metavar="MODEL", help="experiment name or backbone")
    chat.add_argument("--prompt", metavar="TEXT", help="answer this one message and exit")
    chat.add_argument("--system", default="", metavar="TEXT", help="system prompt")
    helps = {info.path.split(".", 1)[1]: info.help for info in PredictionSection.field_infos()}
    for flag, name, kind, metavar in SETTING_FLAGS:
        chat.add_argument(flag, dest=name, type=kind, metavar=metavar, help=helps[name])
    chat.add_argument("--do-sample", action="store_true", default=None, help=helps["do_sample"])
    chat.add_argument(
        "--stop", dest="stop_tokens", action="extend", nargs="+", metavar="TEXT", help=helps["stop_tokens"]
    )
    chat.set_defaults(handler=run_chat)


def chat_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The prediction overrides the flags ask for, each checked against its allowed range."""
    settings: dict[str, Any] = {}
    for flag, name, *_ in (*SETTING_FLAGS, ("--do-sample", "do_sample")):
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
            _check_setting(flag, name, value)
    if args.stop_tokens:
        settings["stop_tokens"] = ",".join(args.stop_tokens)
    if settings.get("temperature", 0) > 0:
        settings.setdefault("do_sample", True)
    return settings


def _check_setting(flag: str, name: str, value: Any) -> None:
    try:
        dataclasses.replace(PredictionSection(), **{name: value})
    except ConfigError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


class ChatClient:
    """A chat worker child process and the JSON lines exchanged with it."""

    def __init__(self, workdir_root: Path, spec: str, log_path: Path) -> None:
        self.log_path = log_path
        self.next_id = 0
        group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {}
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                app_command(["worker", "chat", spec], workdir_root),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                encoding="utf-8",
                start_new_session=os.name != "nt",  # Ctrl+C in the terminal reaches this process only
                **group,  # type: ignore[arg-type]
            )

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(graceful=kind is None)

    def close(self, graceful: bool = True) -> None:
        """End the worker: closing its stdin lets it exit; it is killed when that does not happen soon."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # type: ignore[union-attr]
        if not graceful:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.process.stdin.write(json.dumps(message) + "\n")  # type: ignore[union-attr]
            self.process.stdin.flush()  # type: ignore[union-attr]
        except OSError:
            raise self._ended() from None

    def receive(self) -> dict[str, Any]:
        """The next message; a load failure or the end of the worker raises StudioError."""
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise self._ended()
        message = json.loads(line)
        if message.get("type") == "error" and "id" not in message:
            raise StudioError(message["message"])
        if message.get("type") == "log":
            print(message["message"], file=sys.stderr, flush=True)
        return message

    def _ended(self) -> StudioError:
        code = self.process.wait()
        return StudioError(f"the chat worker ended unexpectedly (exit code {code}); its log: {self.log_path}")

    def wait_ready(self) -> dict[str, Any]:
        """The ready message, once the model is loaded."""
        while (message := self.receive())["type"] != "ready":
            pass
        return message

    def ask(
        self,
        messages: list[dict[str, str]],
        system: str,
        settings: dict[str, Any],
        on_delta: Callable[[str], None],
    ) -> dict[str, Any]:
        """Stream one answer to ``on_delta``; returns the done message. Ctrl+C meanwhile stops the answer."""
        self.next_id += 1
        request_id = self.next_id
        with _interrupt_sends_stop(lambda: self.send(stop_request(request_id))):
            self.send(generate_request(request_id, messages, system, settings))
            while True:
                message = self.receive()
                if message.get("id") != request_id:
                    continue
                if message["type"] == "delta":
                    on_delta(message["text"])
                elif message["type"] == "done":
                    return message
                elif message["type"] == "error":
                    raise StudioError(message["message"])


@contextlib.contextmanager
def _interrupt_sends_stop(stop: Callable[[], None]) -> Iterator[None]:
    """While inside, SIGINT (Ctrl+C) calls ``stop`` instead of raising KeyboardInterrupt."""

    def handle(_signum: int, _frame: Any) -> None:
        print("\n(stopping)", file=sys.stderr, flush=True)
        stop()

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def write_delta(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def run_chat(args: argparse.Namespace) -> int:
    workdir = open_workdir(args.workdir)
    target = resolve_chat_target(args.spec, workdir, Catalog(workdir.catalog_path))
    settings = chat_settings(args)
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")  # model output may hold characters the terminal cannot show
    print(f"starting the chat worker for {target.name} ...", file=sys.stderr, flush=True)
    with ChatClient(workdir.root, args.spec, workdir.logs / LOG_NAME) as client:
        ready = client.wait_ready()
        if args.prompt is not None:
            done = client.ask([{"role": "user", "content": args.prompt}], args.system, settings, write_delta)
            write_delta("\n")
            return 130 if done["stopped"] else 0
        print(f"chatting with {ready['model']} on {ready['device']}. {HELP_TEXT}", file=sys.stderr)
        return chat_interactively(client, args.system, settings)


def chat_interactively(client: ChatClient, system: str, settings: dict[str, Any]) -> int:
    """Read messages from stdin until /exit or end of input; the history is kept across turns."""
    history: list[dict[str, str]] = []
    while True:
        print("you> ", end="", file=sys.stderr, flush=True)
        try:
            text = input().strip()
        except EOFError:
            print(file=sys.stderr)
            return 0
        except KeyboardInterrupt:
            print("\n(/exit or Ctrl+D quits)", file=sys.stderr)
            continue
        if text == "/exit":
            return 0
        if text == "/reset":
            history.clear()
            print("(history cleared)", file=sys.stderr)
            continue
        if not text:
            continue
        history.append({"role": "user", "content": text})
        try:
            done = client.ask(history, system, settings, write_delta)
        except StudioError as exc:
            if client.process.poll() is not None:
                raise
            history.pop()
            print(f"\nerror: {exc}", file=sys.stderr)
            continue
        write_delta("\n")
        history.append({"role": "assistant", "content": done["text"]})
