"""Tests of the example plugin itself (run by the main suite too)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ntkrs
from ntkrs_example import snake, snake_prime, twokink


def test_functions():
    x = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(twokink(x), [-1.25, -1.0, 0.0, 0.5, 1.0, 5.0])
    np.testing.assert_allclose(snake(x, a=2.0), x + np.sin(2 * x) ** 2 / 2)
    h = 1e-6
    np.testing.assert_allclose(snake_prime(x, 1.5), (snake(x + h, 1.5) - snake(x - h, 1.5)) / (2 * h), atol=1e-8)


def test_registered_through_entry_point():
    assert ntkrs.activation_info("snake").plugin == "ntkrs-example"
    assert ntkrs.get_activation("twokink").kind == "quadrature"


def test_snake_second_moment():
    # E[(Z + sin²(aZ)/a)²] with sin² = (1 - cos 2aZ)/2:  E[Z²] + E[Z sin²]·2/a + E[sin⁴]/a²
    # E[Z sin²(aZ)] = 0 (odd);  E[sin⁴(aZ)] = 3/8 - E[cos 2aZ]/2 + E[cos 4aZ]/8
    a = 1.3
    e_sin4 = 3 / 8 - math.exp(-2 * a * a) / 2 + math.exp(-8 * a * a) / 8
    expected = 1 + e_sin4 / a**2
    assert ntkrs.get_activation("snake", a=a).second_moment() == pytest.approx(expected, rel=1e-13)


def test_twokink_derivative_second_moment():
    # φ' = 0.25 on (-inf,-1), 1 on (-1,1), 2 on (1,inf)
    p_out = 0.5 * math.erfc(1 / math.sqrt(2))
    expected = 0.0625 * p_out + (1 - 2 * p_out) + 4 * p_out
    assert ntkrs.get_activation("twokink").derivative_second_moment() == pytest.approx(expected, rel=1e-9)
