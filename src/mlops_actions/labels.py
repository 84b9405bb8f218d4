"""Which label is the positive class: one rule for the gate and for monitoring.

1. `evaluate.positive_class` when it is set (it must be one of the labels);
2. `1` for 0/1 labels, `True` for boolean ones (in the labels' own type);
3. else, of exactly two classes (the model's `classes_` when known, else the labels sorted),
   the second: scikit-learn's convention (`pos_label = classes_[1]`), so {1, 2} gives 2 and
   {"no", "yes"} gives "yes" whether or not a model is at hand.
More than two classes and nothing configured: an InputError, or None with `multiclass_ok`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlops_actions.errors import InputError


def positive_class(
    labels: Sequence[object] | np.ndarray,
    *,
    configured: object | None = None,
    model_classes: Sequence[object] | None = None,
    where: str = "the target",
    multiclass_ok: bool = False,
    strict: bool = True,
) -> object | None:
    """The positive label among `labels` (missing values ignored); raises InputError when it
    cannot be told (see the module's rule), or when `strict` and `configured` is not one of
    the labels (monitoring is not strict: a window may hold negatives only)."""
    from mlops_actions.metrics import label_is

    values = np.asarray([v for v in np.unique(np.asarray(labels, dtype=object)) if v == v])
    if configured is not None:
        if not label_is(values, configured).any():
            if not strict:
                return configured
            raise InputError(
                f"evaluate.positive_class {configured!r} is not a value of {where} "
                f"(values: {listing(values.tolist())});",
                hint="set it to the label of the positive class.",
            )
        return _matching(values, configured)
    as_set = {str(v).lower() for v in values}
    if values.size and (as_set <= {"0", "1"} or as_set <= {"false", "true"}):
        wanted: object = 1 if as_set <= {"0", "1"} else True
        return _matching(values, wanted) if label_is(values, wanted).any() else wanted
    classes = list(model_classes) if model_classes is not None else _sorted(values.tolist())
    if len(classes) == 2:
        found = classes[1]
        return found.item() if hasattr(found, "item") else found
    if multiclass_ok or not values.size:
        return None
    raise InputError(
        f"{where} has labels {listing(values.tolist())}: which one is positive?",
        hint="set evaluate.positive_class in mlops.yaml.",
    )


def listing(values: Sequence[object], limit: int = 12) -> str:
    """Values for a message: the first `limit`, then how many more."""
    shown = [str(c) for c in list(values)[:limit]]
    more = len(values) - len(shown)
    return ", ".join(shown) + (f", … ({more} more)" if more > 0 else "")


def _sorted(values: list[object]) -> list[object]:
    try:
        return sorted(values)  # type: ignore[type-var]
    except TypeError:  # mixed types
        return sorted(values, key=str)


def _matching(values: np.ndarray, wanted: object) -> object:
    from mlops_actions.metrics import label_is

    hits = values[label_is(values, wanted)]
    return hits[0].item() if hasattr(hits[0], "item") else hits[0]
