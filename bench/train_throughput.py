"""LoRA training throughput: Studio Desktop's worker against the plain Trainer + PEFT script.

Both train the same backbone on the same length-varied data (demo questions with answers of 20-512 tokens),
with the same LoRA settings, learning rate, schedule, seed, batch size and number of optimizer steps, each in
its own process. The baseline is the script the Hugging Face docs teach: a chat-templated dataset with the
prompt masked, ``DataCollatorForSeq2Seq`` padding each batch to its longest sample, ``Trainer`` in the
precision that is fastest on this CPU (``bf16=True`` autocast where bfloat16 is native, float32 elsewhere).
The candidate is ``studio-desktop worker train`` on an experiment with the same settings and the product's
defaults for the rest (precision ``auto``).

Printed: useful (non-padding) tokens per second while training (first step to last, the same clock in both),
peak resident memory of each process, final validation loss of each, and the ratios with their targets.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = ROOT / "bench" / ".cache"
DEMO_CSV = ROOT / "resources" / "demo" / "studio_desktop_qa.csv"
SEED = 42
LORA = {"r": 16, "alpha": 32, "dropout": 0.05}
LEARNING_RATE = 1e-3
MAX_LENGTH = 512
TARGET_SPEEDUP = 1.5
TARGET_LOSS_GAP = 0.02
TARGET_RSS = 1.0


def write_data(folder: Path, train_rows: int, validation_rows: int, tokenizer: Any) -> None:
    """train.csv and validation.csv: demo questions whose answers chain demo answers to 20-512 tokens."""
    with DEMO_CSV.open(encoding="utf-8") as handle:
        pairs = [(row["prompt"], row["answer"]) for row in csv.DictReader(handle)]
    rng = random.Random(SEED)
    for name, rows in (("train.csv", train_rows), ("validation.csv", validation_rows)):
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["prompt", "answer"])
            for _ in range(rows):
                prompt, answer = rng.choice(pairs)
                budget = rng.randint(20, MAX_LENGTH - 60)  # the chat template adds about 40 tokens
                while len(tokenizer(answer)["input_ids"]) < budget:
                    answer += " " + rng.choice(pairs)[1]
                ids = tokenizer(answer)["input_ids"][:budget]
                writer.writerow([prompt, tokenizer.decode(ids).strip()])


def model_folder(model: str) -> Path:
    """The backbone folder: the bundled SmolLM2 converted once into the cache, or a fresh tiny model."""
    if model == "tiny":
        from tests.support.tiny_model import build_tiny_model

        return build_tiny_model(CACHE / "tiny")
    from studio_desktop.core.backbones import resolve_backbone

    return resolve_backbone("bundled", CACHE / "models").folder


def run_measured(command: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float]:
    """Run ``command``; its exit code, wall seconds and peak resident memory in MiB (from wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - start, usage.ru_maxrss / 1024


def measure_baseline(script: str, job: dict[str, Any], folder: Path) -> tuple[dict, float, float] | None:
    """Run ``script --baseline-job`` on ``job`` in its own process: its result, wall seconds, peak RSS."""
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
    code, wall, rss = run_measured([sys.executable, script, "--baseline-job", str(folder / "job.json")])
    if code:
        print("the baseline run failed", file=sys.stderr)
        return None
    return json.loads(Path(job["result"]).read_text(encoding="utf-8")), wall, rss


def measure_candidate(workdir: Path, experiment: Path) -> tuple[float, float] | None:
    """Run ``studio-desktop worker train`` on ``experiment``: wall seconds and peak RSS, or None."""
    command = [sys.executable, "-m", "studio_desktop", "--workdir", str(workdir), "worker", "train"]
    code, wall, rss = run_measured([*command, str(experiment)])
    if code:
        print(f"the candidate run failed (exit {code})", file=sys.stderr)
        return None
    return wall, rss


# -- the baseline: a plain Trainer + PEFT script --------------------------------------------------------


def baseline(job: dict[str, Any]) -> None:
    """Train as the Hugging Face docs do and write the measured figures to ``job["result"]``."""
    import pandas as pd
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(job["model"])

    def encode(row: dict[str, str]) -> dict[str, list[int]]:
        prompt = [{"role": "user", "content": row["prompt"]}]
        full = [*prompt, {"role": "assistant", "content": row["answer"]}]
        prompt_text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        full_text = tokenizer.apply_chat_template(full, tokenize=False)
        prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        ids = tokenizer(full_text, add_special_tokens=False)["input_ids"][:MAX_LENGTH]
        return {"input_ids": ids, "labels": [-100] * len(prompt_ids) + ids[len(prompt_ids) :]}

    def load(name: str) -> Dataset:
        frame = pd.read_csv(Path(job["data"]) / name, keep_default_na=False)
        return Dataset.from_pandas(frame).map(encode, remove_columns=list(frame.columns))

    train, validation = load("train.csv"), load("validation.csv")
    model = AutoModelForCausalLM.from_pretrained(job["model"])
    model = get_peft_model(
        model,
        LoraConfig(
            r=LORA["r"],
            lora_alpha=LORA["alpha"],
            lora_dropout=LORA["dropout"],
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )

    class Clock(TrainerCallback):
        """Non-padding tokens and seconds from the first step's start to the last step's end."""

        start: tuple[float, int] | None = None
        rate = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.start is None:
                self.start = (time.monotonic(), state.num_input_tokens_seen)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            started, tokens = self.start
            self.rate = (state.num_input_tokens_seen - tokens) / (time.monotonic() - started)

    clock = Clock()
    args = TrainingArguments(
        output_dir=job["output"],
        per_device_train_batch_size=job["batch"],
        per_device_eval_batch_size=job["batch"],
        num_train_epochs=1,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type="cosine",
        weight_decay=0.0,
        max_grad_norm=0.0,
        bf16=job["bf16"],
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=SEED,
        include_num_input_tokens_seen="non_padding",
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True),
        callbacks=[clock],
    )
    trainer.train()
    metrics = trainer.evaluate()
    Path(job["result"]).write_text(
        json.dumps({"tokens_per_second": clock.rate, "val_loss": metrics["eval_loss"]}), encoding="utf-8"
    )


# -- the candidate: Studio Desktop's worker -------------------------------------------------------------


def candidate_experiment(
    workdir_root: Path, data: Path, model: Path, batch: int, overrides: list[str]
) -> Path:
    """An experiment with the baseline's settings (then ``overrides``), ready for ``worker train``."""
    from studio_desktop.core.config import default_config
    from studio_desktop.core.config_io import apply_overrides
    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.experiment import create_experiment
    from studio_desktop.jobs.workdir import open_workdir

    workdir = open_workdir(workdir_root)
    cfg = default_config().replace(
        {
            "experiment_name": "throughput",
            "llm_backbone": str(model),
            "dataset.train_dataframe": str(data / "train.csv"),
            "dataset.validation_strategy": "custom",
            "dataset.validation_dataframe": str(data / "validation.csv"),
            "tokenizer.max_length": MAX_LENGTH,
            "architecture.gradient_checkpointing": False,  # the baseline keeps activations too
            "training.batch_size": batch,
            "training.epochs": 1,
            "training.learning_rate": LEARNING_RATE,
            "training.schedule": "Cosine",
            "training.lora": True,
            "training.lora_r": LORA["r"],
            "training.lora_alpha": LORA["alpha"],
            "training.lora_dropout": LORA["dropout"],
            "training.drop_last_batch": False,
            "training.evaluation_epochs": 1.0,
            "training.evaluate_before_training": False,
            "training.save_checkpoint": "disable",
            "prediction.max_length_inference": 8,
            "environment.seed": SEED,
        }
    )
    return create_experiment(workdir, Catalog(workdir.catalog_path), apply_overrides(cfg, overrides)).path


def candidate_figures(experiment_dir: Path) -> dict[str, float]:
    """Tokens per second of the last progress event and the final validation loss."""
    from studio_desktop.core.events import Finished, Progress
    from studio_desktop.jobs.experiment import Experiment

    events = Experiment(experiment_dir).events()
    progress = [event for event in events if isinstance(event, Progress)]
    finished = [event for event in events if isinstance(event, Finished)]
    if not progress or not finished:
        raise SystemExit(f"the candidate run did not finish; see {experiment_dir / 'worker.log'}")
    return {"tokens_per_second": progress[-1].tokens_per_second, "val_loss": finished[-1].metrics["val/loss"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("bundled", "tiny"), default="bundled")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps of each run")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="tiny model, 20 steps")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="candidate config override, e.g. training.padding_free=false for padded batches",
    )
    parser.add_argument("--baseline-job", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.baseline_job:
        baseline(json.loads(Path(args.baseline_job).read_text(encoding="utf-8")))
        return 0
    if args.quick:
        args.model, args.steps = "tiny", 20

    from transformers import AutoTokenizer

    from studio_desktop.core.hardware import cpu_facts

    CACHE.mkdir(parents=True, exist_ok=True)
    model = model_folder(args.model)
    cpu = cpu_facts()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_data(tmp_path, args.steps * args.batch, 8 * args.batch, AutoTokenizer.from_pretrained(model))
        job = {
            "model": str(model),
            "data": tmp,
            "batch": args.batch,
            "bf16": cpu.native_bf16,
            "output": str(tmp_path / "baseline"),
            "result": str(tmp_path / "baseline.json"),
        }
        measured = measure_baseline(__file__, job, tmp_path)
        if measured is None:
            return 1
        base, base_wall, base_rss = measured
        experiment = candidate_experiment(tmp_path / "workdir", tmp_path, model, args.batch, args.set)
        ran = measure_candidate(tmp_path / "workdir", experiment)
        if ran is None:
            return 1
        cand_wall, cand_rss = ran
        cand = candidate_figures(experiment)

    speedup = cand["tokens_per_second"] / base["tokens_per_second"]
    gap = abs(cand["val_loss"] - base["val_loss"]) / base["val_loss"]
    rss = cand_rss / base_rss

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    settings = f" (candidate with {', '.join(args.set)})" if args.set else ""
    print(f"train_throughput: {args.model} backbone, {args.steps} steps of {args.batch}{settings}")
    baseline_precision = "bf16 autocast" if cpu.native_bf16 else "float32"
    print(f"  CPU {cpu.describe()}; baseline precision: {baseline_precision}")
    print("                              useful tok/s   val loss   peak RSS   wall")
    for name, figures, rss_mib, wall in (
        ("baseline Trainer + PEFT", base, base_rss, base_wall),
        ("Studio Desktop worker", cand, cand_rss, cand_wall),
    ):
        print(
            f"  {name:26} {figures['tokens_per_second']:12.1f} {figures['val_loss']:10.4f}"
            f" {rss_mib:7.0f} MiB {wall:6.1f} s"
        )
    fast = verdict(speedup >= TARGET_SPEEDUP)
    print(f"  speed ratio {speedup:.2f}x  (target >= {TARGET_SPEEDUP}x: {fast})")
    print(f"  val loss gap {gap:.1%}  (target <= {TARGET_LOSS_GAP:.0%}: {verdict(gap <= TARGET_LOSS_GAP)})")
    print(f"  peak RSS ratio {rss:.2f}x  (target <= {TARGET_RSS}x: {verdict(rss <= TARGET_RSS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
