"""One rule decides the positive class, for the gate and for monitoring alike."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_actions.errors import InputError
from mlops_actions.labels import positive_class


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([0, 1, 1, 0], 1),
        ([False, True], True),
        (["0", "1"], "1"),
        ([1, 2, 2, 1], 2),  # the case where the gate and monitoring used to disagree
        (["no", "yes"], "yes"),
        ([0, 0, 0], 1),  # a window of negatives only still knows its positive label
    ],
)
def test_the_rule_without_configuration(labels: list[object], expected: object) -> None:
    assert positive_class(np.array(labels)) == expected


def test_the_gate_and_monitoring_agree_on_labels_1_and_2() -> None:
    gate = positive_class(np.array([1, 2]), model_classes=[1, 2], where="target 'y'")
    monitoring = positive_class(np.array([1, 2, 2]), multiclass_ok=True, strict=False)
    assert gate == monitoring == 2


def test_configuration_wins_and_must_be_a_label_when_strict() -> None:
    assert positive_class(np.array([1, 2]), configured=1) == 1
    with pytest.raises(InputError, match="positive_class 3 is not a value of"):
        positive_class(np.array([1, 2]), configured=3)
    assert positive_class(np.array([1]), configured=2, strict=False) == 2


def test_more_than_two_classes_need_configuration() -> None:
    with pytest.raises(InputError, match="which one is positive"):
        positive_class(np.array(["a", "b", "c"]), where="target 'y'")
    assert positive_class(np.array(["a", "b", "c"]), multiclass_ok=True) is None
