"""The config sections: frozen dataclasses with H2O LLM Studio's cfg.yaml section and field names."""

from __future__ import annotations

from dataclasses import dataclass

from studio_desktop.core.config_environment import EnvironmentSection, LoggingSection
from studio_desktop.core.config_fields import Section, setting
from studio_desktop.core.problem_types import (
    CAUSAL_LM,
    CLASSIFICATION,
    DPO,
    GENERATIVE,
    GRPO,
    LOSSES,
    METRICS,
    PRETRAINING,
    PROBLEM_TYPES,
    all_choices,
)
from studio_desktop.core.training.rewards import DEFAULT_CUSTOM_CODE

SFT_ONLY = (CAUSAL_LM,)
#: The problem types that read prompts and answers (continued pretraining reads raw text).
CONVERSATIONAL = tuple(pt for pt in PROBLEM_TYPES if pt != PRETRAINING)


@dataclass(frozen=True)
class DatasetSection(Section):
    """Which data to train on and how conversations become training text."""

    SECTION = "dataset"
    train_dataframe: str = setting("", "Imported dataset name, or a data file to import when the run starts.")
    validation_strategy: str = setting(
        "automatic",
        "How validation data is chosen: automatic holds out a share of the training conversations, "
        "custom uses a separate validation set.",
        choices=("automatic", "custom"),
    )
    validation_dataframe: str = setting(
        "", "Validation dataset name or file.", depends_on=("dataset.validation_strategy", "custom")
    )
    validation_size: float = setting(
        0.1,
        "Share of conversations held out for validation. A multi-turn conversation is never split.",
        minimum=0.01,
        maximum=0.95,
        depends_on=("dataset.validation_strategy", "automatic"),
    )
    data_sample: float = setting(
        1.0, "Share of the data used, for quick experiments (whole conversations).", minimum=0.01, maximum=1.0
    )
    data_sample_choice: tuple[str, ...] = setting(
        ("Train", "Validation"), "Which splits data_sample applies to.", choices=("Train", "Validation")
    )
    system_column: str | None = setting(
        None,
        "Column with the system prompt; empty: detected from the file's columns.",
        advanced=True,
        problem_types=CONVERSATIONAL,
    )
    prompt_column: tuple[str, ...] = setting(
        (),
        "Column(s) with the user prompt, joined by the separator; empty: detected.",
        advanced=True,
        problem_types=CONVERSATIONAL,
    )
    prompt_column_separator: str = setting(
        "\n\n", "Text between several prompt columns.", advanced=True, problem_types=CONVERSATIONAL
    )
    answer_column: tuple[str, ...] = setting(
        (),
        "Column with the answer (classification/regression: one column per target); empty: detected.",
        advanced=True,
        problem_types=CONVERSATIONAL,
    )
    rejected_prompt_column: str | None = setting(
        None,
        "Column with the question the rejected answer was given to, where it differs from the prompt "
        "(blank cells: the prompt). Only KTOLoss trains answers to different questions.",
        problem_types=(DPO,),
        advanced=True,
    )
    rejected_answer_column: str | None = setting(
        None, "Column with the rejected answer (preference data).", problem_types=(DPO,), advanced=True
    )
    parent_id_column: str | None = setting(
        None,
        "Column linking a turn to the previous one (multi-turn chains).",
        advanced=True,
        problem_types=CONVERSATIONAL,
    )
    id_column: str | None = setting(
        None, "Column with the row id that parent ids refer to.", advanced=True, problem_types=CONVERSATIONAL
    )
    text_column: str | None = setting(
        None,
        "Column with the raw text of a data file, one document per row; empty: detected (.txt and .md "
        "files need none).",
        problem_types=(PRETRAINING,),
        advanced=True,
    )
    use_chat_template: bool = setting(
        True,
        "Format conversations with the backbone's chat template; off: use the text markers below.",
        problem_types=CONVERSATIONAL,
    )
    text_system_start: str = setting(
        "<|system|>",
        "Marker before the system prompt.",
        depends_on=("dataset.use_chat_template", False),
        problem_types=CONVERSATIONAL,
    )
    text_prompt_start: str = setting(
        "<|prompt|>",
        "Marker before each user turn.",
        depends_on=("dataset.use_chat_template", False),
        problem_types=CONVERSATIONAL,
    )
    text_answer_separator: str = setting(
        "<|answer|>",
        "Marker after each user turn: the cue to answer.",
        depends_on=("dataset.use_chat_template", False),
        problem_types=CONVERSATIONAL,
    )
    add_eos_token_to_system: bool = setting(
        True, "End the system prompt with the end-of-sequence token.", problem_types=CONVERSATIONAL
    )
    add_eos_token_to_prompt: bool = setting(
        True, "End each prompt with the end-of-sequence token.", problem_types=CONVERSATIONAL
    )
    add_eos_token_to_answer: bool = setting(
        True,
        "End each answer with the end-of-sequence token so the model learns to stop.",
        problem_types=SFT_ONLY,
    )
    limit_chained_samples: bool = setting(
        False, "One sample per complete conversation instead of one per turn.", problem_types=SFT_ONLY
    )
    mask_prompt_labels: bool = setting(
        True,
        "Train on the answers only: system and prompt tokens are left out of the loss.",
        problem_types=SFT_ONLY,
    )
    only_last_answer: bool = setting(
        False, "In multi-turn conversations, train on the final answer only.", problem_types=SFT_ONLY
    )
    num_classes: int = setting(
        1, "Number of classes (1 for binary).", minimum=1, maximum=100, problem_types=(CLASSIFICATION,)
    )


