"""Seeded synthetic credit-default data: train, holdout and a "current" production batch.

The label comes from a fixed logistic relation over numeric and categorical features, so a model
can learn it and a drifted batch (`--drift`) changes the inputs the way real applicants drift:
higher utilisation, more short-tenure applicants, a different mix of loan purposes.

    python generate_data.py                 # data/train.csv, data/holdout.csv, data/current.csv
    python generate_data.py --drift 1.0     # current batch drifted
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

PURPOSES = ["debt_consolidation", "credit_card", "home_improvement", "car", "business", "education"]
HOME = ["rent", "mortgage", "own"]
EMPLOYMENT = ["salaried", "self_employed", "contract", "unemployed"]
REGIONS = ["north", "south", "east", "west"]


def make_frame(
    n: int, rng: np.random.Generator, *, drift: float = 0.0, start_id: int = 0
) -> pd.DataFrame:
    """`n` applications; `drift` in [0, 1] shifts the input distributions."""
    age = np.clip(rng.normal(41 - 6 * drift, 11, n), 18, 85).round()
    income = np.round(np.exp(rng.normal(10.9 - 0.15 * drift, 0.45, n)), -2)
    loan_amount = np.round(np.exp(rng.normal(9.4 + 0.2 * drift, 0.6, n)), -2)
    history = np.clip(rng.gamma(4.0, 30 * (1 - 0.4 * drift), n), 0, 600).round()
    utilisation = np.clip(rng.beta(2 + 2 * drift, 5 - 2 * drift, n), 0, 1).round(4)
    open_accounts = rng.poisson(5 + 2 * drift, n)
    late_payments = rng.poisson(0.4 + 0.6 * drift, n)
    employment_years = np.clip(rng.exponential(6 * (1 - 0.3 * drift), n), 0, 45).round(1)
    dti = np.clip((loan_amount / 36 * 12) / income + rng.normal(0.15, 0.05, n), 0, 2).round(4)
    purpose_p = np.array([0.35, 0.2, 0.15, 0.12, 0.1, 0.08])
    purpose_p = purpose_p * (1 - drift) + np.array([0.2, 0.15, 0.1, 0.1, 0.3, 0.15]) * drift
    purpose = rng.choice(PURPOSES, n, p=purpose_p / purpose_p.sum())
    home = rng.choice(HOME, n, p=[0.4, 0.45, 0.15])
    employment = rng.choice(EMPLOYMENT, n, p=[0.7, 0.15, 0.12, 0.03])
    region = rng.choice(REGIONS, n)
    term = rng.choice(["36m", "60m"], n, p=[0.7, 0.3])

    logit = (
        -2.2
        + 2.8 * (utilisation - 0.3)
        + 1.6 * (dti - 0.35)
        + 0.55 * late_payments
        - 0.004 * (history - 100)
        - 0.025 * (age - 40)
        - 0.35 * (np.log(income) - 10.9)
        + 0.08 * (open_accounts - 5)
        - 0.03 * employment_years
        + np.select(
            [purpose == "business", purpose == "education", purpose == "car"], [0.5, 0.3, -0.3], 0.0
        )
        + np.select([home == "own", home == "rent"], [-0.3, 0.2], 0.0)
        + np.select([employment == "unemployed", employment == "contract"], [1.2, 0.3], 0.0)
        + np.where(term == "60m", 0.35, 0.0)
    )
    default = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "application_id": np.arange(start_id, start_id + n),
            "age": age.astype(int),
            "income": income,
            "loan_amount": loan_amount,
            "credit_history_months": history.astype(int),
            "utilisation": utilisation,
            "open_accounts": open_accounts,
            "late_payments_12m": late_payments,
            "employment_years": employment_years,
            "debt_to_income": dti,
            "purpose": purpose,
            "home_ownership": home,
            "employment_type": employment,
            "region": region,
            "term": term,
            "default": default,
        }
    )


def generate(
    out: Path,
    *,
    seed: int = 7,
    n_train: int = 8000,
    n_holdout: int = 2000,
    n_current: int = 2000,
    drift: float = 0.0,
) -> dict[str, Path]:
    """Write train/holdout/current CSVs under `out`; the same seed gives the same bytes."""
    rng = np.random.default_rng(seed)
    frames = {
        "train": make_frame(n_train, rng),
        "holdout": make_frame(n_holdout, rng, start_id=n_train),
        "current": make_frame(n_current, rng, drift=drift, start_id=n_train + n_holdout),
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in frames.items():
        paths[name] = out / f"{name}.csv"
        frame.to_csv(paths[name], index=False, lineterminator="\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows", type=int, default=8000, help="training rows")
    parser.add_argument("--drift", type=float, default=0.0, help="drift of the current batch, 0..1")
    args = parser.parse_args()
    paths = generate(
        args.out,
        seed=args.seed,
        n_train=args.rows,
        n_holdout=args.rows // 4,
        n_current=args.rows // 4,
        drift=args.drift,
    )
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
