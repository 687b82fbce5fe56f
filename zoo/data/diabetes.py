"""The course's Pima diabetes CSV: 8 features scaled to [-1, 1] and a 0/1 label, no header.

The course trains and evaluates on the same file; here every fifth row (index % 5 == 4) is held
out as the test split, so the split is deterministic and needs no random seed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from zoo.data.files import corrupt

# The Pima columns, in the file's order: what a person fills in, before the course's scaling of
# each column by its minimum and maximum to [-1, 1] (the first row is 6 pregnancies, glucose 148,
# blood pressure 72, ...). Skin fold is the triceps' in mm, insulin the 2-hour serum's, pedigree the
# diabetes pedigree function.
FEATURES = (
    "pregnancies",
    "glucose",
    "blood pressure",
    "skin fold",
    "insulin",
    "BMI",
    "pedigree",
    "age",
)
_COLUMNS = len(FEATURES) + 1  # and the label


def read_csv(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the CSV and return the split's float32 features (N, 8) and labels (N, 1)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file is reported below
            table = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as err:
        raise corrupt(path, f"not a numeric CSV ({err})") from err
    if table.shape[0] == 0 or table.shape[1] != _COLUMNS:
        raise corrupt(
            path, f"{table.shape[1]} columns in {table.shape[0]} rows, expected {_COLUMNS}"
        )
    labels = table[:, -1]
    if not np.isin(labels, (0.0, 1.0)).all():
        raise corrupt(path, "the last column (the label) holds values other than 0 and 1")
    test = np.arange(len(table)) % 5 == 4
    rows = table[test] if split == "test" else table[~test]
    return np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, -1:])
