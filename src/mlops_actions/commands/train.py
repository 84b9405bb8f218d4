"""`mlops train-azureml`: reserved; the step is not part of this version yet."""

from __future__ import annotations

from mlops_actions.commands.pending import pending

COMMAND = pending("train-azureml", "Train locally or as an Azure ML job", aliases=("train",))
