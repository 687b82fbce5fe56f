"""The small tables from the course slides, embedded so the first models need no files.

There is nothing to hold out in a table of a few rows, so the train and test splits are the same.
"""

from __future__ import annotations

import numpy as np

_BOOL_X = [[0, 0], [0, 1], [1, 0], [1, 1]]

# name -> (x rows, y rows); y rows are (N, 1) targets except softmax-table's class ids.
_TABLES: dict[str, tuple[list[list[int]], list[list[int]] | list[int]]] = {
    "linear": ([[1], [2], [3]], [[1], [2], [3]]),
    "linear-2d": ([[1, 1], [2, 2], [3, 3]], [[10], [20], [30]]),
    "logistic-table": (
        [[1, 2], [2, 3], [3, 1], [4, 3], [5, 3], [6, 2]],
        [[0], [0], [0], [1], [1], [1]],
    ),
    # The slide's one-hot rows [0,0,1] x3, [0,1,0] x3, [1,0,0] x2, as class ids (A, B, C = 0, 1, 2).
    "softmax-table": (
        [
            [1, 2, 1, 1],
            [2, 1, 3, 2],
            [3, 1, 3, 4],
            [4, 1, 5, 5],
            [1, 7, 5, 5],
            [1, 2, 5, 6],
            [1, 6, 6, 6],
            [1, 7, 7, 7],
        ],
        [2, 2, 2, 1, 1, 1, 0, 0],
    ),
    "xor": (_BOOL_X, [[0], [1], [1], [0]]),
    "and": (_BOOL_X, [[0], [0], [0], [1]]),
    "or": (_BOOL_X, [[0], [1], [1], [1]]),
}

TABLE_NAMES: tuple[str, ...] = tuple(_TABLES)


def read_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Fresh float32 x and y arrays of a table (y is int64 class ids for softmax-table)."""
    x, y = _TABLES[name]
    y_dtype = np.int64 if np.ndim(y) == 1 else np.float32  # flat y rows are class ids
    return np.array(x, dtype=np.float32), np.array(y, dtype=y_dtype)
