"""Stroke formats: padding as the reference, conversions, normalisation, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sketchart.data.npzsafe import read_npz
from sketchart.errors import SketchartError
from sketchart.strokes import (
    END_ROW,
    START_TOKEN,
    augment_strokes,
    bounds,
    clamp,
    fit_to_box,
    lines_to_strokes3,
    normalize,
    pad_batch,
    random_scale,
    scale_factor,
    strokes3_to_lines,
    strokes3_to_strokes5,
    strokes5_to_strokes3,
)


@pytest.fixture(scope="module")
def sheep(sheep_npz):
    return read_npz(sheep_npz)


def _strokes3(rows):
    return np.array(rows, dtype=np.float32)


# sketches: integer offsets, pen lifts in {0, 1}, the last point lifted as in the data
@st.composite
def sketches(draw, min_size=1, max_size=60):
    n = draw(st.integers(min_size, max_size))
    xy = draw(hnp.arrays(np.int16, (n, 2), elements=st.integers(-200, 200)))
    lift = draw(hnp.arrays(np.int8, (n,), elements=st.integers(0, 1)))
    lift[-1] = 1
    return np.column_stack([xy, lift]).astype(np.float32)


def test_strokes5_padding_is_the_references():
    s3 = _strokes3([[1, 2, 0], [3, 4, 1], [5, 6, 1]])
    s5 = strokes3_to_strokes5(s3, max_len=5)
    assert s5.shape == (6, 5) and s5.dtype == np.float32
    np.testing.assert_array_equal(s5[0], START_TOKEN)
    np.testing.assert_array_equal(s5[1], [1, 2, 1, 0, 0])
    np.testing.assert_array_equal(s5[2], [3, 4, 0, 1, 0])
    np.testing.assert_array_equal(s5[3], [5, 6, 0, 1, 0])
    np.testing.assert_array_equal(s5[4:], np.tile(END_ROW, (2, 1)))


def test_sketch_of_exactly_max_len_gets_no_end_row():
    s3 = _strokes3([[1, 1, 0], [2, 2, 0], [3, 3, 1]])
    s5 = strokes3_to_strokes5(s3, max_len=3)
    assert s5.shape == (4, 5)
    assert s5[:, 4].sum() == 0
    np.testing.assert_array_equal(s5[3], [3, 3, 0, 1, 0])


def test_too_long_sketch_is_refused():
    with pytest.raises(SketchartError, match="longer than max_len=2"):
        strokes3_to_strokes5(_strokes3([[0, 0, 0]] * 3), 2)


def test_pad_batch_on_real_sheep(sheep):
    sketches_ = list(sheep["test"][:8])
    batch, lengths = pad_batch(sketches_, 250)
    assert batch.shape == (8, 251, 5) and lengths.dtype == np.int32
    np.testing.assert_array_equal(lengths, [len(s) for s in sketches_])
    assert (batch[:, 0] == START_TOKEN).all()
    for i, s in enumerate(sketches_):
        np.testing.assert_array_equal(batch[i, 1 : len(s) + 1, 0:2], s[:, 0:2])
        # one-hot pen state everywhere
        np.testing.assert_array_equal(batch[i, :, 2:].sum(axis=1), 1)
        np.testing.assert_array_equal(strokes5_to_strokes3(batch[i, 1:]), s)


def test_strokes5_to_strokes3_cuts_at_first_end_and_uses_p2():
    s5 = np.array(
        [[1, 1, 1, 0, 0], [2, 2, 0, 1, 0], [9, 9, 0, 0, 1], [7, 7, 1, 0, 0]], np.float32
    )
    np.testing.assert_array_equal(strokes5_to_strokes3(s5), [[1, 1, 0], [2, 2, 1]])
    # no end row: everything kept
    np.testing.assert_array_equal(strokes5_to_strokes3(s5[:2]), [[1, 1, 0], [2, 2, 1]])


def test_scale_factor_of_aaron_sheep(sheep):
    assert scale_factor(list(sheep["train"])) == pytest.approx(18.5198, abs=5e-5)


def test_scale_factor_rejects_empty():
    with pytest.raises(SketchartError):
        scale_factor([])


def test_normalize_and_clamp():
    s3 = _strokes3([[2000, -3000, 0], [10, 20, 1]])
    c = clamp(s3)
    np.testing.assert_array_equal(c, [[1000, -1000, 0], [10, 20, 1]])
    np.testing.assert_allclose(normalize(c, 10.0), [[100, -100, 0], [1, 2, 1]])
    with pytest.raises(SketchartError):
        normalize(c, 0.0)


def test_lines_round_trip_and_bounds():
    lines = [np.array([[10.0, 5.0], [12.0, 7.0]]), np.array([[0.0, 20.0]])]
    s3 = lines_to_strokes3(lines)
    np.testing.assert_array_equal(s3, [[10, 5, 0], [2, 2, 1], [-12, 13, 1]])
    back = strokes3_to_lines(s3)
    assert len(back) == 2
    for a, b in zip(back, lines):
        np.testing.assert_allclose(a, b)
    assert bounds(s3) == (0.0, 5.0, 12.0, 20.0)


def test_fit_to_box_puts_points_inside_and_keeps_aspect():
    s3 = _strokes3([[5, 5, 0], [10, 0, 0], [0, 4, 1]])
    fitted = fit_to_box(s3, 100, 100)
    x0, y0, x1, y1 = bounds(fitted)
    assert x0 == pytest.approx(0) and x1 == pytest.approx(100)
    assert (y1 - y0) == pytest.approx(40)  # 10 x 4 keeps its 5:2 aspect
    assert y0 == pytest.approx(30)  # centred
    dot = fit_to_box(_strokes3([[3, 3, 1]]), 10, 20)
    assert bounds(dot) == (5.0, 10.0, 5.0, 10.0)


def test_random_scale_matches_reference_formula():
    s3 = _strokes3([[10, 10, 0], [20, -20, 1]])
    rng = np.random.default_rng(3)
    out = random_scale(s3, 0.15, rng)
    u = np.random.default_rng(3).random(2)
    fx, fy = (u - 0.5) * 2 * 0.15 + 1
    np.testing.assert_allclose(out[:, 0], s3[:, 0] * fx, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], s3[:, 1] * fy, rtol=1e-6)
    assert 0.85 <= fx <= 1.15 and 0.85 <= fy <= 1.15
    # two draws even with factor 0, as the reference
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(random_scale(s3, 0.0, rng), s3)
    assert rng.random() == np.random.default_rng(3).random(3)[2]


def _augment_reference(strokes, prob, rng):
    # a line-by-line transcription of the reference's loop, for comparison
    result, prev, count, stroke = [], [0, 0, 1], 0, [0, 0, 1]
    for i in range(len(strokes)):
        cand = [strokes[i][0], strokes[i][1], strokes[i][2]]
        count = 0 if (cand[2] == 1 or prev[2] == 1) else count + 1
        u = rng.random()
        if cand[2] == 0 and prev[2] == 0 and count > 2 and u < prob:
            stroke[0] += cand[0]
            stroke[1] += cand[1]
        else:
            stroke = cand
            prev = stroke
            result.append(stroke)
    return np.array(result, dtype=np.float32)


def test_augment_matches_reference_loop_on_sheep(sheep):
    for i, s in enumerate(sheep["train"][:50]):
        ours = augment_strokes(s, 0.3, np.random.default_rng(i))
        ref = _augment_reference(s.astype(np.float32), 0.3, np.random.default_rng(i))
        np.testing.assert_array_equal(ours, ref)
    assert len(ours) < len(s)  # prob 0.3 drops something on a 100+ point sheep


@settings(max_examples=60, deadline=None)
@given(sketches(), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_augment_properties(s3, prob, seed):
    out = augment_strokes(s3, prob, np.random.default_rng(seed))
    # lengths never grow
    assert len(out) <= len(s3)
    # total displacement preserved
    np.testing.assert_allclose(out[:, 0:2].sum(axis=0), s3[:, 0:2].sum(axis=0), atol=1e-3)
    # pen-up points never dropped
    assert (out[:, 2] == 1).sum() == (s3[:, 2] == 1).sum()
    # the first two points of every stroke are kept: stroke by stroke, the kept sequence
    # starts with the same two rows' positions (the second may have absorbed nothing yet)
    lines_in = strokes3_to_lines(s3)
    lines_out = strokes3_to_lines(out)
    assert len(lines_in) == len(lines_out)
    for a, b in zip(lines_in, lines_out):
        np.testing.assert_allclose(b[: min(2, len(a))], a[: min(2, len(a))], atol=1e-3)
        # stroke ends stay where they were
        np.testing.assert_allclose(b[-1], a[-1], atol=1e-3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        hnp.arrays(
            np.float64,
            st.tuples(st.integers(1, 20), st.just(2)),
            elements=st.floats(-1e4, 1e4, allow_nan=False),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_lines_to_strokes3_to_lines_is_identity(lines):
    back = strokes3_to_lines(lines_to_strokes3(lines, dtype=np.float64))
    assert len(back) == len(lines)
    for a, b in zip(back, lines):
        np.testing.assert_allclose(a, b, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(sketches(max_size=30), st.integers(30, 40))
def test_strokes5_round_trip(s3, max_len):
    s5 = strokes3_to_strokes5(s3, max_len)
    np.testing.assert_array_equal(strokes5_to_strokes3(s5[1:]), s3)
