"""The h(x) transform and the categorical encoding of values and rewards."""

import math

import pytest
import torch

from networks.support import h, h_inv, scalar_to_support, support_to_scalar


def test_h_by_hand():
    x = torch.tensor([0.0, 3.0, -8.0, 99.0], dtype=torch.float64)
    expected = [0.0, 1.0 + 0.003, -(2.0 + 0.008), 9.0 + 0.099]  # sqrt(4)-1, sqrt(9)-1, sqrt(100)-1
    assert h(x).tolist() == pytest.approx(expected, abs=1e-12)


def test_h_inverse_round_trip():
    x = torch.tensor(
        [-1e5, -1234.5, -1.0, -1e-3, 0.0, 1e-3, 0.5, 7.0, 1e4, 1e6], dtype=torch.float64
    )
    assert torch.allclose(h_inv(h(x)), x, rtol=1e-9, atol=1e-9)
    y = torch.linspace(-300, 300, 61, dtype=torch.float64)
    assert torch.allclose(h(h_inv(y)), y, rtol=1e-9, atol=1e-9)


def test_two_hot_encoding_by_hand():
    # h(3) = 1.003: 0.997 of the mass on support point 1, 0.003 on 2.
    probs = scalar_to_support(torch.tensor([3.0, -3.0, 0.0], dtype=torch.float64), support_size=3)
    expected = [
        [0, 0, 0, 0, 0.997, 0.003, 0],
        [0, 0.003, 0.997, 0, 0, 0, 0],
        [0, 0, 0, 1.0, 0, 0, 0],
    ]
    assert probs.tolist() == [pytest.approx(row, abs=1e-12) for row in expected]


def test_two_hot_clips_to_the_support_edges():
    probs = scalar_to_support(torch.tensor([1e9, -1e9]), support_size=2)
    assert probs.tolist() == [[0, 0, 0, 0, 1.0], [1.0, 0, 0, 0, 0]]


def test_expected_value_of_an_encoding_decodes_back():
    x = torch.tensor([-250.0, -3.0, 0.0, 0.25, 3.7, 120.0], dtype=torch.float64)
    logits = torch.log(scalar_to_support(x, support_size=20).clamp(min=1e-300))
    assert torch.allclose(support_to_scalar(logits, support_size=20), x, rtol=1e-9, atol=1e-9)


def test_uniform_logits_decode_to_zero():
    assert math.isclose(
        float(support_to_scalar(torch.zeros(11, dtype=torch.float64), 5)), 0.0, abs_tol=1e-12
    )
