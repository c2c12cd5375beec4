"""Models: building, wrapping and loading bridges; the shipped models; hand-built specimens.

======================  ==================================================================
``models.loading``      ``build_gpt2``, ``bridge_from_hf``, ``prepare``, ``load_pretrained``, ``save_model``
``models.local``        tiny random HF models with tokenizers, saved offline (``save_tiny_model``)
``models.zoo``          every shipped model by name: ``zoo.load("ioi")``, ``zoo.load("mixture", task="sva")``
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

__all__ = ["build_gpt2", "bridge_from_hf", "prepare", "load_pretrained", "save_model", "load_model", "gpt2_config"]
