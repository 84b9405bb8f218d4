"""The pieces of a canary rollout, split by what they do (`steps.canary_deploy` drives them).

- `results` — what a rollout records (phases, checks, the shadow comparison) and how it ended;
- `rollout` — the `Rollout`: its state, the primitives every phase uses, and the order of phases
  with the rollback guarantee;
- `phases` — creating the deployment at 0 %, the smoke test, traffic steps, promotion;
- `shadow` — mirrored traffic and the comparison with the live deployment;
- `analysis` — holding a split while reading the deployment's metrics against the limits;
- `probe` — the step's own traffic, for analysis with `analysis.source: probe`;
- `rollback` — traffic back on the champion, verified, and removing deployments;
- `signals` — SIGTERM as an abort, and no signal while rolling back.
"""
