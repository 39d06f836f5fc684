"""Config schema: defaults, validation messages, YAML round trip, overrides and H2O cfg.yaml import."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from studio_desktop.core.config import (
    CAUSAL_LM,
    CLASSIFICATION,
    DPO,
    PROBLEM_TYPES,
    REGRESSION,
    ExperimentConfig,
    default_config,
    describe_fields,
)
from studio_desktop.core.config_io import (
    apply_overrides,
    config_from_dict,
    dump_config,
    load_config,
    save_config,
)
from studio_desktop.core.errors import ConfigError

H2O_CFG = Path(__file__).parents[1] / "fixtures" / "h2o_cfg.yaml"


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_defaults_are_valid_and_round_trip(problem_type: str, tmp_path: Path) -> None:
    cfg = default_config(problem_type)
    path = save_config(cfg, tmp_path / "cfg.yaml")
    loaded = load_config(path)
    assert loaded.config == cfg
    assert loaded.warnings == ()
    assert dump_config(loaded.config) == path.read_text(encoding="utf-8")


def test_problem_type_defaults_differ() -> None:
    assert default_config(DPO).training.loss_function == "DPOLoss"
    assert default_config(CLASSIFICATION).prediction.metric == "AUC"
    assert default_config(REGRESSION).training.loss_function == "MSELoss"
    assert default_config(CAUSAL_LM).training.loss_function == "TokenAveragedCrossEntropy"


def test_save_is_deterministic_and_ordered(tmp_path: Path) -> None:
    cfg = default_config().replace({"training.lora_r": 32, "dataset.prompt_column": ["a", "b"]})
    first = save_config(cfg, tmp_path / "a.yaml").read_text()
    second = save_config(load_config(tmp_path / "a.yaml").config, tmp_path / "b.yaml").read_text()
    assert first == second
    keys = [line.split(":")[0] for line in first.splitlines() if line and not line.startswith(" ")]
    assert keys[:4] == ["experiment_name", "llm_backbone", "problem_type", "output_directory"]
    assert "lora_r: 32" in first


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("training.lora_r", 0, "training.lora_r = 0 is not allowed: expected an int from 1 to 1024"),
        ("training.lora_r", 2.5, "training.lora_r = 2.5"),
        ("training.lora_r", "many", "training.lora_r = 'many'"),
        ("training.learning_rate", -1.0, "training.learning_rate = -1.0"),
        ("training.lora", "maybe", "expected a bool"),
        ("architecture.backbone_dtype", "int3", "one of: auto, float32, bfloat16, float16, int8, int4"),
        ("training.schedule", "cosine", "training.schedule = 'cosine'"),
        ("dataset.data_sample_choice", ["Train", "Test"], "a list of: Train, Validation"),
        ("tokenizer.max_length", 16, "from 32 to 131072"),
        ("problem_type", "text_seq2seq", "problem_type = 'text_seq2seq'"),
        ("training.batch_size", True, "training.batch_size = True"),
        ("dataset.prompt_column", [{"a": 1}], "dataset.prompt_column"),
        ("training.weight_decay", float("nan"), "training.weight_decay = nan is not allowed"),
        ("training.weight_decay", ".nan", "training.weight_decay = '.nan' is not allowed"),
        ("training.learning_rate", float("inf"), "training.learning_rate = inf is not allowed"),
        ("training.epochs", float("inf"), "training.epochs = inf is not allowed"),
    ],
)
def test_bad_values_name_field_value_and_allowed(path: str, value: object, expected: str) -> None:
    data = {"training": {}}
    section, _, name = path.rpartition(".")
    if section:
        data.setdefault(section, {})[name] = value
    else:
        data[name] = value
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert expected in str(err.value)


def test_values_are_coerced_from_text() -> None:
    cfg = config_from_dict(
        {
            "training": {"lora_r": "16", "learning_rate": "3e-4", "lora": "false", "epochs": 2.0},
            "dataset": {"prompt_column": "instruction,input", "system_column": "None"},
        }
    ).config
    assert cfg.training.lora_r == 16
    assert cfg.training.learning_rate == pytest.approx(3e-4)
    assert cfg.training.lora is False
    assert cfg.training.epochs == 2
    assert cfg.dataset.prompt_column == ("instruction", "input")
    assert cfg.dataset.system_column is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"training.loss_function": "DPOLoss"}, "does not fit problem_type text_causal_language_modeling"),
        ({"prediction.metric": "AUC"}, "prediction.metric = 'AUC' does not fit"),
        ({"architecture.backbone_dtype": "int4", "training.lora": False}, "needs training.lora = true"),
        ({"dataset.validation_strategy": "custom"}, "dataset.validation_dataframe is empty"),
        ({"dataset.answer_column": ["a", "b"]}, "takes a single answer column"),
    ],
)
def test_cross_section_rules(values: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        default_config().replace(values)
    assert expected in str(err.value)


def test_classification_rules() -> None:
    base = default_config(CLASSIFICATION)
    with pytest.raises(ConfigError, match=re.escape("CrossEntropyLoss' needs dataset.num_classes > 1")):
        base.replace({"training.loss_function": "CrossEntropyLoss"})
    with pytest.raises(ConfigError, match="use CrossEntropyLoss for multiclass"):
        base.replace({"dataset.num_classes": 3, "dataset.answer_column": ["label"]})
    multilabel = base.replace({"dataset.num_classes": 3})  # label columns checked against the data
    assert multilabel.dataset.num_classes == 3
    multiclass = base.replace({"training.loss_function": "CrossEntropyLoss", "dataset.num_classes": 3})
    assert multiclass.dataset.num_classes == 3
    with pytest.raises(ConfigError, match="must equal the number of answer columns"):
        base.replace({"dataset.answer_column": ["a", "b", "c"], "dataset.num_classes": 2})
    with pytest.raises(ConfigError, match="parent_id_column must be empty"):
        base.replace({"dataset.parent_id_column": "parent"})


def test_unknown_keys_warn_once_each(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("training:\n  lora_r: 4\n  fancy: 1\nextra_top: 2\nplugins: {a: 1}\n")
    loaded = load_config(path)
    assert loaded.config.training.lora_r == 4
    assert loaded.warnings == (
        "unknown setting 'training.fancy' ignored",
        "unknown setting 'extra_top' ignored",
        "unknown setting 'plugins' ignored",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("training:\n  lora_r: [1\n", "line 3"),
        ("- a\n- b\n", "must be a mapping of settings, found list"),
        ("training: 5\n", "section 'training' must be a mapping"),
        ("training:\n  lora_r: 0\n", "training.lora_r = 0"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path).config == default_config()


def test_h2o_llmstudio_cfg_loads() -> None:
    loaded = load_config(H2O_CFG)
    cfg = loaded.config
    assert cfg.llm_backbone == "h2oai/h2o-danube3-500m-base"
    assert cfg.experiment_name == "lush-caribou"
    assert cfg.dataset.prompt_column == ("instruction", "input")
    assert cfg.dataset.answer_column == ("output",)
    assert cfg.dataset.system_column is None
    assert cfg.architecture.backbone_dtype == "int4"
    assert cfg.training.lora_r == 4
    assert cfg.prediction.metric == "Perplexity"  # H2O's GPT judge is not available: said, not silent
    assert any(w.startswith("prediction.metric 'GPT' needs an LLM judge") for w in loaded.warnings)
    assert cfg.environment.gpus == ("0",)
    no_effect = {w.split("'")[1] for w in loaded.warnings if w.endswith("has no effect")}
    assert no_effect == {"output_directory", "prediction.metric_gpt_model"}
    ignored = {w.split("'")[1] for w in loaded.warnings if w.endswith("ignored")}
    assert len(loaded.warnings) == len(no_effect) + len(ignored) + 1
    assert ignored == {
        "architecture.force_embedding_gradients",
        "architecture.pretrained",
        "dataset.chatbot_author",
        "dataset.chatbot_name",
        "dataset.personalize",
        "environment.deepspeed_allgather_bucket_size",
        "environment.deepspeed_reduce_bucket_size",
        "logging.logger",
        "logging.neptune_project",
        "logging.wandb_entity",
        "logging.wandb_project",
    }


def test_overrides() -> None:
    cfg = apply_overrides(
        default_config(),
        [
            "training.lora_r=32",
            "training.learning_rate=2e-4",
            "dataset.prompt_column=[a, b]",
            "training.lora=false",
        ],
    )
    assert cfg.training.lora_r == 32
    assert cfg.training.learning_rate == pytest.approx(2e-4)
    assert cfg.dataset.prompt_column == ("a", "b")
    assert cfg.training.lora is False


def test_override_errors() -> None:
    with pytest.raises(ConfigError, match=re.escape("Did you mean: training.lora_r")):
        apply_overrides(default_config(), ["training.lora_rr=3"])
    with pytest.raises(ConfigError, match=re.escape("must look like section.field=value")):
        apply_overrides(default_config(), ["training.lora_r"])
    with pytest.raises(ConfigError, match=re.escape("training.lora_r = 'x'")):
        apply_overrides(default_config(), ["training.lora_r=x"])


def test_problem_type_override_takes_that_types_defaults() -> None:
    cfg = apply_overrides(
        default_config(), ["problem_type=text_dpo_modeling", "training.loss_function=SimPOLoss"]
    )
    assert cfg.problem_type == DPO
    assert cfg.training.loss_function == "SimPOLoss"


def test_every_field_has_help_and_a_valid_default() -> None:
    infos = describe_fields()
    assert len({info.path for info in infos}) == len(infos)
    for info in infos:
        assert info.help.strip(), info.path
        assert info.help[0].isupper() and info.help.rstrip().endswith((".", ")")), info.path
        if info.choices and info.type_name != "list":
            assert info.default in info.choices, info.path
        if info.depends_on:
            assert info.depends_on[0] in {i.path for i in infos}, info.path


def test_describe_fields_filters_by_problem_type() -> None:
    causal = {info.path for info in describe_fields(CAUSAL_LM)}
    dpo = {info.path for info in describe_fields(DPO)}
    assert "training.beta" in dpo and "training.beta" not in causal
    assert "dataset.num_classes" in {info.path for info in describe_fields(CLASSIFICATION)}
    assert "dataset.num_classes" not in causal
    assert [i.default for i in describe_fields(DPO) if i.path == "training.loss_function"] == ["DPOLoss"]


def test_config_is_frozen() -> None:
    cfg = ExperimentConfig()
    with pytest.raises(AttributeError):
        cfg.training.lora_r = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (  # "billion laughs": nine levels of nine aliases, 387 million values once expanded
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
            ),
            "more than 100,000 values once its aliases are expanded",
        ),
        ("training: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels deep"),
        ("experiment_name: " + "x" * (2 * 1024 * 1024) + "\n", "larger than 1024 KiB"),
    ],
)
def test_hostile_yaml_is_refused_quickly_with_a_short_message(
    tmp_path: Path, text: str, message: str
) -> None:
    import time

    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert time.monotonic() - started < 5  # refused before any value is built
    assert len(str(err.value)) < 300


def test_a_huge_bad_value_is_quoted_as_a_short_excerpt() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"training": {"lora_r": "9" * 1_000_000 + "x"}})
    assert str(err.value).startswith("training.lora_r = '9999") and len(str(err.value)) < 200
