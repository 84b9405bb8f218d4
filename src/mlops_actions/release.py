"""Where this release of mlops-actions lives, and the commit consumer templates pin by default.

`PINNED_REF` is a commit of mlops-actions that contains the reusable workflows; the release process
moves it forward. `mlops init` pins to the commit it was installed from when it can tell, else to
this one, and `--ref` overrides both.
"""

ACTION_REPOSITORY = "mlops-actions/mlops-actions"
PINNED_REF = "ad40867b0f0b560d7229fcf335e9ccb3f0b7cd37"
