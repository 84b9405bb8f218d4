"""`mlops compare-champion`: reserved; the step is not part of this version yet."""

from __future__ import annotations

from mlops_actions.commands.pending import pending

COMMAND = pending("compare-champion", "Score challenger vs champion on the holdout")
