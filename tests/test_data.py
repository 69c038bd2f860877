"""Datasets: validation with precise errors, merging, and the batch loader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from sketchart.data.datasets import (
    BatchLoader,
    load_datasets,
    load_npz,
    split_counts,
    stratified_split,
)
from sketchart.data.npzsafe import write_npz
from sketchart.errors import SketchartError
from sketchart.strokes import START_TOKEN, strokes5_to_strokes3

NPZ = {
    "aaron_sheep.npz": (7400, 300, 300),
    "omniglot.npz": (30000, 1000, 1000),
    "short_kanji.npz": (10000, 600, 500),
    "kanji.rdp100.npz": (10358, 600, 500),
}


@pytest.fixture(scope="module")
def sheep(sheep_npz):
    return load_npz(sheep_npz)


@pytest.mark.parametrize("name", sorted(NPZ))
def test_real_npz_load_and_validate(name):
    data = load_npz(shared_path("data", "sketchrnn", name))
    assert (len(data.train), len(data.valid), len(data.test)) == NPZ[name]
    assert data.class_names == [name[:-4]]
    assert data.train[0].dtype == np.float32 and data.train[0].shape[1] == 3
    assert (data.train_labels == 0).all()


def test_sheep_facts(sheep):
    assert sheep.max_len() == 250
    assert sheep.scale_factor() == pytest.approx(18.5198, abs=5e-5)
    assert np.mean([len(s) for s in sheep.train]) == pytest.approx(125, abs=1)


def _objects(items):
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr


def _write(tmp_path, train):
    # plain numpy writes what our own writer would refuse
    one = _objects([np.array([[1, 1, 1]])])
    np.savez(tmp_path / "d.npz", train=_objects(train), valid=one, test=one)
    return tmp_path / "d.npz"


@pytest.mark.parametrize(
    "sketch,match",
    [
        (
            np.array([[1.0, np.nan, 0], [1, 1, 1]]),
            r"split 'train', sketch 1: non-finite value in row 0",
        ),
        (np.array([[1.0, 1, 2]]), r"split 'train', sketch 1: pen value 2.0 in row 0"),
        (np.zeros((0, 3)), r"split 'train', sketch 1: empty sketch"),
        (np.zeros((4, 2)), r"split 'train', sketch 1: expected shape \[n, 3\], got \[4, 2\]"),
    ],
)
def test_bad_sketches_name_file_split_index(tmp_path, sketch, match):
    path = _write(tmp_path, [np.array([[1, 1, 1]]), sketch])
    with pytest.raises(SketchartError, match=f"d.npz: {match}") as err:
        load_npz(path)
    assert "\n" not in str(err.value)


def test_skip_bad_leaves_out_bad_sketches_with_their_labels(tmp_path):
    good = np.array([[1, 1, 1]])
    one = _objects([good])
    other = np.array([[2, 3, 1]])
    train = _objects([good, np.array([[np.inf, 0, 1]]), other, np.array([[1, 1, 5]])])
    np.savez(
        tmp_path / "d.npz",
        train=train,
        valid=one,
        test=one,
        train_labels=np.array([0, 1, 1, 0]),
        valid_labels=np.array([0]),
        test_labels=np.array([1]),
        class_names=np.array(["a", "b"]),
    )
    with pytest.raises(SketchartError, match="sketch 1: non-finite"):
        load_npz(tmp_path / "d.npz")
    data = load_npz(tmp_path / "d.npz", skip_bad=True)
    assert len(data.train) == 2 and data.train_labels.tolist() == [0, 1]
    np.testing.assert_array_equal(data.train[1], other)
    assert len(data.skipped) == 2
    assert "sketch 1: non-finite" in data.skipped[0]
    assert "sketch 3: pen value 5" in data.skipped[1]


def test_missing_keys_and_non_sketch_arrays(tmp_path):
    path = write_npz(tmp_path / "k.npz", {"train": [np.ones((2, 3))]}, dtype="int16")
    with pytest.raises(SketchartError, match="k.npz: missing key.*valid, test"):
        load_npz(path)
    plain = tmp_path / "p.npz"
    np.savez(plain, train=np.ones((5, 3)), valid=np.ones(3), test=np.ones(3))
    with pytest.raises(SketchartError, match="p.npz: split 'train' must be a 1-D array"):
        load_npz(plain)


def test_truncated_file_is_one_line_error(tmp_path, sheep_npz):
    cut = tmp_path / "cut.npz"
    cut.write_bytes(sheep_npz.read_bytes()[:100_000])
    with pytest.raises(SketchartError, match="cut.npz: truncated or corrupt") as err:
        load_npz(cut)
    assert "\n" not in str(err.value)


def test_load_datasets_merges_with_labels():
    paths = [shared_path("data", "sketchrnn", n) for n in ("short_kanji.npz", "omniglot.npz")]
    data = load_datasets(paths)
    assert data.class_names == ["short_kanji", "omniglot"]
    assert len(data.train) == 40000 and len(data.valid) == 1600 and len(data.test) == 1500
    np.testing.assert_array_equal(np.bincount(data.train_labels), [10000, 30000])
    np.testing.assert_array_equal(np.bincount(data.test_labels), [500, 1000])
    # the label follows its sketch
    assert data.train_labels[10000] == 1 and data.train_labels[9999] == 0
    with pytest.raises(SketchartError):
        load_datasets([])


def test_multiclass_file_labels_offset_when_merged(tmp_path, sheep_npz):
    one = np.array([[1, 1, 1]])
    path = write_npz(
        tmp_path / "two.npz",
        {"train": [one] * 4, "valid": [one], "test": [one]},
        {
            "train_labels": np.array([0, 1, 1, 0]),
            "valid_labels": np.array([1]),
            "test_labels": np.array([0]),
            "class_names": np.array(["cat", "bus"]),
        },
    )
    data = load_datasets([sheep_npz, path])
    assert data.class_names == ["aaron_sheep", "cat", "bus"]
    np.testing.assert_array_equal(data.train_labels[-4:], [1, 2, 2, 1])
    np.testing.assert_array_equal(data.valid_labels[-1:], [2])


def _loader(sheep, **kw):
    args = {
        "batch_size": 100,
        "max_seq_len": 250,
        "scale_factor": sheep.scale_factor(),
        "seed": 1,
    }
    args.update(kw)
    return BatchLoader(sheep.train, sheep.train_labels, **args)


def test_random_batch_is_the_references(sheep):
    loader = _loader(sheep, random_scale_factor=0.15, augment_stroke_prob=0.1)
    assert loader.num_batches == 74 and loader.num_dropped == 0
    batch = loader.random_batch()
    assert batch.strokes5.shape == (100, 251, 5) and batch.strokes5.dtype == np.float32
    assert batch.lengths.dtype == np.int32 and batch.steps == 251
    assert (batch.strokes5[:, 0] == START_TOKEN).all()
    assert len(set(batch.indices.tolist())) == 100  # no repeats within a batch
    # replay the reference's steps with the same generator: permutation, then per sketch
    # random_scale (2 draws) and augment_strokes (one draw per row), then pad
    from sketchart.strokes import augment_strokes, pad_batch, random_scale

    rng = np.random.default_rng(1)
    idx = rng.permutation(len(loader))[:100]
    np.testing.assert_array_equal(idx, batch.indices)
    expected = [
        augment_strokes(random_scale(loader.strokes3[i], 0.15, rng), 0.1, rng) for i in idx
    ]
    strokes5, lengths = pad_batch(expected, 250)
    np.testing.assert_array_equal(batch.strokes5, strokes5)
    np.testing.assert_array_equal(batch.lengths, lengths)
    # augmentation only shortens
    assert (batch.lengths <= loader.lengths[batch.indices]).all()


def test_preprocess_normalises_clamps_and_sorts(sheep):
    loader = _loader(sheep)
    assert (np.diff(loader.lengths) >= 0).all()
    pooled = np.concatenate([s[:, 0:2].ravel() for s in loader.strokes3])
    assert np.std(pooled) == pytest.approx(1.0, abs=1e-5)
    wild = [np.array([[5000, -5000, 0], [1, 2, 1]], np.float32)]
    small = BatchLoader(wild, batch_size=1, max_seq_len=5, scale_factor=10.0, seed=0)
    np.testing.assert_allclose(small.strokes3[0], [[100, -100, 0], [0.1, 0.2, 1]])


def test_max_seq_len_filter_reports_dropped(sheep):
    loader = _loader(sheep, max_seq_len=100)
    expected = sum(len(s) > 100 for s in sheep.train)
    assert loader.num_dropped == expected > 0
    assert len(loader) == len(sheep.train) - expected
    assert loader.random_batch().strokes5.shape == (100, 101, 5)
    with pytest.raises(SketchartError, match="cannot fill a batch of 100"):
        BatchLoader(sheep.valid[:50], batch_size=100).random_batch()


def test_deterministic_under_seed_and_state_resume(sheep):
    a = _loader(sheep, random_scale_factor=0.15, augment_stroke_prob=0.1, seed=7)
    b = _loader(sheep, random_scale_factor=0.15, augment_stroke_prob=0.1, seed=7)
    for _ in range(3):
        np.testing.assert_array_equal(a.random_batch().strokes5, b.random_batch().strokes5)
    state = json.loads(json.dumps(a.get_state()))
    expected = [a.random_batch() for _ in range(2)]
    c = _loader(sheep, random_scale_factor=0.15, augment_stroke_prob=0.1, seed=999)
    c.set_state(state)
    for e in expected:
        got = c.random_batch()
        np.testing.assert_array_equal(got.strokes5, e.strokes5)
        np.testing.assert_array_equal(got.labels, e.labels)
    other = _loader(sheep, seed=8).random_batch()
    assert not np.array_equal(other.indices, expected[0].indices)
    with pytest.raises(SketchartError, match="bad data loader state"):
        c.set_state({"bit_generator": "MT19937"})


def test_eval_batches_cover_the_split_once(sheep):
    loader = BatchLoader(
        sheep.test, sheep.test_labels, batch_size=64, scale_factor=sheep.scale_factor()
    )
    batches = list(loader.eval_batches())
    assert len(batches) == loader.num_eval_batches == 5
    assert [b.num_real for b in batches] == [64, 64, 64, 64, 44]
    assert all(b.strokes5.shape == (64, 251, 5) for b in batches)
    real = np.concatenate([b.indices[: b.num_real] for b in batches])
    np.testing.assert_array_equal(np.sort(real), np.arange(300))
    assert batches[-1].mask.sum() == 44
    # unaugmented: rows are exactly the normalised sketches
    b0 = batches[0]
    for row in range(3):
        i = b0.indices[row]
        np.testing.assert_array_equal(
            strokes5_to_strokes3(b0.strokes5[row, 1:]), loader.strokes3[i]
        )


def test_bucketed_batches_have_similar_lengths_and_uniform_use(sheep):
    loader = _loader(sheep, bucketed=True, num_buckets=10)
    spans, seen = [], np.zeros(len(loader))
    for _ in range(60):
        batch = loader.random_batch()
        assert batch.steps == batch.lengths.max() + 1
        assert batch.strokes5[:, batch.steps :, 4].all()  # nothing but padding is cut
        spans.append(np.ptp(loader.lengths[batch.indices]))
        seen[batch.indices] += 1
    full = _loader(sheep).random_batch()
    assert np.median(spans) < np.ptp(loader.lengths[full.indices]) / 3
    # every bucket was visited: sketches from short and long ends were drawn
    assert seen[:740].sum() > 0 and seen[-740:].sum() > 0


def test_split_counts_and_stratified_split():
    assert split_counts(8000, 0.0375, 0.0375) == (7400, 300, 300)
    assert split_counts(350, 0.05, 0.05) == (100, 100, 100)
    with pytest.raises(SketchartError, match="need at least 300"):
        split_counts(250, 0.05, 0.05)
    rng = np.random.default_rng(0)
    classes = [[rng.integers(0, 9, (5, 3)) for _ in range(n)] for n in (700, 2100, 1234)]
    splits, left = stratified_split(classes, valid_fraction=0.1, test_fraction=0.1, seed=3)
    sizes = {k: len(v[0]) for k, v in splits.items()}
    assert sizes == {"train": 3200, "valid": 400, "test": 400}
    assert left == 4034 - 4000
    for _, labels in splits.values():
        share = np.bincount(labels, minlength=3) / len(labels)
        np.testing.assert_allclose(share, [700 / 4034, 2100 / 4034, 1234 / 4034], atol=0.01)
    # no sketch in two splits
    ids = [id(s) for v in splits.values() for s in v[0]]
    assert len(ids) == len(set(ids))
