"""DPO throughput: Studio Desktop's worker against the plain TRL DPOTrainer + PEFT script.

Both train the same backbone on the same preference pairs (the preference set about the app, drawn with a
fixed seed) with the same LoRA settings, beta, learning rate, schedule, seed, batch size and number of
optimizer steps, each in its own process. The baseline is the script TRL's docs teach: a conversational
prompt/chosen/rejected dataset, ``DPOConfig`` and ``DPOTrainer`` over a PEFT model (its reference is the
backbone with the adapter disabled), mixed precision as fast as this CPU allows (bf16 autocast where it is
native, float32 elsewhere). The candidate is ``studio-desktop worker train`` on a ``text_dpo_modeling``
experiment with the product defaults for the rest.

Printed: the CPU, preference pairs per second while training (first step's end to the last's, the same
clock in both; the pairs are the same, so the ratio is the tokens/s ratio), peak resident memory, final
validation loss, and the ratios with their targets.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.train_throughput import (  # noqa: E402
    CACHE,
    LORA,
    SEED,
    measure_baseline,
    measure_candidate,
    model_folder,
)

PAIRS_CSV = ROOT / "resources" / "demo" / "studio_desktop_preferences.csv"
BETA = 0.2
LEARNING_RATE = 5e-4
MAX_LENGTH = 256
TARGET_SPEEDUP = 1.0
TARGET_RSS = 1.0


def write_pairs(folder: Path, train_rows: int, validation_rows: int) -> None:
    """train.csv and validation.csv of prompt/chosen/rejected rows drawn from the preference set."""
    with PAIRS_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(SEED)
    for name, count in (("train.csv", train_rows), ("validation.csv", validation_rows)):
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["prompt", "chosen", "rejected"])
            writer.writeheader()
            writer.writerows(rng.choice(rows) for _ in range(count))


def baseline(job: dict[str, Any]) -> None:
    """Train as TRL's docs do and write the measured figures to ``job["result"]``."""
    import pandas as pd
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(job["model"])

    def load(name: str) -> Dataset:
        frame = pd.read_csv(Path(job["data"]) / name, keep_default_na=False)
        return Dataset.from_dict(
            {
                "prompt": [[{"role": "user", "content": text}] for text in frame["prompt"]],
                "chosen": [[{"role": "assistant", "content": text}] for text in frame["chosen"]],
                "rejected": [[{"role": "assistant", "content": text}] for text in frame["rejected"]],
            }
        )

    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype="bfloat16" if job["bf16"] else "float32")
    config = LoraConfig(
        r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)

    class Clock(TrainerCallback):
        """Pairs per second from the first step's end to the last step's end."""

        first: tuple[float, int] | None = None
        rate = 0.0

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            now = time.monotonic()
            if self.first is None:
                self.first = (now, state.global_step)
                return
            started, step = self.first
            self.rate = (state.global_step - step) * job["batch"] / (now - started)

    clock = Clock()
    args = DPOConfig(
        output_dir=job["output"],
        per_device_train_batch_size=job["batch"],
        per_device_eval_batch_size=job["batch"],
        num_train_epochs=1,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type="cosine",
        beta=BETA,
        max_length=MAX_LENGTH,
        bf16=job["bf16"],
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=SEED,
        gradient_checkpointing=False,
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=load("train.csv"),
        eval_dataset=load("validation.csv"),
        processing_class=tokenizer,
        callbacks=[clock],
    )
    trainer.train()
    metrics = trainer.evaluate()
    result = {"pairs_per_second": clock.rate, "val_loss": metrics["eval_loss"]}
    Path(job["result"]).write_text(json.dumps(result), encoding="utf-8")


