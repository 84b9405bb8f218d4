"""The parts of compare-champion: which models, how each is scored, the decision, the verdict.

`candidates` resolves what `--candidate` names and the champion to a `ModelRef`; `evaluation`
loads the holdout and scores a model on it; `decision` turns two sets of predictions into a
verdict (no I/O); `verdict` writes that verdict on the candidate's run and reads it back.
"""
