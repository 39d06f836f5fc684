"""A model folder's tokenizer without transformers: ``tokenizer.json`` through the tokenizers library.

Dataset import only renders chat templates and counts tokens, and importing transformers alone takes
seconds. When a folder's tokenizer is the plain kind (``tokenizer.json`` used as it is: the classes
transformers calls ``TokenizersBackend`` or ``PreTrainedTokenizerFast``, one chat template), the tokenizers
library and a jinja2 sandbox set up like transformers' give the same text and the same tokens. Any other
folder goes through transformers (``backbones.load_tokenizer``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

PLAIN_CLASSES = frozenset({"TokenizersBackend", "PreTrainedTokenizerFast"})
SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


class LightTokenizer:
    """What the dataset code asks of a tokenizer: batched encoding with offsets, ``apply_chat_template``."""

    is_fast = True

    def __init__(
        self, backend: Any, chat_template: str | None, special_tokens: Mapping[str, str], name_or_path: str
    ) -> None:
        self.backend = backend
        self.chat_template = chat_template
        self.special_tokens_map = dict(special_tokens)
        self.name_or_path = name_or_path

    def __getattr__(self, name: str) -> Any:
        if name in SPECIAL_TOKEN_NAMES:
            return self.special_tokens_map.get(name)
        raise AttributeError(name)

    def __call__(
        self,
        text: str | Sequence[str],
        add_special_tokens: bool = True,
        return_offsets_mapping: bool = False,
        **_options: Any,
    ) -> dict[str, Any]:
        """``input_ids`` (and ``offset_mapping``) of one text or of a batch, as transformers returns them."""
        single = isinstance(text, str)
        encodings = self.backend.encode_batch([text] if single else list(text), add_special_tokens)
        result: dict[str, Any] = {"input_ids": [encoding.ids for encoding in encodings]}
        if return_offsets_mapping:
            result["offset_mapping"] = [encoding.offsets for encoding in encodings]
        return {key: value[0] for key, value in result.items()} if single else result

    def apply_chat_template(
        self,
        conversation: Sequence[Mapping[str, Any]],
        tokenize: bool = False,
        add_generation_prompt: bool = False,
    ) -> str:
        """The chat rendered as text (``tokenize=True`` is not supported)."""
        if tokenize:
            raise NotImplementedError("LightTokenizer renders chat templates to text only")
        if not self.chat_template:
            raise ValueError("the tokenizer has no chat template")
        messages = [{key: value for key, value in dict(m).items() if value is not None} for m in conversation]
        return _compiled(self.chat_template).render(
            messages=messages,
            tools=None,
            documents=None,
            add_generation_prompt=add_generation_prompt,
            **self.special_tokens_map,
        )


def load_light_tokenizer(folder: Path) -> LightTokenizer | None:
    """The folder's tokenizer when it is the plain kind, else ``None`` (load it with transformers then).

    Sets a pad token (unk, else eos) when the folder has none, as ``backbones.load_tokenizer`` does.
    """
    folder = Path(folder)
    config = _read_json(folder / "tokenizer_config.json")
    if (
        config is None
        or config.get("tokenizer_class") not in PLAIN_CLASSES
        or not (folder / "tokenizer.json").is_file()
        or (folder / "additional_chat_templates").exists()
        or _read_json(folder / "special_tokens_map.json") is not None
        or (folder / "added_tokens.json").exists()
    ):
        return None
    chat_template = _chat_template(folder, config)
    special = {name: _token_text(config.get(name)) for name in SPECIAL_TOKEN_NAMES}
    if chat_template is False or any(value is False for value in special.values()):
        return None
    from tokenizers import Tokenizer

    try:
        backend = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception:  # a file the tokenizers library cannot read: let transformers report it
        return None
    added = config.get("added_tokens_decoder") or {}
    if not isinstance(added, dict) or any(_added_id(backend, token) is None for token in added.values()):
        return None  # tokens only the config knows: transformers would add them
    backend.no_truncation()
    backend.no_padding()
    tokens = {name: value for name, value in special.items() if isinstance(value, str)}
    if "pad_token" not in tokens:
        fallback = tokens.get("unk_token", tokens.get("eos_token"))
        if fallback is None:
            return None  # backbones.load_tokenizer words this error
        tokens["pad_token"] = fallback
    return LightTokenizer(backend, chat_template, tokens, str(folder))


def _added_id(backend: Any, token: object) -> int | None:
    text = _token_text(token)
    return backend.token_to_id(text) if isinstance(text, str) else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _chat_template(folder: Path, config: Mapping[str, Any]) -> str | bool | None:
    """The one chat template (``chat_template.jinja`` wins over the config), ``False`` if several."""
    file = folder / "chat_template.jinja"
    if file.is_file():
        return file.read_text(encoding="utf-8")
    if (folder / "chat_template.json").exists():
        return False
    template = config.get("chat_template")
    if template is None or isinstance(template, str):
        return template
    return False


def _token_text(token: object) -> str | bool | None:
    """A special token's text from its config entry (text or ``{"content": ...}``); ``False``: unreadable."""
    if token is None or isinstance(token, str):
        return token
    if isinstance(token, Mapping) and isinstance(token.get("content"), str):
        return token["content"]
    return False


@lru_cache(maxsize=8)
def _compiled(template: str) -> Any:
    """The template in a sandbox with the globals and filters transformers gives chat templates."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTag(jinja2.ext.Extension):
        """``{% generation %}`` marks assistant text for token masks; rendering keeps just its body."""

        tags: ClassVar[set[str]] = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

        def _render(self, caller: Any) -> str:
            return caller()

    class TemplateNamespace(jinja2.utils.Namespace):
        def __init__(*args: Any, **kwargs: Any) -> None:
            self, rest = args[0], args[1:]
            attrs = dict(*rest, **kwargs)
            for name in attrs:
                _check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name: str, value: Any) -> None:
            _check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

    def _check_name(name: object) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"chat templates cannot set the attribute {name!r}")

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
        options = {"indent": indent, "separators": separators, "sort_keys": sort_keys}
        return json.dumps(x, ensure_ascii=ensure_ascii, **options)

    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    environment.filters["tojson"] = tojson
    environment.globals["raise_exception"] = raise_exception
    environment.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    environment.globals["dict"] = _TemplateDict()
    environment.globals["namespace"] = TemplateNamespace
    return environment.from_string(template)


class _TemplateDict:
    """``dict(...)`` for templates without exposing the type itself."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict:
        return dict.fromkeys(*args, **kwargs)
