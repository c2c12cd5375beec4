import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("WORKBOOK_PROGRESS", "0")


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
