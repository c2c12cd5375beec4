import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("WORKBOOK_PROGRESS", "0")
# the tests never touch the network: the hub client is told so up front
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WORKBOOK_REAL_MODELS", "offline")  # real-model sections: SmolLM2 only, never the hub
# a failing learner check searches for a one-line fix for up to 20 s; the suite's planted mistakes are measured
# without it (scripts/plant_mistakes.py), tests/test_checks_repair.py turns it on where it is tested
os.environ.setdefault("WORKBOOK_REPAIR_SECONDS", "0")


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
