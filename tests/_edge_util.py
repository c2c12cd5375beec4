"""Small random models and tasks shared by the edge-method tests."""

import torch

import workbook as wb


def random_case(seed: int = 1, B: int = 3, S: int = 6, n_layers: int = 2, d_vocab: int = 30, dtype=None):
    model = wb.build_gpt2(seed=seed, n_layers=n_layers, d_model=16, n_heads=2, d_vocab=d_vocab, n_ctx=8, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, d_vocab, (B, S), generator=g)
    corrupt = clean.clone()
    corrupt[:, :2] = torch.randint(0, d_vocab, (B, 2), generator=g)
    answer = torch.randint(0, d_vocab // 2, (B,), generator=g)
    return model, wb.Task(clean, corrupt, answer, answer + d_vocab // 2)
