"""`mlops drift-report`: reserved; the step is not part of this version yet."""

from __future__ import annotations

from mlops_actions.commands.pending import pending

COMMAND = pending("drift-report", "Data and prediction drift report")