@dataclass(frozen=True)
class TokenizerSection(Section):
    """How text becomes tokens."""

    SECTION = "tokenizer"
    max_length: int = setting(
        512,
        "Longest sample in tokens; longer samples are truncated "
        "(prompt from the left, answer from the right).",
        minimum=32,
        maximum=131072,
    )
    add_prompt_answer_tokens: bool = setting(
        False, "Add the text markers as new tokens (resizes the embeddings).", advanced=True, applied=False
    )
    padding_quantile: float = setting(
        1.0,
        "Trim each training batch to this quantile of its sample lengths; longer samples lose their "
        "oldest tokens (0 or 1: no trimming).",
        minimum=0.0,
        maximum=1.0,
        problem_types=SFT_ONLY,
    )
    tokenizer_kwargs: str = setting(
        '{"use_fast": true, "add_prefix_space": false}',
        "Extra tokenizer arguments as JSON.",
        advanced=True,
        applied=False,
    )


@dataclass(frozen=True)
class ArchitectureSection(Section):
    """How the backbone is loaded."""

    SECTION = "architecture"
    backbone_dtype: str = setting(
        "auto",
        "Weight precision. auto: bfloat16 where the device computes it natively, float16 on older GPUs, "
        "float32 on other CPUs. int4 with LoRA is QLoRA (bitsandbytes): the least memory.",
        choices=("auto", "float32", "bfloat16", "float16", "int8", "int4"),
    )
    gradient_checkpointing: str = setting(
        "auto",
        "Recompute activations in the backward pass: much less memory, about a third slower. auto: on only "
        "when the memory estimate says the run would not fit comfortably without it.",
        choices=("auto", "true", "false"),
    )
    intermediate_dropout: float = setting(
        0.0, "Dropout inside the backbone during training.", minimum=0.0, maximum=0.5, advanced=True
    )
    pretrained_weights: str = setting(
        "", "Start from these weights: a finished experiment's name or a checkpoint folder.", advanced=True
    )


