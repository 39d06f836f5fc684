"""How a GGUF export may store its weights (light: the form, the dialog and the CLI read it)."""

from __future__ import annotations

#: quant name -> (ggml type name, GGUF file type name, shown label)
QUANTS: dict[str, tuple[str, str, str]] = {
    "f16": ("F16", "MOSTLY_F16", "16-bit floats (f16)"),
    "bf16": ("BF16", "MOSTLY_BF16", "bfloat16 (bf16)"),
    "q8_0": ("Q8_0", "MOSTLY_Q8_0", "8-bit (Q8_0)"),
    "q5_0": ("Q5_0", "MOSTLY_Q5_0", "5-bit (Q5_0, legacy, lower quality)"),
    "q4_0": ("Q4_0", "MOSTLY_Q4_0", "4-bit (Q4_0, legacy, lower quality)"),
}
#: How many first tokens of the greedy answers a file stored so must share with the merged model (every
#: prompt) to pass its verification; 8-bit storage may flip a near-tie a few tokens in. The legacy 4/5-bit
#: files are compared on two tokens too, and reported, but not required to pass.
VERIFIED_TOKENS = {"f16": 4, "bf16": 4, "q8_0": 2}
COMPARED_TOKENS = 2
