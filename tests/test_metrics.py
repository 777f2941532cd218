"""Classification metrics against hand-computed cases and against scikit-learn."""

import math

import numpy as np
import pytest
from hypothesis import given
from sklearn import metrics as skm

from microgrid.data import metrics as M

from strategies import labels_and_scores

# 10 rows; at threshold 0.5: TP = 3 (rows 0, 1, 2), FN = 1 (row 3), FP = 2 (rows 4, 5), TN = 4
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.6, 0.4, 0.7, 0.5, 0.3, 0.2, 0.1, 0.1])


def test_hand_computed_counts_and_ratios():
    pred = (P >= 0.5).astype(int)
    assert M.confusion_matrix(Y, pred).tolist() == [[4, 2], [1, 3]]
    assert M.accuracy(Y, pred) == 7 / 10
    assert M.precision(Y, pred) == 3 / 5
    assert M.recall(Y, pred) == M.sensitivity(Y, pred) == 3 / 4
    assert M.specificity(Y, pred) == 4 / 6
    assert M.f1_score(Y, pred) == pytest.approx(2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4), rel=1e-15)


def test_hand_computed_auc_and_log_loss():
    # positives 0.9, 0.8, 0.6, 0.4 against negatives 0.7, 0.5, 0.3, 0.2, 0.1, 0.1:
    # 0.9 and 0.8 beat all 6; 0.6 beats 5; 0.4 beats 4  ->  (6 + 6 + 5 + 4) / 24
    assert M.roc_auc(Y, P) == pytest.approx(21 / 24, rel=1e-15)
    expected = -(np.log([0.9, 0.8, 0.6, 0.4]).sum() + np.log([0.3, 0.5, 0.7, 0.8, 0.9, 0.9]).sum()) / 10
    assert M.log_loss(Y, P) == pytest.approx(expected, rel=1e-14)


def test_auc_ties_count_one_half():
    # pairs (pos, neg): (.5, .5) tie -> 1/2; (.5, .2) -> 1; (.8, .5) -> 1; (.8, .2) -> 1
    assert M.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8]) == 3.5 / 4
    assert M.roc_auc([0, 1, 1, 0], [0.3, 0.3, 0.3, 0.3]) == 0.5
    assert M.roc_auc([1, 0], [0.2, 0.9]) == 0.0


def test_log_loss_clips_certain_mistakes():
    hi = 1.0 - 1e-15  # the clip bounds [1e-15, 1 - 1e-15]
    worst = -(math.log(1e-15) + math.log1p(-hi)) / 2
    assert M.log_loss([1, 0], [0.0, 1.0]) == pytest.approx(worst, rel=1e-14)
    best = -(math.log(hi) + math.log1p(-1e-15)) / 2
    assert M.log_loss([1, 0], [1.0, 0.0]) == pytest.approx(best, rel=1e-14)
    assert M.log_loss([1], [0.0], eps=1e-3) == pytest.approx(-math.log(1e-3), rel=1e-14)


def test_undefined_ratios_are_nan():
    m = M.binary_metrics(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]))
    assert m["accuracy"] == 1.0 and m["specificity"] == 1.0
    for name in ("precision", "recall", "f1", "roc_auc"):
        assert math.isnan(m[name]), name


def test_binary_metrics_collects_everything():
    m = M.binary_metrics(Y, P)
    assert (m["tn"], m["fp"], m["fn"], m["tp"], m["n"]) == (4, 2, 1, 3, 10)
    assert set(M.METRIC_NAMES) <= set(m)
    assert m["roc_auc"] == M.roc_auc(Y, P) and m["accuracy"] == 0.7
    assert M.binary_metrics(Y, P, threshold=0.65)["tp"] == 2


@given(data=labels_and_scores())
def test_against_scikit_learn(data):
    y, s = data
    pred = (s >= 0.5).astype(int)
    ours = M.binary_metrics(y, s)
    nan = np.nan
    ref = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=nan),
        "recall": skm.recall_score(y, pred, zero_division=nan),
        "specificity": skm.recall_score(1 - y, 1 - pred, zero_division=nan),
        "f1": skm.f1_score(y, pred, zero_division=nan),
        "roc_auc": skm.roc_auc_score(y, s),
    }
    for name, value in ref.items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-12, err_msg=name)
    assert M.confusion_matrix(y, pred).tolist() == skm.confusion_matrix(y, pred, labels=[0, 1]).tolist()
    inner = np.clip(s, 1e-6, 1 - 1e-6)  # away from the clip, where the two libraries' eps differ
    np.testing.assert_allclose(M.log_loss(y, inner), skm.log_loss(y, inner, labels=[0, 1]), rtol=1e-12)


@given(data=labels_and_scores(ties=False))
def test_auc_without_ties_against_scikit_learn(data):
    y, s = data
    np.testing.assert_allclose(M.roc_auc(y, s), skm.roc_auc_score(y, s), rtol=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: M.accuracy([0, 2], [0, 1]), "y_true must contain only 0 and 1, found 2"),
        (lambda: M.accuracy([0, 1], [0, 1, 1]), r"y_true has shape \(2,\) but y_pred has shape \(3,\)"),
        (lambda: M.accuracy([], []), "y_true is empty"),
        (lambda: M.accuracy([[0, 1]], [[0, 1]]), "y_true must be 1-D"),
        (lambda: M.precision([0, 1], [0.5, 1]), "y_pred must contain only 0 and 1, found 0.5"),
        (lambda: M.roc_auc([0, 1], [0.1, np.nan]), "NaN or infinite"),
        (lambda: M.log_loss([0, 1], [0.1, 1.5]), r"probabilities in \[0, 1\]"),
    ],
)
def test_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("eps", [0.5, 0.6, -1e-3, float("nan"), "1e-15"])
def test_log_loss_refuses_a_clip_that_is_not_one(eps):
    with pytest.raises(ValueError, match="eps must be a number in"):
        M.log_loss([1, 0], [0.9, 0.1], eps=eps)


@pytest.mark.parametrize("threshold", [0.0, 1.0, float("nan"), "0.5", -0.5])
def test_binary_metrics_refuses_a_threshold_outside_0_1(threshold):
    with pytest.raises(ValueError, match="threshold must be a number strictly between 0 and 1"):
        M.binary_metrics([1, 0], [0.9, 0.1], threshold=threshold)
