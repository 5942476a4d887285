"""Safe persistence of fitted estimators through skops.

``momix.save`` writes a skops archive (a zip holding ``schema.json`` and one ``.npy`` file per
array; no pickle). ``momix.load`` reads the whole file once into memory, inspects that copy
without importing, constructing or calling anything, and hands the same bytes to
:func:`skops.io.loads` only when every check below passes. Anything else is refused with
:class:`UntrustedFileError` naming the reason, and nothing in the file runs.

What is trusted
---------------
Exact ``"module.qualname"`` names only (:data:`TRUSTED_TYPES`), never a prefix: the classes a
fitted momix estimator is made of, found by fitting every public estimator in its main
configurations (every Polymom component model including a custom sympy model, streaming and
``fit_moments`` fits, every ``random_state`` kind), saving it and walking its ``schema.json``
(``tests/test_io.py`` repeats that walk and fails when a fitted estimator needs a name outside
the list). They are

- momix's six estimators, Polymom's component models (whose saved state is plain numbers and
  symbol names, rebuilt without parsing any string, see :mod:`momix.polymom._state`) and the
  fitted parts the estimators hold (:data:`MOMIX_TYPES`);
- the containers and the string type skops writes for them (``builtins.dict``, ``list``,
  ``tuple``, ``str``);
- ``numpy.ndarray`` and numpy's numeric scalar types (arrays are read with
  ``allow_pickle=False``; a scalar attribute's type depends on the data and code path, so every
  numeric one is listed), ``numpy.random.RandomState``, ``numpy.random.Generator`` and the bit
  generators numpy ships (a ``random_state`` hyper-parameter may hold any of them).

Every name is a class; no function, method or module attribute that could run code
(``builtins.exec``, ``numpy.load``, ``os.system``, ...) is trusted. No scikit-learn class is
listed: momix estimators derive from ``BaseEstimator`` but hold no scikit-learn object, so a
scikit-learn estimator or pipeline saved with :func:`save` is refused by :func:`load`. A custom
Polymom model is saved as a :class:`~momix.polymom.ComponentModel` instance; an instance of a
user's own subclass is refused (its class is not momix's).

How a file is checked
---------------------
1. It is a zip archive whose member names are plain relative paths (no ``..``, no absolute
   path, no backslash, no duplicate), unencrypted, whose ``schema.json`` is at most
   :data:`MAX_SCHEMA_BYTES` and whose members together inflate by at most
   :data:`MAX_INFLATION_BYTES` beyond the archive's own size (a file written by ``momix.save``
   is stored uncompressed and always passes). Nothing is ever extracted to disk.
2. ``schema.json`` is JSON of skops protocol :data:`SKOPS_PROTOCOL`, nested at most
   :data:`MAX_DEPTH` levels deep.
3. Every node in it, at any depth, is one of the skops node kinds momix files use
   (:data:`TRUSTED_NODES`), and the ``__module__``/``__class__`` it names is one of the exact
   names that node kind may construct; a bit generator named inside a ``Generator`` state is
   checked the same way. Nodes that call or look up functions or attributes (skops's
   ``FunctionNode``, ``MethodNode``, ``PartialNode``, ``OperatorFuncNode``, ``ReduceNode``,
   ``ConstructorFromReduceNode``, ...) never occur in momix files and are refused. This walk
   does not rely on :func:`skops.io.get_untrusted_types`, which leaves out the types skops
   trusts by default (every ufunc, every scikit-learn estimator, ...).
4. Two nodes sharing an object id are identical (skops reuses the first one for both), so the
   checked content is the content that gets built.
5. Every array member is a ``.npy`` file (format 1.0 or 2.0) with a non-object dtype whose
   header matches its length.

A file momix refuses can still be inspected with :func:`skops.io.get_untrusted_types` and
loaded with :func:`skops.io.load` by someone who has reviewed it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

__all__ = [
    "save",
    "load",
    "UntrustedFileError",
    "TRUSTED_TYPES",
    "TRUSTED_NODES",
    "MOMIX_TYPES",
    "SKOPS_PROTOCOL",
    "MAX_SCHEMA_BYTES",
    "MAX_INFLATION_BYTES",
    "MAX_DEPTH",
]

#: momix classes a fitted estimator is made of (skops ``ObjectNode``: built with ``__new__``,
#: then ``__setstate__`` or ``__dict__.update`` with the stored attributes)
MOMIX_TYPES: frozenset[str] = frozenset({
    # the public estimators
    "momix.lowrank._estimator.LowRankGaussianMixture",
    "momix.polymom._estimator.Polymom",
    "momix.polymom._mlr.MixtureOfLinearRegressions",
    "momix.softmax._estimator.SoftmaxMixture",
    "momix.diffusion._estimator.ScoreMatchingMixture",
    "momix.expansion._estimator.GMMExpansion",
    "momix.mixture.GaussianMixture",
    # Polymom component models (``model`` / ``model_``)
    "momix.polymom._model.ComponentModel",
    "momix.polymom._builtin.Gaussian1D",
    "momix.polymom._builtin.GaussianDiagonal",
    "momix.polymom._builtin.GaussianSpherical",
    "momix.polymom._builtin.LinearRegression",
    "momix.polymom._builtin.MultiView",
    "momix.polymom._builtin.Poisson",
    # fitted parts of ScoreMatchingMixture
    "momix.diffusion._cells.CrudeMixture",
    "momix.diffusion._features.Whitening",
    "momix.diffusion._regression.CellPolynomial",
    "momix.diffusion._regression.LevelScore",
    "momix.diffusion._sampler.PiecewisePolynomialScore",
    # fitted parts of GMMExpansion
    "momix.expansion._bandwidth.BandwidthSearch",
    "momix.expansion._levels.Level",
    "momix.expansion._whiten.Whitening",
})

#: numpy array and numeric scalar types (skops ``NdArrayNode``: ``np.load(...,
#: allow_pickle=False)``, then the scalar type applied to the loaded value)
_ARRAY_TYPES: frozenset[str] = frozenset({
    "numpy.ndarray",
    "numpy.bool",
    "numpy.bool_",  # the name of numpy.bool before numpy 2
    "numpy.int8", "numpy.int16", "numpy.int32", "numpy.int64", "numpy.longlong",
    "numpy.uint8", "numpy.uint16", "numpy.uint32", "numpy.uint64", "numpy.ulonglong",
    "numpy.float16", "numpy.float32", "numpy.float64", "numpy.longdouble",
    "numpy.complex64", "numpy.complex128", "numpy.clongdouble",
})

#: bit generators a ``numpy.random.Generator`` state may name (looked up in ``numpy.random``)
_BIT_GENERATOR_TYPES: frozenset[str] = frozenset({
    "numpy.random.MT19937",
    "numpy.random.PCG64",
    "numpy.random.PCG64DXSM",
    "numpy.random.Philox",
    "numpy.random.SFC64",
})

#: skops node kind -> the exact names it may construct; any other node kind is refused
TRUSTED_NODES: Mapping[str, frozenset[str]] = MappingProxyType({
    "ObjectNode": MOMIX_TYPES,
    "DictNode": frozenset({"builtins.dict"}),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    # JSON scalars (skops records them all as ``builtins.str``); the name is not used
    "JsonNode": frozenset({"builtins.str"}),
    # the key types of a dict
    "TypeNode": frozenset({"builtins.str"}),
    "NdArrayNode": _ARRAY_TYPES,
    "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
    "RandomGeneratorNode": frozenset({"numpy.random._generator.Generator"}),
})

#: every name a momix file may contain: exact ``module.qualname`` strings, never a prefix
TRUSTED_TYPES: frozenset[str] = frozenset().union(*TRUSTED_NODES.values(), _BIT_GENERATOR_TYPES)

#: the skops file protocol whose node kinds were reviewed for :data:`TRUSTED_NODES`; skops
#: builds older protocols' nodes with other classes, so files claiming them are refused
SKOPS_PROTOCOL = 2

#: largest ``schema.json`` accepted, in bytes (a 10-feature Gaussian Polymom model's schema
#: is about 24 MB)
MAX_SCHEMA_BYTES = 128 * 2**20

#: how many bytes the archive's members may inflate to beyond the archive's own size
MAX_INFLATION_BYTES = 2**30

#: deepest JSON nesting accepted in ``schema.json`` (momix files: at most 22 levels)
MAX_DEPTH = 100

_SAFE_MEMBER = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*\Z")
_NODE_KEYS = ("__class__", "__module__", "__loader__")


class UntrustedFileError(ValueError):
    """A model file that momix refuses to load.

    Raised when the file is not a readable skops archive (not a zip, truncated, corrupt,
    oversized, unsafe member names, another skops protocol) or when it names a type, function
    or node kind outside momix's exact allowlist (:data:`TRUSTED_TYPES`, :data:`TRUSTED_NODES`).
    The message names the offending types or the defect.
    """


def save(estimator, path: str | Path) -> Path:
    """Save a (fitted) estimator to ``path`` as a skops archive and return the path.

    Parameters
    ----------
    estimator : object
        A momix estimator, fitted or not.
    path : str or Path
        Target file; ``.skops`` is the conventional suffix.

    Returns
    -------
    path : Path
        The path written.

    Notes
    -----
    The archive is stored uncompressed; :func:`load` reads back only files made of the types
    in :data:`TRUSTED_TYPES`.
    """
    import skops.io as sio

    path = Path(path)
    sio.dump(estimator, path)
    return path


def load(path: str | Path):
    """Load an estimator saved by :func:`save`, refusing anything outside the allowlist.

    The file is read once; that copy is checked (see the module docstring) before skops
    constructs anything from it, so a file that names ``builtins.exec``, ``os.system`` or an
    unknown module never gets to import or call it.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`save`.

    Returns
    -------
    estimator : object
        The loaded estimator.

    Raises
    ------
    FileNotFoundError
        If nothing exists at ``path``.
    UntrustedFileError
        For anything else that is not a valid momix model file: a directory or unreadable
        path, a file that is not a sound skops archive, or one naming a type, function or node
        kind outside :data:`TRUSTED_TYPES` / :data:`TRUSTED_NODES` (the message names them).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    if not path.is_file():
        raise UntrustedFileError(f"{path} is not a momix model file: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UntrustedFileError(f"{path} is not a readable momix model file: {exc}") from exc
    names = _checked_names(data, path)

    import skops.io as sio

    try:
        return sio.loads(data, trusted=sorted(names))
    except Exception as exc:  # the checked tree does not build (inconsistent state)
        raise UntrustedFileError(
            f"{path} is not a valid momix model file: {type(exc).__name__}: {exc}"
        ) from exc


# ---------------------------------------------------------------------------------------
# inspection of the archive (reads only; imports, constructs and calls nothing)
# ---------------------------------------------------------------------------------------


class _Defect(Exception):
    """The archive is malformed (not a trust decision: the file is not a sound skops file)."""


def _checked_names(data: bytes, path: Path) -> set[str]:
    """Every type name in the archive ``data``, after all the checks of the module docstring."""
    try:
        names, unknown = _inspect(data)
    except _Defect as exc:
        raise UntrustedFileError(f"{path} is not a readable momix model file: {exc}") from None
    except Exception as exc:  # anything the zip / JSON / npy readers raise on garbage
        raise UntrustedFileError(
            f"{path} is not a readable momix model file: {type(exc).__name__}: {exc}"
        ) from exc
    if unknown:
        raise UntrustedFileError(
            f"{path} names types that momix does not trust: {', '.join(sorted(unknown))}; "
            "refusing to load it"
        )
    return names


def _inspect(data: bytes) -> tuple[set[str], set[str]]:
    """(trusted names found, refused names found) of a skops archive; raises ``_Defect``."""
    if not data:
        raise _Defect("the file is empty")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise _Defect(f"not a zip archive ({exc})") from None
    with archive:
        members = _check_members(archive, len(data))
        schema = _read_schema(archive, members["schema.json"])
        nodes = _nodes(schema)
        found: set[str] = set()
        refused: set[str] = set()
        for node in nodes:
            for name in _node_names(node, refused):
                (found if name in TRUSTED_TYPES else refused).add(name)
        if refused:  # reported first: the names are what the user needs to see
            return found, refused
        _check_shared_ids(nodes)
        for node in nodes:
            if node["__loader__"] == "NdArrayNode":
                _check_array(archive, node, members)
    return found, refused


def _check_members(archive: zipfile.ZipFile, archive_size: int) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    members = {}
    for info in infos:
        name = info.filename
        if not _SAFE_MEMBER.match(name) or any(part in (".", "..") for part in name.split("/")):
            raise _Defect(f"unsafe member name {name!r} in the archive")
        if name in members:
            raise _Defect(f"the archive holds {name!r} twice")
        if info.flag_bits & 0x1:
            raise _Defect(f"member {name!r} is encrypted")
        members[name] = info
    if "schema.json" not in members:
        raise _Defect("no schema.json in the archive")
    if members["schema.json"].file_size > MAX_SCHEMA_BYTES:
        raise _Defect(
            f"schema.json inflates to {members['schema.json'].file_size} bytes, more than "
            f"the {MAX_SCHEMA_BYTES} accepted"
        )
    inflated = sum(info.file_size for info in infos)
    if inflated > archive_size + MAX_INFLATION_BYTES:
        raise _Defect(
            f"the members inflate to {inflated} bytes from a {archive_size}-byte archive "
            f"(at most {MAX_INFLATION_BYTES} bytes of inflation are accepted)"
        )
    return members


def _read_schema(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    raw = archive.read(info)
    try:
        schema = json.loads(raw)
    except RecursionError:
        raise _Defect("schema.json is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _Defect(f"schema.json is not JSON ({exc})") from None
    if not isinstance(schema, dict):
        raise _Defect("schema.json does not hold a JSON object")
    protocol = schema.get("protocol")
    if type(protocol) is not int or protocol != SKOPS_PROTOCOL:
        raise _Defect(
            f"skops protocol {protocol!r} in schema.json; momix reads protocol {SKOPS_PROTOCOL}"
        )
    return schema


def _nodes(schema: dict) -> list[dict]:
    """Every node (a JSON object with a ``__loader__`` key) in ``schema``, at any depth.

    Every JSON object and array is visited, whatever key holds it, so no node skops could
    build from the file escapes the check. Iterative, with the depth bounded by
    :data:`MAX_DEPTH`.
    """
    nodes = []
    stack: list[tuple[object, int]] = [(schema, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Defect(f"schema.json is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            if "__loader__" in value:
                nodes.append(value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    if not nodes or nodes[0] is not schema:
        raise _Defect("schema.json has no root node")
    return nodes


def _check_shared_ids(nodes: list[dict]) -> None:
    """skops builds a node whose ``__id__`` it has already seen as that earlier node.

    Refuse files where two nodes share an id but differ in anything other than the ids inside
    them: then, by induction over the nesting, every part skops builds has the content checked
    here, and no node refers to one of its ancestors (it would have to equal a strict part of
    itself).
    """
    for node in nodes:
        if "__id__" in node and type(node["__id__"]) is not int:
            raise _Defect(f"a node has the object id {node['__id__']!r}, not an integer")
    counts = Counter(node["__id__"] for node in nodes if "__id__" in node)
    cache: dict[int, bytes] = {}
    first: dict[int, bytes] = {}
    for node in nodes:
        key = node.get("__id__")
        if key is None or counts[key] < 2:
            continue
        if first.setdefault(key, _digest(node, cache)) != _digest(node, cache):
            raise _Defect(f"two different nodes share the object id {key}")


def _digest(value, cache: dict[int, bytes]) -> bytes:
    """Hash of a JSON value ignoring ``__id__`` keys (each object and array hashed once)."""
    if not isinstance(value, (dict, list)):
        return hashlib.blake2b(b"v" + json.dumps(value).encode(), digest_size=16).digest()
    if id(value) in cache:
        return cache[id(value)]
    h = hashlib.blake2b(b"d" if isinstance(value, dict) else b"l", digest_size=16)
    if isinstance(value, dict):
        for k in sorted(value):
            if k != "__id__":
                h.update(_digest(k, cache))
                h.update(_digest(value[k], cache))
    else:
        for item in value:
            h.update(_digest(item, cache))
    cache[id(value)] = h.digest()
    return cache[id(value)]


def _node_names(node: dict, refused: set[str]) -> list[str]:
    """The exact names skops will import for ``node``; records refused node kinds."""
    for key in _NODE_KEYS:
        if not isinstance(node.get(key), str):
            raise _Defect(f"a node has no string {key}")
    loader, module, cls = node["__loader__"], node["__module__"], node["__class__"]
    name = f"{module}.{cls}"
    allowed = TRUSTED_NODES.get(loader)
    if allowed is None:
        refused.add(f"{name} (as a skops {loader})")
        return []
    if "." in cls:  # skops would look up the dotted attribute path in the module
        refused.add(f"{name} (class {cls!r} of module {module!r})")
        return []
    if name not in allowed:
        # a trusted name under the wrong node kind is refused under its node kind, so the
        # message shows the misuse rather than an apparently trusted name
        refused.add(name if name not in TRUSTED_TYPES else f"{name} (as a skops {loader})")
        return []
    names = [name]
    if loader == "RandomGeneratorNode":
        names.append(_bit_generator_name(node))
    elif loader == "NdArrayNode" and node.get("type") != "numpy":
        raise _Defect(f"an array of storage type {node.get('type')!r} (momix stores 'numpy')")
    return names


def _bit_generator_name(node: dict) -> str:
    """The ``numpy.random`` class a Generator's state names (skops calls it with a seed)."""
    try:
        value = json.loads(node["content"]["bit_generator"]["content"]["bit_generator"]["content"])
    except (KeyError, TypeError, ValueError):
        raise _Defect("a numpy Generator state without a bit generator name") from None
    if not isinstance(value, str):
        raise _Defect("a numpy Generator state whose bit generator name is not a string")
    name = f"numpy.random.{value}"
    return name if name in _BIT_GENERATOR_TYPES else f"{name} (as a bit generator)"


def _check_array(archive: zipfile.ZipFile, node: dict, members: dict) -> None:
    """The ``.npy`` member of an array node: present, non-object dtype, length as declared."""
    member = node.get("file")
    if not isinstance(member, str) or member not in members:
        raise _Defect(f"an array refers to the missing member {member!r}")
    info = members[member]
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise _Defect(f"array {member!r} has .npy format {version}")
        header = fh.tell()
    if dtype.hasobject:
        raise _Defect(f"array {member!r} has the object dtype {dtype}")
    expected = header + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if info.file_size != expected:
        raise _Defect(
            f"array {member!r} holds {info.file_size} bytes, its header declares {expected}"
        )
