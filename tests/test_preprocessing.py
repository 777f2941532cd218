"""Scalers (against scikit-learn and by hand) and splits (exact tutorial rows, stratification)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import preprocessing as skp

from microgrid.data import load_wisconsin
from microgrid.data.preprocessing import (
    MinMaxScaler,
    StandardScaler,
    make_scaler,
    scaler_from_arrays,
    stratified_kfold,
    stratified_split,
    tutorial_split,
)

from strategies import floats_between

# Multiples of 1/8: a feature is either exactly constant or spread by >= 1/8 (scikit-learn treats
# a spread at rounding level as constant; this module divides by it).
matrices = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
                      elements=st.integers(-8000, 8000).map(lambda k: k / 8.0))
label_vectors = st.lists(st.integers(0, 1), min_size=4, max_size=200).filter(
    lambda v: min(v.count(0), v.count(1)) >= 2).map(np.array)


# ---- scalers -------------------------------------------------------------------------------


@pytest.mark.parametrize("ours, theirs", [(MinMaxScaler, skp.MinMaxScaler),
                                         (StandardScaler, skp.StandardScaler)])
@given(X=matrices)
def test_scalers_match_scikit_learn(ours, theirs, X):
    train, new = X[: max(1, len(X) // 2)], X[::-1] + 1.0
    s = ours().fit(train)
    ref = theirs().fit(train)
    np.testing.assert_allclose(s.transform(new), ref.transform(new), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(s.inverse_transform(s.transform(new)), new, rtol=1e-9, atol=1e-6)


def test_minmax_by_hand_uses_training_rows_only():
    train = np.array([[1.0, 5.0], [3.0, 5.0]])
    s = MinMaxScaler().fit(train)
    # column 0: (x - 1) / 2; column 1 is constant on the training rows: only shifted
    np.testing.assert_array_equal(s.transform(np.array([[2.0, 7.0], [5.0, 5.0]])), [[0.5, 2.0], [2.0, 0.0]])
    assert s.to_arrays()["min"].tolist() == [1.0, 5.0] and s.to_arrays()["max"].tolist() == [3.0, 5.0]


def test_standard_by_hand():
    s = StandardScaler().fit(np.array([[0.0], [2.0], [4.0]]))  # mean 2, population std sqrt(8/3)
    np.testing.assert_allclose(s.transform(np.array([[2.0 + np.sqrt(8 / 3)]])), [[1.0]], rtol=1e-15)


def test_wisconsin_minmax_on_tutorial_train_rows_is_the_tutorial_scaling():
    d = load_wisconsin()
    train, test = tutorial_split(len(d))
    s = MinMaxScaler().fit(d.X[train])
    np.testing.assert_allclose(s.transform(d.X[test]), (d.X[test] - 1.0) / 9.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["minmax", "standard"])
@given(X=matrices)
def test_to_and_from_arrays_round_trip(name, X):
    s = make_scaler(name).fit(X)
    saved = {k: v.copy() for k, v in s.to_arrays().items()}
    back = scaler_from_arrays(name, saved)
    np.testing.assert_array_equal(back.transform(X), s.transform(X))


def test_scaler_errors():
    with pytest.raises(ValueError, match="unknown scaler 'robust'; choose from minmax, standard"):
        make_scaler("robust")
    with pytest.raises(ValueError, match="call fit"):
        MinMaxScaler().transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN or infinite.*impute"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="fitted on 2 features, got 3"):
        MinMaxScaler().fit(np.ones((2, 2))).transform(np.ones((1, 3)))
    with pytest.raises(ValueError, match="2-D"):
        MinMaxScaler().fit(np.ones(3))
    with pytest.raises(ValueError, match="missing parameter"):
        scaler_from_arrays("standard", {"mean": np.zeros(2)})
    with pytest.raises(ValueError, match="one length"):
        scaler_from_arrays("minmax", {"min": np.zeros(2), "max": np.ones(3)})


# ---- splits --------------------------------------------------------------------------------


def test_tutorial_split_is_rows_0_499_and_501_682():
    train, test = tutorial_split(683)
    assert train.tolist() == list(range(500)) and test.tolist() == list(range(501, 683))
    assert len(test) == 182
    with pytest.raises(ValueError, match="more than 501 rows"):
        tutorial_split(501)


@given(y=label_vectors, test_size=floats_between(0.05, 0.95), seed=st.integers(0, 2**32))
def test_stratified_split_properties(y, test_size, seed):
    train, test = stratified_split(y, test_size, seed)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    for c in (0, 1):
        n_c, t_c = (y == c).sum(), (y[test] == c).sum()
        assert 1 <= t_c <= n_c - 1
        assert abs(t_c - test_size * n_c) <= 1  # rounding, or the at-least-one rule
    again = stratified_split(y, test_size, seed)
    assert np.array_equal(again[1], test)


def test_stratified_split_needs_two_rows_of_each_class():
    train, test = stratified_split(np.array([0, 0, 0, 1, 1]), 0.5, seed=0)
    assert sorted(np.concatenate([train, test]).tolist()) == [0, 1, 2, 3, 4]
    assert sorted(test[test >= 3].tolist() + train[train >= 3].tolist()) == [3, 4] and (test >= 3).sum() == 1
    with pytest.raises(ValueError, match="class 1 has 1 row; a stratified split needs at least 2 per class"):
        stratified_split(np.array([0, 0, 0, 1]), 0.5, seed=0)


def test_stratified_split_on_wisconsin():
    y = load_wisconsin().y
    train, test = stratified_split(y, 0.25, seed=0)
    assert (y[test] == 0).sum() == 111 and (y[test] == 1).sum() == 60  # round(0.25 * 444), round(0.25 * 239)
    other = stratified_split(y, 0.25, seed=1)[1]
    assert not np.array_equal(other, test)
    for bad in (0.0, 1.0, -0.1, "0.2"):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            stratified_split(y, bad)


@given(y=label_vectors, k=st.integers(2, 10), seed=st.integers(0, 2**32))
def test_stratified_kfold_properties(y, k, seed):
    if min((y == 0).sum(), (y == 1).sum()) < k:
        with pytest.raises(ValueError, match=f"cannot make {k} folds"):
            stratified_kfold(y, k, seed)
        return
    folds = stratified_kfold(y, k, seed)
    assert len(folds) == k
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(y)))  # every row tested exactly once
    for train, test in folds:
        assert np.array_equal(np.union1d(train, test), np.arange(len(y)))
        assert not np.intersect1d(train, test).size
        assert abs(len(test) - len(y) / k) < 1
        for c in (0, 1):
            assert abs((y[test] == c).sum() - (y == c).sum() / k) < 1
    again = stratified_kfold(y, k, seed)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))


def test_stratified_kfold_errors():
    y = np.array([0, 0, 0, 1, 1])
    for k in (1, 0, 2.0, True):
        with pytest.raises(ValueError, match="integer k >= 2"):
            stratified_kfold(y, k)
    with pytest.raises(ValueError, match="class 1 has only 2 rows: cannot make 3 folds"):
        stratified_kfold(y, 3)
    with pytest.raises(ValueError, match="cannot make 6 folds of 5 rows"):
        stratified_kfold(y, 6)
    one_class = np.zeros(3)  # k rows make k folds of one row each; k - 1 rows do not
    tests = [test.tolist() for _, test in stratified_kfold(one_class, 3)]
    assert sorted(tests) == [[0], [1], [2]]
    with pytest.raises(ValueError, match="cannot make 3 folds of 2 rows"):
        stratified_kfold(one_class[:2], 3)


@pytest.mark.parametrize("value", [0.1, 0.3, 1 / 3, 7.7, 123.456, 5.0])
def test_a_repeated_value_is_a_constant_column_whatever_its_binary_form(value):
    # the computed std of 0.1 repeated is ~1e-17, not 0: it must still count as constant
    X = np.array([[value, 1.0], [value, 2.0], [value, 4.0]])
    scaler = StandardScaler().fit(X)
    assert scaler.to_arrays()["std"][0] == 0.0 and scaler.to_arrays()["mean"][0] == value
    Z = scaler.transform(np.array([[value, 1.0], [value + 1e-9, 1.0]]))
    assert Z[0, 0] == 0.0 and abs(Z[1, 0] - 1e-9) < 1e-12  # only shifted, not divided by ~1e-17


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_parameters_that_overflow_are_refused_at_fit(scaler):
    with pytest.raises(ValueError, match=r"for feature 1, the (range max - min|standard deviation) \(inf\) "
                                         "overflows float64"):
        scaler().fit(np.array([[1.0, 1e308], [2.0, -1e308]]))


@pytest.mark.parametrize("split", [lambda y, **kw: stratified_split(y, **kw),
                                   lambda y, **kw: stratified_kfold(y, 2, **kw)])
def test_splits_refuse_nan_or_no_labels_and_unrepeatable_seeds(split):
    with pytest.raises(ValueError, match=r"labels contain NaN \(first at row 2\)"):
        split(np.array([0.0, 0.0, np.nan, 1.0, 1.0]))
    with pytest.raises(ValueError, match="labels are empty"):
        split(np.array([]))
    for seed, error in ((None, TypeError), (1.5, TypeError), (-1, ValueError), (True, TypeError)):
        with pytest.raises(error, match="seed must be a non-negative integer"):
            split(np.array([0, 0, 1, 1]), seed=seed)
