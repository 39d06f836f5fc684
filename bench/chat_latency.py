"""First-token latency and tokens/s through the chat worker against a bare ``model.generate``.

The worker (``studio-desktop worker chat MODEL``) is started once; its load time (start to ``ready``) is
reported on its own. Then every prompt is answered by both: the worker from writing the ``generate`` line
to the first ``delta`` line (first token) and to the ``done`` line, the bare model from rendering the chat
prompt and calling ``generate`` with a ``TextIteratorStreamer`` to the first streamed text and to the end.
Both decode greedily and produce exactly ``--max-new-tokens`` tokens (minimum = maximum) from the same
prompt, weights dtype and device. Figures are medians over prompts and runs, after two warm-up answers
each; which of the two answers a prompt first alternates, and each answer starts after ``--gap`` idle
seconds (the threads of the process that answered last keep spinning for a while, which on a machine with
few cores slows whichever answers next). ``--threads N`` sets the intra-op threads of both processes; by
default 1 on a machine with two cores or fewer (two processes with two threads each on two shared cores
measured 1 token/s with answers varying 5x, against 14 tokens/s with one thread), else torch's default.

Targets: first token at most 1.2x the bare figure, tokens/s at least 0.95x.
Default model: the bundled SmolLM2-135M, converted once from its GGUF into a cache folder (outside the
timed region); ``--model tiny`` uses the tiny random test model.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = Path(os.environ.get("STUDIO_BENCH_CACHE", Path(tempfile.gettempdir()) / "studio-desktop-bench"))
PROMPTS = [
    "What is the capital of France?",
    "Explain in two sentences what a learning rate is.",
    "Write a short poem about the sea.",
    "List three uses of a paperclip.",
]
FIRST_TOKEN_TARGET = 1.2
THROUGHPUT_TARGET = 0.95


def prepare_model(kind: str) -> tuple[Path, str, Path]:
    """(workdir, spec for the worker, model folder), converting or building the model once."""
    from studio_desktop.core.backbones import resolve_backbone
    from studio_desktop.jobs.workdir import open_workdir

    workdir = open_workdir(CACHE / "workdir")
    if kind == "tiny":
        folder = CACHE / "tiny-model"
        if not (folder / "config.json").is_file():
            from tests.support.tiny_model import build_tiny_model

            build_tiny_model(folder)
        return workdir.root, str(folder), folder
    return workdir.root, "bundled", resolve_backbone("bundled", workdir.models).folder


class Worker:
    """The chat worker with its stdout lines timestamped as they arrive.

    The reader thread notes when each request's first non-empty delta arrives and passes on every other
    line, so that the waiting thread is not woken once per token (on a 2-core machine each extra wake-up
    takes time from the worker).
    """

    def __init__(self, workdir: Path, spec: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "studio_desktop", "--workdir", str(workdir), "worker", "chat", spec]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        self.lines: queue.Queue[tuple[float, dict[str, Any]] | None] = queue.Queue()
        self.first_delta: dict[Any, float] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            when, message = time.perf_counter(), json.loads(line)
            if message["type"] == "delta":
                if message["text"]:
                    self.first_delta.setdefault(message["id"], when)
                continue
            self.lines.put((when, message))
        self.lines.put(None)

    def receive(self) -> tuple[float, dict[str, Any]]:
        item = self.lines.get(timeout=600)
        if item is None:
            raise RuntimeError(f"the chat worker ended (exit code {self.process.wait()})")
        if item[1]["type"] == "error":
            raise RuntimeError(f"the chat worker answered an error: {item[1]['message']}")
        return item

    def wait_ready(self) -> tuple[float, dict[str, Any]]:
        while True:
            when, message = self.receive()
            if message["type"] == "ready":
                return when - self.started, message

    def answer(self, request_id: int, prompt: str, tokens: int) -> tuple[float, float, int, str]:
        """(seconds to the first delta, seconds to done, tokens generated, answer)."""
        settings = {
            "max_length_inference": tokens,
            "min_length_inference": tokens,
            "do_sample": False,
            "num_beams": 1,
            "repetition_penalty": 1.0,
            "stop_tokens": "",
        }
        request = {"type": "generate", "id": request_id, "messages": [{"role": "user", "content": prompt}]}
        line = json.dumps({**request, "settings": settings}).encode("utf-8") + b"\n"
        start = time.perf_counter()
        self.process.stdin.write(line)  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        while True:
            when, message = self.receive()
            if message["type"] == "done":
                seconds = when - start
                first = self.first_delta.get(request_id, when) - start
                return first, seconds, int(message["tokens"]), message["text"]

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Bare:
    """The same model and prompt through transformers alone."""

    def __init__(self, folder: Path, dtype: str, device: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=getattr(torch, dtype))
        self.model = model.to(device).eval()
        self.device = device

    def answer(self, prompt: str, tokens: int) -> tuple[float, float, int, str]:
        from transformers import TextIteratorStreamer

        start = time.perf_counter()
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        encoded = self.tokenizer(text, add_special_tokens=False, return_tensors="pt").to(self.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        pad = self.tokenizer.pad_token_id
        kwargs = dict(
            **encoded,
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            do_sample=False,
            num_beams=1,
            streamer=streamer,
            pad_token_id=pad if pad is not None else self.tokenizer.eos_token_id,
        )
        output: list[Any] = []

        def work() -> None:
            with self.torch.inference_mode():
                output.append(self.model.generate(**kwargs))

        thread = threading.Thread(target=work)
        thread.start()
        first = None
        chunks = []
        for chunk in streamer:
            if chunk and first is None:
                first = time.perf_counter() - start
            chunks.append(chunk)
        thread.join()
        total = time.perf_counter() - start
        generated = output[0].shape[1] - encoded["input_ids"].shape[1]
        return (first if first is not None else total), total, int(generated), "".join(chunks)


def inference_dtype(device: str) -> str:
    """The weights dtype the chat worker uses for a backbone with the default config."""
    from studio_desktop.core.config import default_config
    from studio_desktop.core.precision import inference_weights
    from studio_desktop.core.torch_devices import device_facts

    return inference_weights(default_config(), device_facts(device))


Answer = tuple[float, float, int, str]  # seconds to the first text, seconds in all, tokens, text


def measure(worker: Worker, bare: Bare, runs: int, tokens: int, gap: float) -> dict[str, list[Answer]]:
    """Every prompt ``runs`` times by both, after two warm-up answers each."""
    for warm_up in range(2):  # the first answers of a process are slower
        worker.answer(-1 - warm_up, PROMPTS[warm_up], tokens)
        bare.answer(PROMPTS[warm_up], tokens)
    results: dict[str, list[Answer]] = {"bare": [], "worker": []}
    request_id = 1
    for _ in range(runs):
        for prompt in PROMPTS:
            answerers = {
                "bare": lambda prompt=prompt: bare.answer(prompt, tokens),
                "worker": lambda prompt=prompt, i=request_id: worker.answer(i, prompt, tokens),
            }
            order = ("bare", "worker") if request_id % 2 else ("worker", "bare")
            for name in order:  # who goes first alternates
                time.sleep(gap)
                results[name].append(answerers[name]())
            timings = [f"{name} {rows[-1][0]:.3f}/{rows[-1][1]:.3f} s" for name, rows in results.items()]
            print(f"answer {request_id}: first/total " + ", ".join(timings), file=sys.stderr)
            request_id += 1
    return results


def report(results: dict[str, list[Answer]], load_seconds: float, title: str) -> None:
    first = {name: statistics.median(r[0] for r in rows) for name, rows in results.items()}
    rate = {name: statistics.median(r[2] / r[1] for r in rows) for name, rows in results.items()}
    first_ratio = first["worker"] / first["bare"]
    rate_ratio = rate["worker"] / rate["bare"]
    answers = len(results["bare"])
    same = sum(b[3].strip() == w[3].strip() for b, w in zip(results["bare"], results["worker"], strict=True))
    print(title)
    print(f"  the worker's answer is the bare answer in {same} of {answers}")
    print(f"  worker load (start to ready)   {load_seconds:8.2f} s")
    print(f"  first token  bare {first['bare'] * 1000:8.1f} ms   worker {first['worker'] * 1000:8.1f} ms")
    verdict = "met" if first_ratio <= FIRST_TOKEN_TARGET else "NOT met"
    print(f"  first-token ratio {first_ratio:.2f}x  (target <= {FIRST_TOKEN_TARGET}x: {verdict})")
    print(f"  tokens/s     bare {rate['bare']:8.1f}      worker {rate['worker']:8.1f}")
    verdict = "met" if rate_ratio >= THROUGHPUT_TARGET else "NOT met"
    print(f"  tokens/s ratio {rate_ratio:.2f}x  (target >= {THROUGHPUT_TARGET}x: {verdict})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=("bundled", "tiny"), default="bundled")
    parser.add_argument("--runs", type=int, default=None, help="answers per prompt (after the warm-up)")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--gap", type=float, default=0.5, help="idle seconds before each answer")
    parser.add_argument(
        "--threads", type=int, default=None, help="intra-op threads of both processes (default: see above)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs and tokens")
    args, _unknown = parser.parse_known_args()
    runs = args.runs or (1 if args.quick else 2)
    tokens = args.max_new_tokens or (16 if args.quick else 32)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # as the worker sets it
    threads = args.threads or (1 if (os.cpu_count() or 1) <= 2 else None)
    if threads:  # before torch is imported here; the worker inherits it
        os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    workdir, spec, folder = prepare_model(args.model)
    worker = Worker(workdir, spec)
    try:
        load_seconds, ready = worker.wait_ready()
        device = ready["device"]
        dtype = inference_dtype(device)
        results = measure(worker, Bare(folder, dtype, device), runs, tokens, args.gap)
    finally:
        worker.close()
    threads_text = os.environ.get("OMP_NUM_THREADS", "torch's default")
    title = (
        f"chat_latency: {args.model} model ({folder.name}), {device}, {dtype} weights, "
        f"threads {threads_text}\n"
        f"  {len(results['bare'])} answers each ({len(PROMPTS)} prompts x {runs} runs), "
        f"{tokens} new tokens, greedy"
    )
    report(results, load_seconds, title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
