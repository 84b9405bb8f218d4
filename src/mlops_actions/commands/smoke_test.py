"""`mlops smoke-test`: reserved; the step is not part of this version yet."""

from __future__ import annotations

from mlops_actions.commands.pending import pending

COMMAND = pending("smoke-test", "Smoke-test a deployment, including prediction parity")
