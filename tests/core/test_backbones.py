"""Backbone resolution: local folders, GGUF conversion, the hub cache, the bundled model and listing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from studio_desktop.core.backbones import (
    BUNDLED_BACKBONE,
    bundled_gguf_file,
    list_backbones,
    load_tokenizer,
    resolve_backbone,
)
from studio_desktop.core.errors import BackboneError
from studio_desktop.core.gguf import MARKER_FILE, convert_gguf_to_folder
from tests.support.tiny_gguf import write_gguf_of_architecture, write_tiny_gguf

PROMPT = [{"role": "user", "content": "What does the learning rate control in training?"}]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face home, so that nothing from a real cache shows up."""
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    return home


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    return write_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny-llama.F32.gguf")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path) -> tuple[Path, object, list[str]]:
    """The tiny GGUF resolved once into a fresh models folder: (models_dir, resolved, progress messages)."""
    models_dir = tmp_path_factory.mktemp("models")
    messages: list[str] = []
    return models_dir, resolve_backbone(str(tiny_gguf), models_dir, messages.append), messages


def fake_hub_snapshot(hf_home: Path, repo_id: str, source: Path) -> Path:
    """Lay ``source`` out in the hub cache below ``hf_home`` as the ``main`` revision of ``repo_id``."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(source, snapshot)
    return snapshot


def logits(folder: Path, input_ids: list[int]):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder)
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([input_ids])).logits


# ---------------------------------------------------------------- local folders


def test_local_folder_resolves(tiny_model_dir: Path, tmp_path: Path) -> None:
    resolved = resolve_backbone(str(tiny_model_dir), tmp_path / "models")
    assert resolved.kind == "folder"
    assert resolved.folder == tiny_model_dir.resolve()
    assert resolved.spec == str(tiny_model_dir)
    assert not (tmp_path / "models").exists()


def test_folder_in_models_dir_resolves_by_name(tiny_model_dir: Path, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    shutil.copytree(tiny_model_dir, models_dir / "my-model")
    resolved = resolve_backbone("my-model", models_dir)
    assert (resolved.kind, resolved.folder) == ("folder", (models_dir / "my-model").resolve())


def test_folder_without_config_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "weights-only"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(BackboneError, match=r"config\.json") as info:
        resolve_backbone(str(folder), tmp_path / "models")
    assert str(folder) in str(info.value)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such-model"
    with pytest.raises(BackboneError) as info:
        resolve_backbone(str(missing), tmp_path / "models")
    assert str(missing) in str(info.value)


def test_other_file_is_an_error(tmp_path: Path) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\0" * 16)
    with pytest.raises(BackboneError, match=r"model\.bin"):
        resolve_backbone(str(weights), tmp_path / "models")


# ---------------------------------------------------------------- GGUF


def test_gguf_converts_into_models_dir(converted, tiny_gguf: Path) -> None:
    models_dir, resolved, messages = converted
    assert resolved.kind == "gguf"
    assert resolved.folder.parent == models_dir.resolve()
    assert resolved.folder.name.startswith("tiny-llama.F32-")
    assert any("Converting" in message for message in messages)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (resolved.folder / name).is_file(), name
    assert [p.name for p in models_dir.iterdir()] == [resolved.folder.name]  # no temporary folder left
    config = json.loads((resolved.folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["LlamaForCausalLM"]
    marker = json.loads((resolved.folder / MARKER_FILE).read_text())
    stat = tiny_gguf.stat()
    assert marker["source"] == str(tiny_gguf.resolve())
    assert (marker["source_size"], marker["source_mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)


def test_converted_model_matches_the_original(converted, tiny_model_dir: Path) -> None:
    import torch
    from safetensors import safe_open

    folder = converted[1].folder
    with safe_open(folder / "model.safetensors", "pt") as weights:
        assert {weights.get_tensor(key).dtype for key in weights.keys()} == {torch.float32}  # noqa: SIM118
    tokenizer, reference_tokenizer = load_tokenizer(folder), load_tokenizer(tiny_model_dir)
    assert tokenizer.chat_template == reference_tokenizer.chat_template
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<pad>")
    text = reference_tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False)
    input_ids = reference_tokenizer(text)["input_ids"]
    assert tokenizer(text)["input_ids"] == input_ids
    expected = logits(tiny_model_dir, input_ids)
    actual = logits(folder, input_ids)
    assert actual.shape == expected.shape
    assert torch.allclose(actual, expected, atol=1e-5, rtol=1e-5)


def test_second_resolve_reuses_then_reconverts_when_the_source_changes(
    tiny_gguf: Path, tmp_path: Path
) -> None:
    source = tmp_path / "copy.gguf"
    shutil.copy2(tiny_gguf, source)
    models_dir = tmp_path / "models"
    first = resolve_backbone(str(source), models_dir)
    weights = first.folder / "model.safetensors"
    written = weights.stat().st_mtime_ns

    messages: list[str] = []
    second = resolve_backbone(str(source), models_dir, messages.append)
    assert second.folder == first.folder
    assert not any("Converting" in message for message in messages)
    assert weights.stat().st_mtime_ns == written

    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    messages.clear()
    third = resolve_backbone(str(source), models_dir, messages.append)
    assert third.folder == first.folder
    assert any("Converting" in message for message in messages)
    marker = json.loads((third.folder / MARKER_FILE).read_text())
    assert marker["source_mtime_ns"] == source.stat().st_mtime_ns
    assert sorted(p.name for p in models_dir.iterdir()) == [first.folder.name]


def test_non_gguf_file_named_gguf_is_an_error(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("this is not a model\n")
    with pytest.raises(BackboneError, match="not a GGUF file") as info:
        resolve_backbone(str(fake), tmp_path / "models")
    assert str(fake) in str(info.value)
    assert not any((tmp_path / "models").glob("*"))


def test_missing_gguf_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.gguf"
    with pytest.raises(BackboneError, match="not found") as info:
        resolve_backbone(str(missing), tmp_path / "models")
    assert str(missing) in str(info.value)


def test_unsupported_architecture_is_an_error(tmp_path: Path) -> None:
    source = write_gguf_of_architecture(tmp_path / "odd.gguf", "rwkv6")
    models_dir = tmp_path / "models"
    with pytest.raises(BackboneError, match="rwkv6") as info:
        resolve_backbone(str(source), models_dir)
    assert str(source) in str(info.value)
    assert list(models_dir.iterdir()) == []


def test_failed_conversion_keeps_the_previous_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "models" / "kept"
    shutil.copytree(tiny_model_dir, out_dir)
    before = sorted(p.name for p in out_dir.iterdir())
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\xff" * 64)  # right signature, unreadable header
    with pytest.raises(BackboneError, match=r"broken\.gguf"):
        convert_gguf_to_folder(broken, out_dir)
    assert sorted(p.name for p in out_dir.iterdir()) == before
    assert [p.name for p in out_dir.parent.iterdir()] == ["kept"]


def test_conversion_replaces_an_existing_folder(tiny_gguf: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "models" / "target"
    out_dir.mkdir(parents=True)
    (out_dir / "stale.txt").write_text("old")
    assert convert_gguf_to_folder(tiny_gguf, out_dir) == out_dir.resolve()
    assert not (out_dir / "stale.txt").exists()
    assert (out_dir / "config.json").is_file()
    assert [p.name for p in out_dir.parent.iterdir()] == ["target"]


# ---------------------------------------------------------------- hub and bundled


def test_hub_id_offline_and_not_cached_is_an_error(empty_hub: Path, tmp_path: Path) -> None:
    with pytest.raises(BackboneError, match="llm_backbone=") as info:
        resolve_backbone("some-org/some-model-1B", tmp_path / "models")
    assert "some-org/some-model-1B" in str(info.value)
    assert "offline" in str(info.value)


def test_hub_id_not_cached_and_hub_unreachable_is_an_error(
    empty_hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    messages: list[str] = []
    with pytest.raises(BackboneError, match="cannot be reached") as info:
        resolve_backbone("some-org/some-model-1B", tmp_path / "models", messages.append)
    assert "some-org/some-model-1B" in str(info.value)
    assert "backbone add PATH" in str(info.value)
    assert messages == ["Downloading some-org/some-model-1B from the Hugging Face Hub"]


def test_hub_id_resolves_from_the_local_cache(empty_hub: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    snapshot = fake_hub_snapshot(empty_hub, "some-org/tiny", tiny_model_dir)
    resolved = resolve_backbone("some-org/tiny", tmp_path / "models")
    assert (resolved.kind, resolved.folder) == ("hub", snapshot)
    listed = {info.name: info for info in list_backbones(tmp_path / "models")}
    assert listed["some-org/tiny"].ready
    assert listed["some-org/tiny"].kind == "hub"
    assert listed["some-org/tiny"].location == str(snapshot)
    assert listed["some-org/tiny"].size_bytes == sum(p.stat().st_size for p in snapshot.iterdir())


def test_cached_hub_snapshot_without_weights_is_not_used(empty_hub: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    fake_hub_snapshot(empty_hub, "some-org/partial", partial)
    with pytest.raises(BackboneError, match="some-org/partial"):
        resolve_backbone("some-org/partial", tmp_path / "models")


def test_bundled_id_prefers_the_local_hub_cache(
    empty_hub: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    snapshot = fake_hub_snapshot(empty_hub, BUNDLED_BACKBONE, tiny_model_dir)
    for spec in ("bundled", BUNDLED_BACKBONE):
        resolved = resolve_backbone(spec, tmp_path / "models")
        assert (resolved.kind, resolved.folder) == ("bundled", snapshot)
    assert not (tmp_path / "models").exists()
    (bundled,) = [info for info in list_backbones(tmp_path / "models") if info.name == BUNDLED_BACKBONE]
    assert (bundled.kind, bundled.ready, bundled.location) == ("bundled", True, str(snapshot))


def test_bundled_gguf_is_found() -> None:
    gguf_file = bundled_gguf_file()
    assert gguf_file is not None
    assert gguf_file.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert gguf_file.read_bytes()[:4] == b"GGUF"


def test_list_on_an_empty_models_dir_shows_the_bundled_model_not_ready(
    empty_hub: Path, tmp_path: Path
) -> None:
    infos = list_backbones(tmp_path / "models")
    assert [(info.name, info.kind, info.ready) for info in infos] == [(BUNDLED_BACKBONE, "bundled", False)]
    assert infos[0].location == str(bundled_gguf_file())


def test_list_shows_converted_and_local_folders_ready(
    empty_hub: Path, converted, tiny_model_dir: Path, tmp_path: Path
) -> None:
    models_dir = tmp_path / "models"
    shutil.copytree(converted[1].folder, models_dir / converted[1].folder.name)
    shutil.copytree(tiny_model_dir, models_dir / "plain")
    (models_dir / "not-a-model").mkdir()
    shutil.copytree(tiny_model_dir, models_dir / ".half-written.tmp-1")
    infos = {info.name: info for info in list_backbones(models_dir)}
    assert set(infos) == {BUNDLED_BACKBONE, converted[1].folder.name, "plain"}
    gguf_info, plain = infos[converted[1].folder.name], infos["plain"]
    assert (gguf_info.kind, gguf_info.ready) == ("gguf", True)
    assert (plain.kind, plain.ready, plain.location) == ("folder", True, str(models_dir / "plain"))
    assert plain.size_bytes == sum(p.stat().st_size for p in tiny_model_dir.iterdir())
    assert not infos[BUNDLED_BACKBONE].ready


def test_load_tokenizer_sets_a_pad_token(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-pad"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("pad_token", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = load_tokenizer(folder)
    assert tokenizer.pad_token == "<unk>"


def test_load_tokenizer_error_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(BackboneError) as info:
        load_tokenizer(tmp_path)
    assert str(tmp_path) in str(info.value)


# ---------------------------------------------------------------- the real bundled model


@pytest.mark.slow
def test_bundled_model_converts_and_answers(empty_hub: Path, tmp_path: Path) -> None:
    import time

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    models_dir = tmp_path / "models"
    started = time.monotonic()
    resolved = resolve_backbone("bundled", models_dir)
    print(f"bundled conversion: {time.monotonic() - started:.1f} s")
    assert resolved.kind == "bundled"
    assert resolved.folder == (models_dir / "SmolLM2-135M-Instruct").resolve()
    (info,) = [i for i in list_backbones(models_dir) if i.name == BUNDLED_BACKBONE]
    assert info.ready and info.location == str(models_dir / "SmolLM2-135M-Instruct")
    print(f"bundled folder: {info.size_bytes / 2**20:.0f} MiB")

    tokenizer = AutoTokenizer.from_pretrained(resolved.folder)
    model = AutoModelForCausalLM.from_pretrained(resolved.folder)
    assert model.dtype == torch.float32
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer


def tokenizer_with_code(tmp_path: Path, tiny_model_dir: Path) -> tuple[Path, Path]:
    """A copy of the tiny model whose tokenizer names a class in a Python file of the folder; importing that
    file writes a marker."""
    folder = shutil.copytree(tiny_model_dir, tmp_path / "custom-code")
    marker = tmp_path / "code-ran"
    (folder / "tokenization_custom.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import PreTrainedTokenizerFast\n"
        "class CustomTokenizer(PreTrainedTokenizerFast):\n"
        "    pass\n",
        encoding="utf-8",
    )
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoTokenizer": [None, "tokenization_custom.CustomTokenizer"]}
    config["tokenizer_class"] = "CustomTokenizer"  # no class of that name in transformers: only the file's
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return folder, marker


def test_a_tokenizer_with_its_own_code_is_refused_without_a_prompt(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    import subprocess
    import sys

    from studio_desktop.core.backbones import load_tokenizer

    folder, marker = tokenizer_with_code(tmp_path, tiny_model_dir)
    refusal = r"comes with its own Python code.*environment\.trust_remote_code"
    with pytest.raises(BackboneError, match=refusal):
        load_tokenizer(folder)
    assert not marker.exists()
    # In a process with a terminal-like stdin nothing waits for an answer either.
    code = f"from studio_desktop.core.backbones import load_tokenizer\nload_tokenizer({str(folder)!r})"
    result = subprocess.run(
        [sys.executable, "-c", code], input="y\n", capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0 and "BackboneError" in result.stderr and not marker.exists()
    assert load_tokenizer(folder, trust_remote_code=True) is not None and marker.exists()
