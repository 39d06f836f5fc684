"""The problem types and the losses and metrics each one allows."""

from __future__ import annotations

CAUSAL_LM = "text_causal_language_modeling"
DPO = "text_dpo_modeling"
CLASSIFICATION = "text_causal_classification_modeling"
REGRESSION = "text_causal_regression_modeling"
GRPO = "text_grpo_modeling"
PRETRAINING = "text_causal_pretraining_modeling"
PROBLEM_TYPES = (CAUSAL_LM, PRETRAINING, DPO, CLASSIFICATION, REGRESSION, GRPO)

LOSSES = {
    CAUSAL_LM: ("TokenAveragedCrossEntropy", "SampleAveragedCrossEntropy"),
    DPO: (
        "DPOLoss",
        "DPOHingeLoss",
        "DPOIPOLoss",
        "KTOPairLoss",
        "CPOLoss",
        "SimPOLoss",
        "ORPOLoss",
        "KTOLoss",
    ),
    CLASSIFICATION: ("BinaryCrossEntropyLoss", "CrossEntropyLoss"),
    REGRESSION: ("MSELoss", "MAELoss"),
    GRPO: ("DAPOLoss", "GRPOLoss", "DrGRPOLoss", "BNPOLoss"),
    PRETRAINING: ("TokenAveragedCrossEntropy",),
}
METRICS = {
    CAUSAL_LM: ("Perplexity", "BLEU", "ROUGE-L"),
    DPO: ("Perplexity", "BLEU", "ROUGE-L"),
    CLASSIFICATION: ("AUC", "Accuracy", "LogLoss"),
    REGRESSION: ("MSE", "MAE"),
    GRPO: ("Reward",),
    PRETRAINING: ("Perplexity",),
}
GENERATIVE = (CAUSAL_LM, PRETRAINING, DPO, GRPO)
#: Problem types that train a linear head on the last prompt token (its logits are classes or values).
HEAD_TYPES = (CLASSIFICATION, REGRESSION)
#: Sequences the model runs per training sample: a preference pair runs its chosen and rejected answers.
SEQUENCES_PER_SAMPLE = {DPO: 2}
#: Preference losses without a reference model (TRL's CPO and ORPO trainers); the others need one, which a
#: full fine-tune holds as a frozen copy of the weights (LoRA switches its adapter off instead).
REFERENCE_FREE_LOSSES = ("CPOLoss", "SimPOLoss", "ORPOLoss")

#: Metrics read from the validation loss: validation answers are generated only at the last evaluation
#: (for the predictions table), not at every one.
LOSS_METRICS = ("Perplexity",)


def all_choices(table: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every value of a per-problem-type table, in order, once."""
    return tuple(dict.fromkeys(v for values in table.values() for v in values))
