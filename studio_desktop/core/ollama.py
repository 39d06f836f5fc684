"""An Ollama ``Modelfile`` beside a GGUF export: the file, the prompt layout training used, stop words and
the prediction settings, so ``ollama create`` gives a model that answers and stops as the app's chat does.

A ChatML layout (``<|im_start|>``, as SmolLM2's) and the app's own text markers are written as Ollama
templates; any other chat template is left to Ollama, which reads it from the GGUF file.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio_desktop.core.config import ExperimentConfig

CHATML_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""

DEFAULT_SYSTEM = re.compile(r"<\|im_start\|>system\n([^{}<]+?)<\|im_end\|>")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def marker_template(cfg: ExperimentConfig, eos: str) -> str:
    """The app's text-marker layout as an Ollama template (as ``core.export.marker_chat_template``)."""
    dataset = cfg.dataset
    system_end = eos if dataset.add_eos_token_to_system else ""
    prompt_end = eos if dataset.add_eos_token_to_prompt else ""
    answer_end = eos if dataset.add_eos_token_to_answer else ""
    return (
        f"{{{{- if .System }}}}{dataset.text_system_start}{{{{ .System }}}}{system_end}{{{{ end }}}}"
        "{{- range .Messages }}"
        f'{{{{- if eq .Role "user" }}}}{dataset.text_prompt_start}{{{{ .Content }}}}{prompt_end}'
        f"{dataset.text_answer_separator}"
        f'{{{{- else if eq .Role "assistant" }}}}{{{{ .Content }}}}{answer_end}{{{{ end }}}}'
        "{{- end }}"
    )


def modelfile(cfg: ExperimentConfig, gguf_name: str, chat_template: str, eos: str) -> str:
    """The Modelfile text for the GGUF file ``gguf_name`` in the same folder."""
    lines = [f"FROM ./{gguf_name}", ""]
    if "<|im_start|>" in chat_template:
        lines += [f'TEMPLATE """{CHATML_TEMPLATE}"""', ""]
        default = DEFAULT_SYSTEM.search(chat_template)
        if default:  # the template's own system prompt when a chat gives none, as the app's chat uses it
            lines += [f'SYSTEM """{default.group(1)}"""', ""]
        stops = ["<|im_end|>", "<|im_start|>"]
    elif not cfg.dataset.use_chat_template:
        lines += [f'TEMPLATE """{marker_template(cfg, eos)}"""', ""]
        stops = [eos, cfg.dataset.text_prompt_start]
    else:
        lines += ["# The chat template is read from the GGUF file.", ""]
        stops = [eos]
    stops += [stop.strip() for stop in cfg.prediction.stop_tokens.split(",") if stop.strip()]
    prediction = cfg.prediction
    lines += [f"PARAMETER stop {_quoted(stop)}" for stop in dict.fromkeys(s for s in stops if s)]
    lines.append(f"PARAMETER temperature {prediction.temperature if prediction.do_sample else 0:g}")
    if prediction.top_k:
        lines.append(f"PARAMETER top_k {prediction.top_k}")
    if prediction.top_p < 1.0:
        lines.append(f"PARAMETER top_p {prediction.top_p:g}")
    if prediction.repetition_penalty != 1.0:
        lines.append(f"PARAMETER repeat_penalty {prediction.repetition_penalty:g}")
    lines.append(f"PARAMETER num_predict {prediction.max_length_inference}")
    lines.append(f"PARAMETER num_ctx {cfg.tokenizer.max_length}")
    return "\n".join(lines) + "\n"
