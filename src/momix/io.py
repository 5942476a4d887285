"""Safe persistence of fitted estimators through skops.

``momix.save`` writes a skops archive (no pickle). ``momix.load`` reads the types the file
asks for before loading anything, and loads it only if every type is momix's own, numpy's
or scikit-learn's; anything else (a crafted file naming ``os.system``, say) is refused with
:class:`UntrustedFileError` and nothing in the file runs.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["save", "load", "UntrustedFileError", "TRUSTED_PREFIXES"]

#: module prefixes whose types a momix file may contain
TRUSTED_PREFIXES = ("momix.", "numpy.", "sklearn.", "builtins.")


class UntrustedFileError(ValueError):
    """A model file names types outside momix, numpy and scikit-learn."""


def save(estimator, path: str | Path) -> Path:
    """Save a (fitted) estimator to ``path`` as a skops archive and return the path.

    Parameters
    ----------
    estimator : object
        Any momix estimator (or a scikit-learn object made of trusted types).
    path : str or Path
        Target file; ``.skops`` is the conventional suffix.
    """
    import skops.io as sio

    path = Path(path)
    sio.dump(estimator, path)
    return path


def _is_trusted(name: str) -> bool:
    return name.startswith(TRUSTED_PREFIXES)


def load(path: str | Path):
    """Load an estimator saved by :func:`save`, refusing untrusted types.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    UntrustedFileError
        If the file names a type outside momix, numpy and scikit-learn.
    """
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        types = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a corrupt archive or not a skops file at all
        raise UntrustedFileError(f"{path} is not a readable momix model file: {exc}") from None
    refused = sorted(t for t in types if not _is_trusted(t))
    if refused:
        raise UntrustedFileError(
            f"{path} names types that momix does not trust: {', '.join(refused)}; "
            "refusing to load it"
        )
    return sio.load(path, trusted=list(types))
