"""Data set containers, random_split and DataLoader: batching, shuffling, drop_last, fast path."""

import math
from collections import namedtuple

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def make_dataset(n=10, channels=1, size=3):
    """Images whose pixels all equal their index, so a batch tells which samples it holds."""
    images = np.repeat(np.arange(n, dtype=np.float32), channels * size * size)
    images = images.reshape(n, channels, size, size)
    labels = np.arange(n, dtype=np.int64) % 3
    return TensorDataset(tc.tensor(images), tc.tensor(labels))


class ListDataset(Dataset):
    """A plain Python data set (no fast path): sample i is (i as a (2,) array, i, {'id': i})."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(2, i, dtype=np.float32), i, {"id": float(i)}


def batch_ids(batch):
    """The sample indices in a batch from make_dataset (every pixel holds its index)."""
    return batch[0].numpy()[:, 0, 0, 0].astype(int).tolist()


# -- containers ------------------------------------------------------------------------------

def test_tensor_dataset_indexing_and_length():
    ds = make_dataset(5)
    assert len(ds) == 5
    image, label = ds[3]
    assert image.shape == (1, 3, 3) and float(image.numpy()[0, 0, 0]) == 3.0
    assert label.shape == () and int(label) == 0
    assert float(ds[-1][0].numpy()[0, 0, 0]) == 4.0
    with pytest.raises(IndexError, match="out of range"):
        ds[5]


def test_tensor_dataset_checks_first_dimensions():
    with pytest.raises(ValueError, match=r"same size in the first dimension.*\(4, 2\), \(3,\)"):
        TensorDataset(tc.zeros(4, 2), tc.zeros(3))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(TypeError, match="must be a Tensor"):
        TensorDataset(tc.zeros(3), [1, 2, 3])


def test_tensor_dataset_accepts_numpy_arrays_without_copy():
    array = np.arange(6, dtype=np.float32).reshape(3, 2)
    ds = TensorDataset(array)
    array[0, 0] = 42
    assert float(ds[0][0].numpy()[0]) == 42


def test_subset_and_concat():
    ds = make_dataset(6)
    sub = Subset(ds, [4, 1, 1])
    assert len(sub) == 3
    assert [float(sub[i][0].numpy()[0, 0, 0]) for i in range(3)] == [4, 1, 1]
    assert Subset(ds, tc.tensor([2, 0])).indices.tolist() == [2, 0]
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        Subset(ds, [0, 6])
    both = ConcatDataset([Subset(ds, [0, 1]), ds])
    assert len(both) == 8
    assert float(both[2][0].numpy()[0, 0, 0]) == 0 and float(both[7][0].numpy()[0, 0, 0]) == 5
    assert len(ds + ds) == 12


@pytest.mark.parametrize("lengths, expected", [([3, 7], [3, 7]), ([0.5, 0.5], [5, 5]),
                                               ([0.34, 0.33, 0.33], [4, 3, 3]),
                                               ([1.0, 0.0], [10, 0])])
def test_random_split_lengths_partition(lengths, expected):
    parts = random_split(make_dataset(10), lengths, generator=0)
    assert [len(p) for p in parts] == expected
    indices = np.concatenate([p.indices for p in parts])
    assert sorted(indices.tolist()) == list(range(10))  # disjoint, and covers everything


def test_random_split_is_reproducible():
    ds = make_dataset(20)
    first = [p.indices.tolist() for p in random_split(ds, [15, 5], generator=7)]
    again = [p.indices.tolist() for p in random_split(ds, [15, 5],
                                                      generator=np.random.default_rng(7))]
    assert first == again
    tc.manual_seed(1)
    a = random_split(ds, [0.5, 0.5])[0].indices.tolist()
    tc.manual_seed(1)
    b = random_split(ds, [0.5, 0.5])[0].indices.tolist()
    assert a == b  # the same seed, the same split


def test_random_split_rejects_bad_lengths():
    with pytest.raises(ValueError, match="sum to the data set's length 10"):
        random_split(make_dataset(10), [3, 3])
    with pytest.raises(ValueError, match="fractions"):
        random_split(make_dataset(10), [0.5, 0.6])
    with pytest.raises(TypeError, match="generator must be"):
        random_split(make_dataset(10), [5, 5], generator="seed")


# -- DataLoader ------------------------------------------------------------------------------

@pytest.mark.parametrize("n, batch_size", [(10, 3), (9, 3), (2, 5), (1, 1), (0, 4)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_len_and_batch_sizes(n, batch_size, drop_last):
    loader = DataLoader(make_dataset(n), batch_size=batch_size, drop_last=drop_last)
    expected = n // batch_size if drop_last else math.ceil(n / batch_size)
    assert len(loader) == expected
    batches = list(loader)
    assert len(batches) == expected
    sizes = [b[0].shape[0] for b in batches]
    if drop_last:
        assert all(s == batch_size for s in sizes)
    elif sizes:
        assert sizes[:-1] == [batch_size] * (len(sizes) - 1)
        assert sizes[-1] == n - batch_size * (len(sizes) - 1)


def test_batches_are_tensors_in_order_without_shuffle():
    loader = DataLoader(make_dataset(7), batch_size=3)
    images, labels = next(iter(loader))
    assert isinstance(images, tc.Tensor) and images.shape == (3, 1, 3, 3)
    assert images.dtype == tc.float32 and labels.dtype == tc.int64 and labels.shape == (3,)
    assert [batch_ids(b) for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]


def test_shuffle_visits_every_sample_once_and_differs_per_epoch():
    loader = DataLoader(make_dataset(50), batch_size=8, shuffle=True, generator=0)
    epoch1 = [i for b in loader for i in batch_ids(b)]
    epoch2 = [i for b in loader for i in batch_ids(b)]
    assert sorted(epoch1) == sorted(epoch2) == list(range(50))
    assert epoch1 != epoch2  # a new permutation each epoch


def test_shuffle_with_int_seed_is_reproducible_across_loaders():
    def two_epochs(generator):
        loader = DataLoader(make_dataset(30), batch_size=4, shuffle=True, generator=generator)
        return [[batch_ids(b) for b in loader] for _ in range(2)]

    assert two_epochs(5) == two_epochs(5)
    assert two_epochs(5) == two_epochs(np.random.default_rng(5))
    assert two_epochs(5) != two_epochs(6)


def test_shuffle_follows_manual_seed():
    def epoch():
        loader = DataLoader(make_dataset(30), batch_size=4, shuffle=True)
        return [batch_ids(b) for b in loader]

    tc.manual_seed(123)
    first = epoch()
    tc.manual_seed(123)
    assert epoch() == first
    # the permutation is what the library generator draws: check against a direct computation
    tc.manual_seed(123)
    order = np.random.default_rng(123).permutation(30)
    assert [i for batch in first for i in batch] == order.tolist()


def test_drop_last_with_shuffle_drops_one_partial_batch():
    loader = DataLoader(make_dataset(10), batch_size=4, shuffle=True, drop_last=True, generator=3)
    ids = [batch_ids(b) for b in loader]
    assert [len(b) for b in ids] == [4, 4] and len(set(sum(ids, []))) == 8


def test_fast_path_equals_per_sample_stacking():
    ds = make_dataset(11, channels=2)
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, generator=9))
    slow = list(DataLoader(ds, batch_size=4, shuffle=True, generator=9,
                           collate_fn=default_collate))
    for (fx, fy), (sx, sy) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype


def test_subset_of_tensor_dataset_keeps_the_fast_path():
    train, _ = random_split(make_dataset(12), [8, 4], generator=0)
    loader = DataLoader(train, batch_size=8)
    assert loader._fetch_batch is not None
    assert batch_ids(next(iter(loader))) == train.indices.tolist()


def test_batches_do_not_alias_the_data_set():
    ds = make_dataset(4)
    images, _ = next(iter(DataLoader(ds, batch_size=4)))
    images.data[:] = -1  # a training step writing into its inputs must not corrupt the data set
    assert float(ds[0][0].numpy()[0, 0, 0]) == 0


def test_collate_of_plain_python_samples():
    loader = DataLoader(ListDataset(5), batch_size=2, shuffle=False)
    arrays, ints, dicts = next(iter(loader))
    np.testing.assert_array_equal(arrays.numpy(), [[0, 0], [1, 1]])
    assert ints.dtype == tc.int64 and ints.tolist() == [0, 1]
    assert dicts["id"].dtype == tc.float32 and dicts["id"].tolist() == [0.0, 1.0]
    assert len(loader) == 3


def test_default_collate_structures():
    Pair = namedtuple("Pair", "x y")
    batch = default_collate([Pair(tc.ones(2), 1), Pair(tc.zeros(2), 2)])
    assert isinstance(batch, Pair) and batch.x.shape == (2, 2) and batch.y.tolist() == [1, 2]
    assert default_collate(["a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="equal shapes"):
        default_collate([tc.ones(2), tc.ones(3)])


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(make_dataset(3), batch_size=0)
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        DataLoader(object())
    with pytest.raises(TypeError, match="generator must be"):
        DataLoader(make_dataset(3), generator=1.5)