def candidate_experiment(workdir_root: Path, data: Path, model: Path, batch: int) -> Path:
    """A text_dpo_modeling experiment with the baseline's settings and the product defaults otherwise."""
    from studio_desktop.core.config import default_config
    from studio_desktop.core.problem_types import DPO
    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
    from studio_desktop.jobs.experiment import create_experiment
    from studio_desktop.jobs.workdir import open_workdir

    workdir = open_workdir(workdir_root)
    catalog = Catalog(workdir.catalog_path)
    for name in ("train", "validation"):
        import_dataset(
            workdir, catalog, ImportRequest(source=data / f"{name}.csv", name=name, backbone=str(model))
        )
    cfg = default_config(DPO).replace(
        {
            "experiment_name": "dpo-throughput",
            "llm_backbone": str(model),
            "dataset.train_dataframe": "train",
            "dataset.validation_strategy": "custom",
            "dataset.validation_dataframe": "validation",
            "tokenizer.max_length": MAX_LENGTH,
            "architecture.gradient_checkpointing": False,  # the baseline keeps activations too
            "training.batch_size": batch,
            "training.epochs": 1,
            "training.learning_rate": LEARNING_RATE,
            "training.beta": BETA,
            "training.gradient_clip": 1.0,  # the baseline's (TrainingArguments') default
            "training.schedule": "Cosine",
            "training.lora_r": LORA["r"],
            "training.lora_alpha": LORA["alpha"],
            "training.lora_dropout": LORA["dropout"],
            "training.drop_last_batch": False,
            "training.evaluation_epochs": 1.0,
            "training.save_checkpoint": "disable",
            "prediction.max_length_inference": 8,
            "environment.seed": SEED,
        }
    )
    return create_experiment(workdir, catalog, cfg).path


def candidate_figures(experiment_dir: Path, batch: int) -> dict[str, float]:
    """Pairs per second between the first and the last progress event, and the final validation loss."""
    from studio_desktop.core.events import Finished, Progress
    from studio_desktop.jobs.experiment import Experiment

    events = Experiment(experiment_dir).events()
    progress = [event for event in events if isinstance(event, Progress)]
    finished = [event for event in events if isinstance(event, Finished)]
    if len(progress) < 2 or not finished:
        raise SystemExit(f"the candidate run did not finish; see {experiment_dir / 'worker.log'}")
    first, last = progress[0], progress[-1]
    rate = (last.step - first.step) * batch / (last.time - first.time)
    return {"pairs_per_second": rate, "val_loss": finished[-1].metrics["val/loss"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("bundled", "tiny"), default="bundled")
    parser.add_argument("--steps", type=int, default=16, help="optimizer steps of each run")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="tiny model, 10 steps")
    parser.add_argument("--baseline-job", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.baseline_job:
        baseline(json.loads(Path(args.baseline_job).read_text(encoding="utf-8")))
        return 0
    if args.quick:
        args.model, args.steps = "tiny", 10

    from studio_desktop.core.hardware import cpu_facts

    CACHE.mkdir(parents=True, exist_ok=True)
    model = model_folder(args.model)
    cpu = cpu_facts()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_pairs(tmp_path, args.steps * args.batch, 4 * args.batch)
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
        experiment = candidate_experiment(tmp_path / "workdir", tmp_path, model, args.batch)
        ran = measure_candidate(tmp_path / "workdir", experiment)
        if ran is None:
            return 1
        cand_wall, cand_rss = ran
        cand = candidate_figures(experiment, args.batch)

    speedup = cand["pairs_per_second"] / base["pairs_per_second"]
    rss = cand_rss / base_rss

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    precision = "bf16 autocast" if cpu.native_bf16 else "float32"
    print(f"dpo_throughput: {args.model} backbone, {args.steps} steps of {args.batch} pairs")
    print(f"  CPU {cpu.describe()}; baseline precision: {precision}")
    print("                              pairs/s   val loss   peak RSS   wall")
    for name, figures, rss_mib, wall in (
        ("baseline TRL DPOTrainer", base, base_rss, base_wall),
        ("Studio Desktop worker", cand, cand_rss, cand_wall),
    ):
        print(
            f"  {name:26} {figures['pairs_per_second']:8.2f} {figures['val_loss']:10.4f}"
            f" {rss_mib:7.0f} MiB {wall:6.1f} s"
        )
    print(
        f"  speed ratio {speedup:.2f}x  (target >= {TARGET_SPEEDUP}x: {verdict(speedup >= TARGET_SPEEDUP)})"
    )
    print(f"  peak RSS ratio {rss:.2f}x  (target <= {TARGET_RSS}x: {verdict(rss <= TARGET_RSS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