@dataclass(frozen=True)
class TrainingSection(Section):
    """The optimisation loop."""

    SECTION = "training"
    loss_function: str = setting(
        "TokenAveragedCrossEntropy",
        "Loss to minimise, per problem type. TokenAveragedCrossEntropy: every trained token weighs the same; "
        "SampleAveragedCrossEntropy: every sample does, so short answers count as much as long ones.",
        choices=all_choices(LOSSES),
    )
    optimizer: str = setting(
        "AdamW",
        "Optimizer. AdamW8bit needs less memory.",
        choices=("AdamW", "AdamW8bit", "Adam", "SGD", "RMSprop", "Adadelta"),
    )
    learning_rate: float = setting(1e-4, "Step size of the optimizer.", minimum=1e-9, maximum=1.0)
    differential_learning_rate_layers: tuple[str, ...] = setting(
        (), "Layers (name parts) trained with the differential learning rate.", advanced=True
    )
    differential_learning_rate: float = setting(
        1e-5, "Learning rate for those layers.", minimum=1e-9, maximum=1.0, advanced=True
    )
    freeze_layers: tuple[str, ...] = setting(
        (),
        "Layers (name parts) kept frozen in full fine-tuning.",
        depends_on=("training.lora", False),
        advanced=True,
    )
    attention_implementation: str = setting(
        "auto",
        "Attention kernel; auto picks the fastest available.",
        choices=("auto", "eager", "sdpa", "flash_attention_2"),
    )
    batch_size: int = setting(2, "Samples per step on each device.", minimum=1, maximum=1024)
    padding_free: bool = setting(
        True,
        "Batches without padding, loss only on trained tokens (padded if a model needs it).",
        advanced=True,
        problem_types=SFT_ONLY,
    )
    drop_last_batch: bool = setting(True, "Skip an incomplete last batch.", advanced=True)
    epochs: int = setting(1, "Passes over the training data; 0 only evaluates.", minimum=0, maximum=1000)
    schedule: str = setting(
        "Cosine", "Learning-rate schedule after warm-up.", choices=("Cosine", "Linear", "Constant")
    )
    min_learning_rate_ratio: float = setting(
        0.0, "Floor of the schedule as a share of the learning rate.", minimum=0.0, maximum=1.0, advanced=True
    )
    warmup_epochs: float = setting(
        0.0, "Epochs of linear warm-up (fractions allowed).", minimum=0.0, maximum=100.0
    )
    weight_decay: float = setting(0.0, "Weight decay of the optimizer.", minimum=0.0, maximum=10.0)
    gradient_clip: float = setting(
        0.0, "Clip the gradient norm to this value (0: off).", minimum=0.0, maximum=1000.0
    )
    grad_accumulation: int = setting(
        1,
        "Steps whose gradients add up before an update: effective batch = batch_size × this.",
        minimum=1,
        maximum=1024,
    )
    lora: bool = setting(True, "Train small LoRA adapters instead of every weight.")
    use_dora: bool = setting(False, "Weight-decomposed LoRA (DoRA).", depends_on=("training.lora", True))
    lora_r: int = setting(
        8,
        "LoRA rank: adapter capacity; higher uses more memory.",
        minimum=1,
        maximum=1024,
        depends_on=("training.lora", True),
    )
    lora_alpha: int = setting(
        16,
        "LoRA scaling: the update is scaled by alpha / r.",
        minimum=1,
        maximum=4096,
        depends_on=("training.lora", True),
    )
    lora_dropout: float = setting(
        0.05, "Dropout on the LoRA input.", minimum=0.0, maximum=0.9, depends_on=("training.lora", True)
    )
    use_rslora: bool = setting(
        False, "Rank-stabilised LoRA: scale by alpha / sqrt(r).", depends_on=("training.lora", True)
    )
    lora_target_modules: str = setting(
        "",
        "Comma-separated module names to adapt; empty: every linear layer.",
        depends_on=("training.lora", True),
    )
    lora_unfreeze_layers: tuple[str, ...] = setting(
        (),
        "Layers (name parts) trained fully next to the adapters.",
        depends_on=("training.lora", True),
        advanced=True,
    )
    save_checkpoint: str = setting(
        "last", "Which checkpoints to keep.", choices=("last", "best", "each_evaluation_epoch", "disable")
    )
    evaluation_epochs: float = setting(
        1.0, "Epochs between evaluations (fractions allowed).", minimum=0.01, maximum=1.0
    )
    evaluate_before_training: bool = setting(False, "Evaluate once before the first step.")
    train_validation_data: bool = setting(False, "Also train on the validation set.", advanced=True)
    beta: float = setting(
        0.2,
        "Preference optimisation: strength of the preference, how far the tuned model may move from the "
        "reference (ORPO: weight of the odds-ratio term). GRPO: weight of the KL penalty toward the "
        "reference model (0: no penalty and no reference model).",
        minimum=0.0,
        maximum=10.0,
        problem_types=(DPO, GRPO),
    )
    simpo_gamma: float = setting(
        1.0,
        "SimPO target reward margin.",
        minimum=0.0,
        maximum=10.0,
        problem_types=(DPO,),
        depends_on=("training.loss_function", "SimPOLoss"),
    )
    num_generations: int = setting(
        4,
        "Completions sampled per prompt; each is rewarded relative to the others of its group. "
        "training.batch_size must be a multiple of it.",
        minimum=2,
        maximum=64,
        problem_types=(GRPO,),
    )
    max_completion_length: int = setting(
        128, "Most tokens of each sampled completion.", minimum=1, maximum=32768, problem_types=(GRPO,)
    )
    sampling_temperature: float = setting(
        1.0,
        "Temperature of the sampled completions: higher gives more varied completions to compare.",
        minimum=0.05,
        maximum=5.0,
        problem_types=(GRPO,),
    )
    importance_sampling_level: str = setting(
        "token",
        "Importance weights per token (GRPO) or per completion (sequence: GSPO, steadier for long answers).",
        choices=("token", "sequence"),
        problem_types=(GRPO,),
    )
    reward_exact_match: float = setting(
        1.0,
        "Weight of the reward for a completion equal to the reference answer (case, spaces and outer "
        "punctuation ignored); 0: off.",
        minimum=0.0,
        maximum=100.0,
        problem_types=(GRPO,),
    )
    reward_number_match: float = setting(
        0.0,
        "Weight of the reward for a completion whose last number equals the reference answer's; 0: off.",
        minimum=0.0,
        maximum=100.0,
        problem_types=(GRPO,),
    )
    reward_format_match: float = setting(
        0.0,
        "Weight of the reward for a completion that matches reward_format_pattern; 0: off.",
        minimum=0.0,
        maximum=100.0,
        problem_types=(GRPO,),
    )
    reward_format_pattern: str = setting(
        r"^\s*<think>.*?</think>\s*\S",
        "Regular expression a well-formed completion matches (searched, . matches newlines); the default "
        "asks for <think>…</think> followed by an answer.",
        problem_types=(GRPO,),
    )
    reward_length_window: float = setting(
        0.0,
        "Weight of the reward for a completion between reward_length_min and reward_length_max characters; "
        "0: off.",
        minimum=0.0,
        maximum=100.0,
        problem_types=(GRPO,),
    )
    reward_length_min: int = setting(
        1, "Fewest characters of a completion in the length window.", minimum=0, maximum=1000000,
        problem_types=(GRPO,),
    )  # fmt: skip
    reward_length_max: int = setting(
        500, "Most characters of a completion in the length window.", minimum=1, maximum=1000000,
        problem_types=(GRPO,),
    )  # fmt: skip
    reward_custom: float = setting(
        0.0,
        "Weight of your own reward function (reward_custom_code); 0: off.",
        minimum=0.0,
        maximum=100.0,
        problem_types=(GRPO,),
    )
    reward_custom_code: str = setting(
        DEFAULT_CUSTOM_CODE,
        "Python defining reward(completion, prompt, reference) -> float. It runs only in the training "
        "process, and is tried on three training rows before the run starts.",
        problem_types=(GRPO,),
        code=True,
    )


