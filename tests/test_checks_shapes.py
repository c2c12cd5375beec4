"""Shape and mask messages of the learner checks (workbook.course.checks.shapes), on made-up sizes."""

import torch

from workbook.course.checks.shapes import (
    clearest_shape_message,
    off_edge_words,
    shape_ambiguous,
    shape_failure,
    shape_message,
)

DIMS = {"n_layers": 2, "n_heads": 4, "d_head": 3, "d_model": 12, "batch": 5, "seq": 7, "d_vocab": 11}
AXES = ("n_layers", "n_heads")


def test_a_scalar_and_one_number_per_layer_are_named():
    assert "a single number" in shape_message((), AXES, DIMS)
    msg = shape_message((2,), ("n_layers", "n_heads", "seq"), DIMS)
    assert "one number per layer where the heads and positions should stay" in msg


def test_kept_axes_and_logits_are_named():
    assert "the position axis is kept" in shape_message((2, 4, 7), AXES, DIMS)
    assert "the batch axis is kept" in shape_message((2, 4, 5), AXES, DIMS)
    assert "holds logits" in shape_message((2, 11), AXES, DIMS)
    assert "you summed over the heads" in shape_message((2,), AXES, DIMS)


def test_an_ambiguous_size_is_resolved_on_another_model():
    same = {**DIMS, "batch": 7}  # batch = seq: a kept axis of size 7 could be either
    assert shape_ambiguous((2, 4, 7), AXES, same) and not shape_ambiguous((2, 4, 7), AXES, DIMS)
    assert "the batch axis is kept" not in shape_message((2, 4, 7), AXES, same)
    msg = clearest_shape_message([("model A", (2, 4, 7), AXES, same), ("model B", (2, 4, 7), AXES, DIMS)])
    assert msg.startswith("on model B") and "the position axis is kept" in msg

    def keeps_positions(model, task):
        return torch.zeros(2, 4, task)

    cases = [("A", None, 7), ("B", None, 6)]
    msg = shape_failure(keeps_positions, cases, (), (2, 4, 7), AXES,
                        lambda model, seq: {**DIMS, "batch": 7 if seq == 7 else 5, "seq": seq})
    assert msg.startswith("on B") and "the position axis is kept" in msg


def test_off_edge_values_name_an_added_mask_and_a_triangle():
    mask = torch.tensor([[True, False, True], [False, True, False], [True, True, False]])
    ref = torch.randn(3, 3, generator=torch.Generator().manual_seed(0)) * mask
    raw = ref + 0.5 * ~mask  # values off the edges, as an unmasked score matrix has
    assert "the mask was added" in off_edge_words(raw + mask, ref, mask)
    tri = torch.ones(3, 3).tril() * (ref + 1.0)
    assert "a mask of your own" in off_edge_words(tri, ref, mask)
    assert off_edge_words(raw, ref, mask) == ""
