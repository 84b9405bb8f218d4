"""Data a new user might bring: not the example's, made here with a seed.

A churn table (classification: numbers, categories, yes/no text, missing values, an id column,
the label last) and a house-price table (regression). Both have signal a plain linear model finds
and noise it does not, so a retrain on the same data is a tie, never an improvement.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def churn(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 14.0, rows).round()
    charges = rng.normal(70, 25, rows).clip(15, 160).round(2)
    calls = rng.poisson(1.5, rows)
    contract = rng.choice(["monthly", "one-year", "two-year"], rows, p=[0.55, 0.25, 0.2])
    region = rng.choice(["north", "south", "east", "west"], rows)
    paperless = rng.choice(["yes", "no"], rows)
    logit = (
        -0.04 * tenure
        + 0.025 * (charges - 70)
        + 0.45 * calls
        + np.select([contract == "monthly", contract == "one-year"], [1.2, 0.0], -1.3)
        + rng.normal(0, 0.8, rows)
        - 0.3
    )
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{seed:02d}{i:06d}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "contract": contract,
            "region": region,
            "paperless_billing": paperless,
            "churned": (logit > 0).astype(int),
        }
    )
    frame.loc[rng.random(rows) < 0.04, "monthly_charges"] = np.nan
    return frame


def house_prices(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.lognormal(4.4, 0.35, rows).round(1)
    rooms = np.clip((area / 25 + rng.normal(0, 0.8, rows)).round(), 1, 9)
    age = rng.uniform(0, 90, rows).round()
    distance = rng.gamma(2.0, 3.0, rows).round(2)
    area_name = rng.choice(["old-town", "harbour", "suburb", "hills"], rows)
    premium = np.select(
        [area_name == "old-town", area_name == "harbour", area_name == "hills"], [60, 40, 25], 0
    )
    price = (
        2.9 * area + 8 * rooms - 0.5 * age - 6 * distance + premium + rng.normal(0, 18, rows) + 40
    ).round(1)
    return pd.DataFrame(
        {
            "listing_id": np.arange(100000, 100000 + rows),
            "area_m2": area,
            "rooms": rooms,
            "age_years": age,
            "distance_km": distance,
            "neighbourhood": area_name,
            "price_k": price,
        }
    )


def write_split(repo: Path, frame: pd.DataFrame, holdout_share: float = 0.25) -> None:
    """data/train.csv and data/holdout.csv, a random split of `frame`."""
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    cut = int(len(shuffled) * (1 - holdout_share))
    (repo / "data").mkdir(parents=True, exist_ok=True)
    shuffled.iloc[:cut].to_csv(repo / "data" / "train.csv", index=False)
    shuffled.iloc[cut:].to_csv(repo / "data" / "holdout.csv", index=False)
