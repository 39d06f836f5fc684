"""The sections about where and how a run executes, not what it learns: hardware, reproducibility, logging."""

from __future__ import annotations

from dataclasses import dataclass

from studio_desktop.core.config_fields import Section, setting


@dataclass(frozen=True)
class EnvironmentSection(Section):
    """Hardware and reproducibility."""

    SECTION = "environment"
    gpus: tuple[str, ...] = setting((), "GPU indices to use; empty: every visible GPU (or the CPU if none).")
    mixed_precision: bool = setting(True, "Compute in 16-bit where safe.")
    mixed_precision_dtype: str = setting(
        "auto",
        "The 16-bit type used for mixed precision. auto: bfloat16 where native, float16 on older GPUs, "
        "none on CPUs without native bfloat16 (float32 is faster there).",
        choices=("auto", "bfloat16", "float16"),
        depends_on=("environment.mixed_precision", True),
    )
    compile_model: bool = setting(False, "Compile the model with torch.compile.", advanced=True)
    use_deepspeed: bool = setting(
        False, "Shard training over several GPUs with DeepSpeed.", advanced=True, applied=False
    )
    deepspeed_method: str = setting(
        "ZeRO2",
        "DeepSpeed stage.",
        choices=("ZeRO2", "ZeRO3"),
        depends_on=("environment.use_deepspeed", True),
        advanced=True,
        applied=False,
    )
    find_unused_parameters: bool = setting(
        False, "DDP setting for models with unused branches.", advanced=True
    )
    trust_remote_code: bool = setting(
        False, "Run model code shipped with a backbone (only for sources you trust)."
    )
    huggingface_branch: str = setting("main", "Hub revision of the backbone.", advanced=True)
    number_of_workers: int = setting(
        0, "Data-loading processes (0: in the training process).", minimum=0, maximum=64
    )
    seed: int = setting(-1, "Random seed; -1 picks one and records it.", minimum=-1, maximum=2**31 - 1)


@dataclass(frozen=True)
class LoggingSection(Section):
    """How often progress is recorded."""

    SECTION = "logging"
    log_step_size: str = setting(
        "absolute",
        "The x-axis of the curves: samples seen (absolute) or share of training (relative).",
        choices=("absolute", "relative"),
        applied=False,
    )
    log_all_ranks: bool = setting(
        False, "Log from every GPU process, not only the first.", advanced=True, applied=False
    )