@dataclass(frozen=True)
class AugmentationSection(Section):
    """Noise added to training samples."""

    SECTION = "augmentation"
    token_mask_probability: float = setting(
        0.0,
        "Share of input tokens replaced by the mask token (drawn anew each epoch) and left out of the loss.",
        minimum=0.0,
        maximum=0.9,
        problem_types=SFT_ONLY,
    )
    skip_parent_probability: float = setting(
        0.0,
        "Chance, each epoch, that a multi-turn sample is trained without its earlier turns.",
        minimum=0.0,
        maximum=1.0,
        problem_types=SFT_ONLY,
    )
    random_parent_probability: float = setting(
        0.0,
        "Chance, each epoch, that a sample's history is replaced by an unrelated conversation.",
        minimum=0.0,
        maximum=1.0,
        problem_types=SFT_ONLY,
    )
    neftune_noise_alpha: float = setting(
        0.0, "NEFTune embedding noise during training (0: off).", minimum=0.0, maximum=15.0
    )


@dataclass(frozen=True)
class PredictionSection(Section):
    """Validation metrics and the default generation settings for chat."""

    SECTION = "prediction"
    metric: str = setting(
        "Perplexity",
        "Main validation metric; it picks the best checkpoint. Perplexity comes from the validation loss, "
        "so answers are generated only at the last evaluation (fast); BLEU and ROUGE-L score answers "
        "generated at every evaluation. Classification: AUC, Accuracy, LogLoss; regression: MSE, MAE.",
        choices=all_choices(METRICS),
    )
    metric_gpt_model: str = setting(
        "gpt-4o-mini",
        "Judge model for the GPT metric.",
        depends_on=("prediction.metric", "GPT"),
        advanced=True,
        applied=False,
    )
    metric_gpt_template: str = setting(
        "general",
        "Judge prompt.",
        choices=("general", "rag", "mt-bench"),
        depends_on=("prediction.metric", "GPT"),
        advanced=True,
        applied=False,
    )
    min_length_inference: int = setting(
        2, "Fewest new tokens to generate.", minimum=0, maximum=4096, problem_types=GENERATIVE
    )
    max_length_inference: int = setting(
        256, "Most new tokens to generate.", minimum=1, maximum=32768, problem_types=GENERATIVE
    )
    max_time: float = setting(
        0.0,
        "Longest generation in seconds (0: no limit).",
        minimum=0.0,
        maximum=3600.0,
        problem_types=GENERATIVE,
    )
    batch_size_inference: int = setting(
        0,
        "Batch size for validation: generation, or scoring by a classification/regression head "
        "(0: the training batch size).",
        minimum=0,
        maximum=1024,
    )
    do_sample: bool = setting(
        False, "Sample tokens instead of always taking the most likely one.", problem_types=GENERATIVE
    )
    num_beams: int = setting(
        1, "Beam search width (1: greedy or sampling).", minimum=1, maximum=16, problem_types=GENERATIVE
    )
    temperature: float = setting(
        0.0, "Sampling temperature (with do_sample).", minimum=0.0, maximum=10.0, problem_types=GENERATIVE
    )
    repetition_penalty: float = setting(
        1.0, "Penalty on repeated tokens (1: none).", minimum=1.0, maximum=10.0, problem_types=GENERATIVE
    )
    stop_tokens: str = setting("", "Comma-separated texts that end the answer.", problem_types=GENERATIVE)
    top_k: int = setting(
        0,
        "Sample from the k most likely tokens (0: all).",
        minimum=0,
        maximum=100000,
        problem_types=GENERATIVE,
    )
    top_p: float = setting(
        1.0,
        "Sample from the smallest set of tokens with this total probability.",
        minimum=0.0,
        maximum=1.0,
        problem_types=GENERATIVE,
    )
    num_history: int = setting(
        4, "Earlier chat turns kept in the prompt.", minimum=0, maximum=1000, problem_types=GENERATIVE
    )


SECTIONS: dict[str, type[Section]] = {
    "dataset": DatasetSection,
    "tokenizer": TokenizerSection,
    "architecture": ArchitectureSection,
    "training": TrainingSection,
    "augmentation": AugmentationSection,
    "prediction": PredictionSection,
    "environment": EnvironmentSection,
    "logging": LoggingSection,
}
