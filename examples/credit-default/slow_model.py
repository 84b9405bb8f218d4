"""A model wrapper whose every prediction takes `delay_ms` longer: the demo's broken model.

It stands for a model too slow for its latency budget (an expensive feature lookup, a model far
bigger than the last one). It scores exactly as the model it wraps, so it passes the offline
comparison; only serving shows the problem: the smoke test's latency budget or the canary's latency
analysis stops it, and the rollout is rolled back.
`train.py --serving-delay-ms N` logs it, with this file as code so the served model can load it.
"""

from __future__ import annotations

import time
from typing import Any


class SlowModel:
    """Delegates to `model`, sleeping `delay_ms` before each predict / predict_proba call."""

    def __init__(self, model: Any, delay_ms: float) -> None:
        self.model = model
        self.delay_ms = delay_ms

    @property
    def classes_(self) -> Any:
        return self.model.classes_

    def _wait(self) -> None:
        time.sleep(self.delay_ms / 1000.0)

    def predict(self, features: Any) -> Any:
        self._wait()
        return self.model.predict(features)

    def predict_proba(self, features: Any) -> Any:
        self._wait()
        return self.model.predict_proba(features)
