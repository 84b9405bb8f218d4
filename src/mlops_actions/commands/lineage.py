"""`mlops lineage`: reserved; the step is not part of this version yet."""

from __future__ import annotations

from mlops_actions.commands.pending import pending

COMMAND = pending("lineage", "Print the lineage of a run or model version")
