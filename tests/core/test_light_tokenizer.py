"""The tokenizer read without transformers renders and tokenizes exactly as transformers does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio_desktop.core.data.templates import TemplateSettings, render_sample
from studio_desktop.core.light_tokenizer import LightTokenizer, load_light_tokenizer
from tests.support.tokenizers import conversation

CHATS = [
    [{"role": "user", "content": "hi"}],
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is <|im_end|> LoRA?"},
        {"role": "assistant", "content": "An adapter."},
    ],
    [
        {"role": "user", "content": "ünïcode 😀 tabs\tand\nnew lines"},
        {"role": "assistant", "content": " spaced "},
        {"role": "user", "content": "again"},
    ],
]


@pytest.fixture(scope="module")
def both(tiny_model_dir: Path) -> tuple[LightTokenizer, object]:
    from studio_desktop.core.backbones import load_tokenizer

    light = load_light_tokenizer(tiny_model_dir)
    assert light is not None
    return light, load_tokenizer(tiny_model_dir)


def test_same_special_tokens_and_name(both) -> None:
    light, full = both
    assert light.special_tokens_map == full.special_tokens_map
    assert (light.eos_token, light.pad_token, light.bos_token) == (
        full.eos_token,
        full.pad_token,
        full.bos_token,
    )
    assert light.name_or_path == full.name_or_path
    assert light.chat_template == full.chat_template
    assert light.is_fast


@pytest.mark.parametrize("chat", CHATS)
@pytest.mark.parametrize("prompt", [False, True])
def test_same_rendered_chat(both, chat, prompt: bool) -> None:
    light, full = both
    expected = full.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt)
    assert light.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt) == expected


def test_same_tokens_and_offsets(both) -> None:
    light, full = both
    texts = [full.apply_chat_template(chat, tokenize=False) for chat in CHATS] + [
        "",
        "<unk> x <pad>",
        "é" * 9,
    ]
    options = {"add_special_tokens": False, "return_offsets_mapping": True}
    ours, theirs = light(texts, **options), full(texts, **options)
    assert ours["input_ids"] == theirs["input_ids"]
    assert [[tuple(o) for o in row] for row in ours["offset_mapping"]] == [
        [tuple(o) for o in row] for row in theirs["offset_mapping"]
    ]
    assert (
        light("a text", add_special_tokens=False)["input_ids"]
        == full("a text", add_special_tokens=False)["input_ids"]
    )


def test_same_training_samples(both) -> None:
    light, full = both
    item = conversation(0, "What is LoRA?", "An adapter.", "And rank?", "Its size.", system="Be brief.")
    for settings in (TemplateSettings(), TemplateSettings(use_chat_template=False)):
        assert render_sample(light, item, settings) == render_sample(full, item, settings)


def copy_with(tiny_model_dir: Path, tmp_path: Path, **config_changes: object) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.update(config_changes)
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_folders_transformers_would_change_are_left_to_it(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert (
        load_light_tokenizer(copy_with(tiny_model_dir, tmp_path / "a", tokenizer_class="Qwen2Tokenizer"))
        is None
    )
    unknown = {"99999": {"content": "<|new|>", "special": True}}
    assert (
        load_light_tokenizer(copy_with(tiny_model_dir, tmp_path / "b", added_tokens_decoder=unknown)) is None
    )
    missing = copy_with(tiny_model_dir, tmp_path / "c")
    (missing / "tokenizer.json").unlink()
    assert load_light_tokenizer(missing) is None
    several = copy_with(tiny_model_dir, tmp_path / "d")
    (several / "additional_chat_templates").mkdir()
    assert load_light_tokenizer(several) is None
    assert load_light_tokenizer(tmp_path / "nowhere") is None


def test_template_from_the_config_and_a_pad_token_fallback(tiny_model_dir: Path, tmp_path: Path) -> None:
    template = "{% for m in messages %}{{ m['content'] }}{{ eos_token }}{% endfor %}"
    folder = copy_with(tiny_model_dir, tmp_path, chat_template=template, pad_token=None)
    (folder / "chat_template.jinja").unlink()
    light = load_light_tokenizer(folder)
    assert light is not None
    assert light.chat_template == template
    assert light.pad_token == "<unk>"
    assert light.apply_chat_template([{"role": "user", "content": "hi"}]) == "hi<|im_end|>"


def test_template_extensions_and_sandbox(both) -> None:
    light, _ = both
    from studio_desktop.core.light_tokenizer import _compiled

    tagged = (
        "{% for m in messages %}{% generation %}[{{ m['content'] | tojson }}]{% endgeneration %}{% endfor %}"
    )
    assert _compiled(tagged).render(messages=[{"content": "é"}]) == '["é"]'
    with pytest.raises(Exception, match="cannot set"):
        _compiled("{% set ns = namespace(_x=1) %}").render()
    with pytest.raises(Exception, match="stop here"):
        _compiled("{{ raise_exception('stop here') }}").render()
    with pytest.raises(NotImplementedError):
        light.apply_chat_template(CHATS[0], tokenize=True)
