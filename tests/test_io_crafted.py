"""Crafted model files: every one is refused with ``UntrustedFileError`` and nothing runs.

The files are written by hand (a zip holding ``schema.json`` and ``.npy`` members, in the
layout ``momix.save`` produces; see ``_real`` below). Payloads would create a marker file and
set the environment variable ``MOMIX_PWNED`` if anything in them ran; every test asserts that
neither happens, and ``test_payloads_are_live`` shows that skops does run the same payloads
when told to trust them. The last tests go through the ``momix`` command line.
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

import momix
import momix.io
from momix.cli import main
from momix.io import UntrustedFileError
from momix.polymom import Gaussian1D, Polymom

ENV = "MOMIX_PWNED"

# ---------------------------------------------------------------------------------------
# building files by hand
# ---------------------------------------------------------------------------------------


def _json(value) -> dict:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def _tuple(*items) -> dict:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
            "content": list(items)}


def _list(*items) -> dict:
    return {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
            "content": list(items)}


def _dict(**items) -> dict:
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
            "content": items, "key_types": _list(*[_type("builtins.str")] * len(items))}


def _type(name: str) -> dict:
    module, _, cls = name.rpartition(".")
    return {"__class__": cls, "__module__": module, "__loader__": "TypeNode"}


def _node(loader: str, name: str, **fields) -> dict:
    module, _, cls = name.rpartition(".")
    return {"__class__": cls, "__module__": module, "__loader__": loader, **fields}


def _write(path: Path, schema: dict, members: dict[str, bytes] | None = None,
           compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("schema.json", json.dumps(schema))
        for name, data in (members or {}).items():
            zf.writestr(name, data)
    return path


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=array.dtype.hasobject)
    return buf.getvalue()


@pytest.fixture(scope="module")
def real():
    """schema.json and members of a fitted Polymom (component model, arrays, RandomState)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1)) + 4.0 * rng.integers(0, 2, 200)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = Polymom(Gaussian1D(), 2, max_iter=5,
                      random_state=np.random.RandomState(0)).fit(X)
    buf = io.BytesIO()
    sio.dump(est, buf)
    with zipfile.ZipFile(buf) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "schema.json"}
        schema = json.loads(zf.read("schema.json"))
    return schema, members


@pytest.fixture(scope="module")
def real_generator():
    """schema.json and members of a fitted GMMExpansion holding a numpy Generator."""
    X = np.random.default_rng(1).normal(size=(100, 2))
    est = momix.GMMExpansion(n_grid=4, bandwidth=0.5,
                             random_state=np.random.default_rng(0)).fit(X)
    buf = io.BytesIO()
    sio.dump(est, buf)
    with zipfile.ZipFile(buf) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "schema.json"}
        schema = json.loads(zf.read("schema.json"))
    return schema, members


def _paths(value, path=()):
    """(path, node) of every node in a schema."""
    if isinstance(value, dict):
        if "__loader__" in value:
            yield path, value
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _replace(schema: dict, path: tuple, node: dict) -> dict:
    out = copy.deepcopy(schema)
    if not path:
        return {**node, "protocol": out["protocol"], "_skops_version": out["_skops_version"]}
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = node
    return out


def _deepest(schema: dict) -> tuple:
    return max((p for p, _ in _paths(schema)), key=len)


def _estimator_attrs(schema: dict) -> dict:
    return schema["content"]["content"]


@pytest.fixture
def canary(tmp_path, monkeypatch):
    """The marker file a payload would create; also clears the payload's env variable."""
    monkeypatch.delenv(ENV, raising=False)
    marker = tmp_path / "pwned"
    yield marker
    time.sleep(0.05)  # a payload started as a child process would have written by now
    assert not marker.exists(), "a payload ran"
    assert ENV not in os.environ, "a payload ran"


def _code(marker: Path) -> str:
    """Python code, valid for both exec and eval, that leaves both traces."""
    return (f"(open({str(marker)!r}, 'w').close(), "
            f"__import__('os').environ.__setitem__({ENV!r}, '1'))")


class _Pickled:
    """An object whose unpickling runs code (for a .npy file only numpy.load would unpickle)."""

    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return exec, (self.code,)


def _arguments(name: str, marker: Path) -> list[dict]:
    """Argument nodes with which ``name`` would leave the traces when called."""
    if name in ("builtins.exec", "builtins.eval", "builtins.compile"):
        return [_json(_code(marker))] + ([_json("<x>"), _json("eval")]
                                        if name == "builtins.compile" else [])
    if name == "os.system":
        return [_json(f"touch {marker}; true")]
    if name == "subprocess.Popen":
        return [_list(_json("touch"), _json(str(marker)))]
    if name == "numpy.load":
        evil = marker.with_name("evil.npy")
        np.save(evil, np.array([_Pickled(_code(marker))], dtype=object), allow_pickle=True)
        return [_json(str(evil)), _json(None), _json(True)]
    if name == "builtins.getattr":
        return [_json("text"), _json("upper")]
    return [_json(_code(marker))]


def _payload(kind: str, name: str, marker: Path, real_npy: str) -> dict:
    """A node that would import, look up or call ``name`` in the way skops's ``kind`` does."""
    args = _arguments(name, marker)
    if kind == "constructor":  # name(*args)
        return _node("ConstructorFromReduceNode", name, content=_tuple(*args))
    if kind == "loss":  # name(*args), then __setstate__
        return _node("LossNode", name, __reduce__={"args": _tuple(*args)}, content=_dict())
    if kind == "list":  # name([items])
        items = args[0]["content"] if args[0]["__loader__"] == "ListNode" else args
        return _node("ListNode", name, content=items)
    if kind == "object":  # name.__new__(name), then state
        return _node("ObjectNode", name, content=_dict(state=args[0]))
    if kind == "function":  # the function object itself
        return _node("FunctionNode", name)
    if kind == "type":  # import of the module, then the attribute
        return _type(name)
    if kind == "method":  # getattr(an object of type name, "__call__")
        obj = _node("ObjectNode", name)
        return _node("MethodNode", name, content={"func": "__call__", "obj": obj})
    if kind == "partial":  # functools.partial(name, *args)
        return _node("PartialNode", "functools.partial", content={
            "func": _node("FunctionNode", name), "args": _tuple(*args), "kwds": _dict(),
            "namespace": _json(None)})
    if kind == "array":  # name(loaded array)
        return _node("NdArrayNode", name, type="numpy", file=real_npy)
    if kind == "randomstate":  # name(), then set_state
        return _node("RandomStateNode", name, content=_dict())
    raise AssertionError(kind)


NAMES = ["builtins.exec", "builtins.eval", "builtins.compile", "numpy.load", "os.system",
         "subprocess.Popen", "builtins.getattr"]
KINDS = ["constructor", "loss", "list", "object", "function", "type", "method", "partial",
         "array", "randomstate"]
PLACES = ["root", "deep", "attribute"]


def _crafted(real, tmp_path, kind, name, place, marker) -> Path:
    schema, members = real
    npy = next(n for n in members if n.endswith(".npy"))
    payload = _payload(kind, name, marker, npy)
    if place == "root":
        schema = _replace(schema, (), payload)
    elif place == "deep":
        schema = _replace(schema, _deepest(schema), payload)
    else:
        schema = copy.deepcopy(schema)
        _estimator_attrs(schema)["evil_"] = payload
        schema["content"]["key_types"]["content"].append(_type("builtins.str"))
    return _write(tmp_path / f"{kind}-{place}.skops", schema, members)


# ---------------------------------------------------------------------------------------
# dangerous names, in every node kind and place
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", NAMES)
def test_dangerous_name_is_refused(real, tmp_path, canary, name, kind, place):
    path = _crafted(real, tmp_path, kind, name, place, canary)
    with pytest.raises(UntrustedFileError, match=name.replace(".", r"\.")):
        momix.load(path)


def test_the_deep_place_is_deep(real):
    path = _deepest(real[0])
    assert len(path) >= 12 and "observations" in path


@pytest.mark.parametrize("kind,name", [
    ("constructor", "builtins.exec"), ("constructor", "builtins.eval"),
    ("constructor", "os.system"), ("list", "subprocess.Popen"),
    ("constructor", "numpy.load"), ("loss", "builtins.exec"),
])
def test_payloads_are_live(real, tmp_path, monkeypatch, kind, name):
    """Control: skops runs these payloads once told to trust them (momix never does)."""
    monkeypatch.delenv(ENV, raising=False)
    marker = tmp_path / "pwned"
    path = _crafted(real, tmp_path, kind, name, "deep", marker)
    untrusted = sio.get_untrusted_types(file=path)
    assert name in untrusted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sio.load(path, trusted=untrusted)
        except Exception:  # the state around the payload need not build once it has run
            pass
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()


@pytest.fixture
def evil_module(tmp_path, monkeypatch, canary):
    """A module on sys.path whose import leaves the traces."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "momix_evilmod.py").write_text(
        f"{_code(canary)}\nclass Payload:\n    pass\n")
    monkeypatch.syspath_prepend(str(folder))
    yield "momix_evilmod.Payload"
    assert "momix_evilmod" not in sys.modules


@pytest.mark.parametrize("kind", KINDS)
def test_importable_module_with_side_effects_is_never_imported(real, tmp_path, evil_module,
                                                              canary, kind):
    path = _crafted(real, tmp_path, kind, evil_module, "deep", canary)
    with pytest.raises(UntrustedFileError, match="momix_evilmod"):
        momix.load(path)


# ---------------------------------------------------------------------------------------
# unknown names, near-misses of trusted names, trusted names in the wrong node kind
# ---------------------------------------------------------------------------------------

_POLYMOM = "momix.polymom._estimator.Polymom"


@pytest.mark.parametrize("loader,module,cls,shown", [
    ("ObjectNode", "momix", "X", "momix.X"),
    ("ObjectNode", "momix.polymom", "X", "momix.polymom.X"),
    ("ObjectNode", "nosuchmodule", "Y", "nosuchmodule.Y"),
    ("ObjectNode", "momix.polymom._estimator", "Polymom.__init__.__globals__",
     "momix.polymom._estimator.Polymom.__init__.__globals__"),
    ("ObjectNode", "momix.polymom._estimator.Polymom.__init__", "__globals__",
     "momix.polymom._estimator.Polymom.__init__.__globals__"),
    ("ObjectNode", "momix.polymom", "_estimator.Polymom", "momix.polymom._estimator.Polymom"),
    ("ObjectNode", "momix.polymom._estimator", "PolymomX", "momix.polymom._estimator.PolymomX"),
    ("ObjectNode", "momix.polymom._estimator", "polymom", "momix.polymom._estimator.polymom"),
    ("ObjectNode", "momix.polymom._estimator", "np", "momix.polymom._estimator.np"),
    ("NdArrayNode", "numpy", "ndarrayX", "numpy.ndarrayX"),
    ("NdArrayNode", "numpy", "object_", "numpy.object_"),
    ("NdArrayNode", "numpy", "memmap", "numpy.memmap"),
    ("ObjectNode", "builtins", "dict", "builtins.dict (as a skops ObjectNode)"),
    ("ListNode", "momix.polymom._estimator", "Polymom", f"{_POLYMOM} (as a skops ListNode)"),
    ("TypeNode", "momix.polymom._estimator", "Polymom", f"{_POLYMOM} (as a skops TypeNode)"),
    ("ConstructorFromReduceNode", "momix.polymom._estimator", "Polymom",
     f"{_POLYMOM} (as a skops ConstructorFromReduceNode)"),
    ("CachedNode", "builtins", "str", "builtins.str (as a skops CachedNode)"),
    ("EvilNode", "builtins", "str", "builtins.str (as a skops EvilNode)"),
    ("JsonNode", "builtins", "strX", "builtins.strX"),
    ("DictNode", "collections", "OrderedDict", "collections.OrderedDict"),
    ("DictNode", "sklearn.utils", "Bunch", "sklearn.utils.Bunch"),
])
@pytest.mark.parametrize("place", ["root", "deep"])
def test_names_outside_the_allowlist_are_refused(real, tmp_path, canary, loader, module, cls,
                                                 shown, place):
    schema, members = real
    npy = next(n for n in members if n.endswith(".npy"))
    node = {"__class__": cls, "__module__": module, "__loader__": loader, "__id__": 7,
            "content": _dict(), "type": "numpy", "file": npy}
    where = () if place == "root" else _deepest(schema)
    path = _write(tmp_path / "m.skops", _replace(schema, where, node), members)
    with pytest.raises(UntrustedFileError) as info:
        momix.load(path)
    assert shown in str(info.value)


@pytest.mark.parametrize("bit_generator", ["seed", "set_bit_generator", "PCG64X", "_pickle",
                                           "bit_generator.SeedSequence"])
def test_generator_state_naming_a_foreign_bit_generator_is_refused(real_generator, tmp_path,
                                                                  canary, bit_generator):
    schema, members = copy.deepcopy(real_generator)
    (where, node), = [(p, n) for p, n in _paths(schema)
                      if n["__loader__"] == "RandomGeneratorNode"]
    node["content"]["bit_generator"]["content"]["bit_generator"]["content"] = json.dumps(
        bit_generator)
    path = _write(tmp_path / "m.skops", schema, members)
    with pytest.raises(UntrustedFileError, match=f"numpy.random.{bit_generator}"):
        momix.load(path)


def test_generator_state_without_a_bit_generator_name_is_refused(real_generator, tmp_path):
    schema, members = copy.deepcopy(real_generator)
    node = next(n for _, n in _paths(schema) if n["__loader__"] == "RandomGeneratorNode")
    del node["content"]["bit_generator"]["content"]["bit_generator"]
    with pytest.raises(UntrustedFileError, match="bit generator"):
        momix.load(_write(tmp_path / "m.skops", schema, members))


def test_real_generator_file_loads(real_generator, tmp_path):
    schema, members = real_generator
    loaded = momix.load(_write(tmp_path / "m.skops", schema, members))
    assert isinstance(loaded.random_state, np.random.Generator)


# ---------------------------------------------------------------------------------------
# node ids: skops builds a repeated id as the first node with that id
# ---------------------------------------------------------------------------------------


def test_shared_id_with_different_content_is_refused(real, tmp_path, canary):
    schema, members = copy.deepcopy(real)
    attrs = _estimator_attrs(schema)
    first_id = attrs["n_components"]["__id__"]
    attrs["n_components"] = dict(attrs["n_components"], content="5")
    attrs["max_iter"] = dict(_json(50), __id__=first_id)
    with pytest.raises(UntrustedFileError, match="share the object id"):
        momix.load(_write(tmp_path / "m.skops", schema, members))


def test_node_referring_to_its_ancestor_is_refused(real, tmp_path):
    schema, members = copy.deepcopy(real)
    _estimator_attrs(schema)["loop_"] = _node("ObjectNode", _POLYMOM, __id__=schema["__id__"])
    schema["content"]["key_types"]["content"].append(_type("builtins.str"))
    with pytest.raises(UntrustedFileError, match="share the object id"):
        momix.load(_write(tmp_path / "m.skops", schema, members))


def test_non_integer_id_is_refused(real, tmp_path):
    schema, members = copy.deepcopy(real)
    schema["__id__"] = [1]
    with pytest.raises(UntrustedFileError, match="object id"):
        momix.load(_write(tmp_path / "m.skops", schema, members))


# ---------------------------------------------------------------------------------------
# trusted names in an inconsistent state: skops fails to build, momix reports it
# ---------------------------------------------------------------------------------------


def test_estimator_with_a_list_as_state_is_refused(real, tmp_path):
    schema, members = copy.deepcopy(real)
    schema["content"] = _list(_json(1))
    with pytest.raises(UntrustedFileError, match="not a valid momix model file"):
        momix.load(_write(tmp_path / "m.skops", schema, members))


def test_component_model_state_with_code_as_symbol_name_is_refused(real, tmp_path, canary,
                                                                   monkeypatch):
    import sympy

    def refuse(*args, **kwargs):
        raise AssertionError("a string was parsed")

    monkeypatch.setattr(sympy, "sympify", refuse)
    schema, members = copy.deepcopy(real)
    attrs = _estimator_attrs(schema)
    assert attrs["model"]["__id__"] == attrs["model_"]["__id__"]  # one object, saved twice
    for key in ("model", "model_"):
        state = attrs[key]["content"]["content"]
        state["params"]["content"][0] = _json(f"__import__('os').system('touch {canary}')")
    with pytest.raises(UntrustedFileError, match="refused symbol names"):
        momix.load(_write(tmp_path / "m.skops", schema, members))


def test_missing_node_keys_are_refused(real, tmp_path):
    schema, members = copy.deepcopy(real)
    del _estimator_attrs(schema)["n_components"]["__module__"]
    with pytest.raises(UntrustedFileError, match="no string __module__"):
        momix.load(_write(tmp_path / "m.skops", schema, members))


# ---------------------------------------------------------------------------------------
# the archive itself
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["../../evil", "/tmp/momix-evil-absolute", "..\\evil",
                                    "a/../../evil", "./evil", "a//evil", "C:evil", "evil\n"])
@pytest.mark.parametrize("referenced", [False, True])
def test_unsafe_member_names_are_refused_and_nothing_is_written(real, tmp_path, monkeypatch,
                                                                canary, member, referenced):
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    schema, members = copy.deepcopy(real)
    if referenced:
        npy = next(n for n in members if n.endswith(".npy"))
        members[member] = members.pop(npy)
        for _, node in _paths(schema):
            if node.get("file") == npy:
                node["file"] = member
    else:
        members[member] = b"evil"
    path = _write(tmp_path / "m.skops", schema, members)
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(UntrustedFileError, match="unsafe member name"):
        momix.load(path)
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not Path("/tmp/momix-evil-absolute").exists()


def test_duplicate_member_names_are_refused(real, tmp_path):
    schema, members = real
    path = _write(tmp_path / "m.skops", schema, members)
    with warnings.catch_warnings(), zipfile.ZipFile(path, "a") as zf:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate
        zf.writestr("schema.json", json.dumps(_replace(schema, (), _payload(
            "constructor", "builtins.exec", tmp_path / "pwned", "x.npy"))))
    with pytest.raises(UntrustedFileError, match="twice"):
        momix.load(path)


def test_encrypted_member_is_refused(real, tmp_path):
    data = bytearray(_write(tmp_path / "plain.skops", *real).read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local, central
        start = data.find(signature)
        while start >= 0:
            data[start + flags_at] |= 0x1
            start = data.find(signature, start + 4)
    path = tmp_path / "m.skops"
    path.write_bytes(bytes(data))
    with pytest.raises(UntrustedFileError, match="encrypted"):
        momix.load(path)


@pytest.fixture
def real_file(real, tmp_path) -> Path:
    return _write(tmp_path / "real.skops", *real)


def test_the_untouched_real_file_loads(real_file):
    assert isinstance(momix.load(real_file), Polymom)


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, -1, -22])
def test_truncated_archive_is_refused(real_file, tmp_path, keep):
    data = real_file.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else len(data) + keep
    path = tmp_path / "cut.skops"
    path.write_bytes(data[:cut])
    with pytest.raises(UntrustedFileError):
        momix.load(path)


@pytest.mark.parametrize("target", ["schema.json", ".npy", "central directory"])
def test_corrupt_archive_is_refused(real_file, tmp_path, target):
    data = bytearray(real_file.read_bytes())
    with zipfile.ZipFile(real_file) as zf:
        if target == "central directory":
            start = data.rfind(b"PK\x01\x02")
            data[start + 10 : start + 30] = bytes(20)
        else:  # the last bytes of the member's data: its CRC no longer matches
            info = max((i for i in zf.infolist() if i.filename.endswith(target)),
                       key=lambda i: i.file_size)
            end = info.header_offset + 30 + len(info.filename.encode()) + info.compress_size
            data[end - 8 : end] = b"\x00\xffCORRUP"
    path = tmp_path / "corrupt.skops"
    path.write_bytes(bytes(data))
    with pytest.raises(UntrustedFileError):
        momix.load(path)


def test_huge_schema_is_refused_without_inflating_it(tmp_path):
    path = tmp_path / "bomb.skops"
    chunk = b" " * 2**20
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("schema.json", "w", force_zip64=True) as fh:
            fh.write(b'{"protocol": 2, "x": "')
            for _ in range(momix.io.MAX_SCHEMA_BYTES // 2**20 + 8):
                fh.write(chunk)
            fh.write(b'"}')
    assert path.stat().st_size < 2**20
    start = time.perf_counter()
    with pytest.raises(UntrustedFileError, match="schema.json inflates"):
        momix.load(path)
    assert time.perf_counter() - start < 2.0


def test_members_inflating_past_the_limit_are_refused(real, tmp_path, monkeypatch):
    monkeypatch.setattr(momix.io, "MAX_INFLATION_BYTES", 2**20)
    schema, members = real
    members = dict(members, **{"pad.npy": _npy(np.zeros(2**19))})  # 4 MiB of zeros
    path = _write(tmp_path / "m.skops", schema, members, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(UntrustedFileError, match="inflate"):
        momix.load(path)


def test_compressed_real_file_loads(real, tmp_path):
    path = _write(tmp_path / "m.skops", *real, compression=zipfile.ZIP_DEFLATED)
    assert isinstance(momix.load(path), Polymom)


@pytest.mark.parametrize("depth", [150, 100_000])
def test_deeply_nested_schema_is_refused(tmp_path, depth):
    text = '{"protocol": 2, "__loader__": "ListNode", "x": ' + "[" * depth + "]" * depth + "}"
    path = tmp_path / "deep.skops"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("schema.json", text)
    with pytest.raises(UntrustedFileError, match="nested"):
        momix.load(path)


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"not a zip archive", "not a zip"),
    (b"PK\x03\x04" + bytes(100), "not a zip"),
    (np.arange(5.0).tobytes(), "not a zip"),
])
def test_not_an_archive_is_refused(tmp_path, content, match):
    path = tmp_path / "m.skops"
    path.write_bytes(content)
    with pytest.raises(UntrustedFileError, match=match):
        momix.load(path)


def test_directory_is_refused(tmp_path):
    with pytest.raises(UntrustedFileError, match="not a regular file"):
        momix.load(tmp_path)


def test_missing_path_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        momix.load(tmp_path / "nothing.skops")


@pytest.mark.parametrize("schema_bytes,match", [
    (None, "no schema.json"),
    (b"\xff\xfe not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"protocol": 2}', "no root node"),
])
def test_bad_schema_is_refused(real, tmp_path, schema_bytes, match):
    path = tmp_path / "m.skops"
    with zipfile.ZipFile(path, "w") as zf:
        if schema_bytes is not None:
            zf.writestr("schema.json", schema_bytes)
        for name, data in real[1].items():
            zf.writestr(name, data)
    with pytest.raises(UntrustedFileError, match=match):
        momix.load(path)


@pytest.mark.parametrize("protocol", [None, 0, 1, 3, -1, "2", True, 2.0, [2]])
def test_other_skops_protocols_are_refused(real, tmp_path, protocol):
    schema, members = copy.deepcopy(real)
    if protocol is None:
        del schema["protocol"]
    else:
        schema["protocol"] = protocol
    with pytest.raises(UntrustedFileError, match="protocol"):
        momix.load(_write(tmp_path / "m.skops", schema, members))


def _with_array_member(real, tmp_path, member_bytes: bytes, **node_changes) -> Path:
    schema, members = copy.deepcopy(real)
    attrs = _estimator_attrs(schema)
    name = next(n for n in members if n.endswith(".npy"))
    node = next(n for _, n in _paths(attrs) if n.get("file") == name)
    members[name] = member_bytes
    node.update(node_changes)
    return _write(tmp_path / "m.skops", schema, members)


def test_object_array_member_is_refused(real, tmp_path, canary):
    data = _npy(np.array([_Pickled(_code(canary))], dtype=object))
    with pytest.raises(UntrustedFileError, match="object dtype"):
        momix.load(_with_array_member(real, tmp_path, data))


def test_array_header_claiming_more_data_is_refused(real, tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**13,)})
    with pytest.raises(UntrustedFileError, match="header declares"):
        momix.load(_with_array_member(real, tmp_path, buf.getvalue() + bytes(80)))


def test_array_with_truncated_data_is_refused(real, tmp_path):
    data = _npy(np.zeros(10))
    with pytest.raises(UntrustedFileError, match="header declares"):
        momix.load(_with_array_member(real, tmp_path, data[:-8]))


def test_array_of_npy_format_3_is_refused(real, tmp_path):
    data = bytearray(_npy(np.zeros(3)))
    data[6] = 3  # major version
    with pytest.raises(UntrustedFileError, match="format"):
        momix.load(_with_array_member(real, tmp_path, bytes(data)))


def test_array_stored_as_json_is_refused(real, tmp_path):
    data = _npy(np.zeros(3))
    with pytest.raises(UntrustedFileError, match="storage type"):
        momix.load(_with_array_member(real, tmp_path, data, type="json", content=[],
                                      shape=_tuple()))


def test_array_referring_to_a_missing_member_is_refused(real, tmp_path):
    data = _npy(np.zeros(3))
    with pytest.raises(UntrustedFileError, match="missing member"):
        momix.load(_with_array_member(real, tmp_path, data, file="nowhere.npy"))


# ---------------------------------------------------------------------------------------
# through the command line
# ---------------------------------------------------------------------------------------


def _cli_cases():
    cases = [("payload", kind, name, place) for kind in ("constructor", "list", "loss",
                                                         "function", "method", "type")
             for name in ("builtins.exec", "os.system", "subprocess.Popen")
             for place in ("root", "deep")]
    cases += [("archive", what, None, None) for what in (
        "empty", "not-zip", "truncated", "traversal", "protocol", "unknown-module",
        "inconsistent")]
    return cases


def _cli_file(case, real, tmp_path, marker) -> Path:
    group, what, name, place = case
    if group == "payload":
        return _crafted(real, tmp_path, what, name, place, marker)
    schema, members = copy.deepcopy(real)
    path = tmp_path / f"{what}.skops"
    if what == "empty":
        path.write_bytes(b"")
    elif what == "not-zip":
        path.write_bytes(b"momix")
    elif what == "truncated":
        _write(path, schema, members)
        path.write_bytes(path.read_bytes()[:-40])
    elif what == "traversal":
        _write(path, schema, dict(members, **{"../../evil": b"x"}))
    elif what == "protocol":
        _write(path, dict(schema, protocol=1), members)
    elif what == "unknown-module":
        _write(path, _replace(schema, _deepest(schema), _node("ObjectNode", "momix.X")), members)
    else:
        _write(path, dict(schema, content=_list()), members)
    return path


@pytest.fixture
def data_csv(tmp_path) -> Path:
    path = tmp_path / "data.csv"
    np.savetxt(path, np.random.default_rng(0).normal(size=(20, 1)), delimiter=",",
               header="x", comments="")
    return path


@pytest.mark.parametrize("command", ["predict", "sample"])
@pytest.mark.parametrize("case", _cli_cases(), ids=lambda c: "-".join(filter(None, c)))
def test_cli_refuses_crafted_file_in_one_line(real, tmp_path, canary, data_csv, capsys,
                                              command, case):
    path = _cli_file(case, real, tmp_path, canary)
    argv = ["predict", str(path), str(data_csv)] if command == "predict" else [
        "sample", str(path), "-n", "3"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("momix: error: "), captured.err
    assert captured.out == ""


def _console_script() -> str:
    script = Path(sys.executable).with_name("momix")
    found = str(script) if script.exists() else shutil.which("momix")
    assert found, "the momix console script is not installed next to the interpreter"
    return found


@pytest.mark.parametrize("command", ["predict", pytest.param("sample", marks=pytest.mark.slow)])
def test_console_script_refuses_crafted_file(real, tmp_path, data_csv, command):
    marker = tmp_path / "pwned"
    path = _crafted(real, tmp_path, "constructor", "builtins.exec", "root", marker)
    argv = [path, data_csv] if command == "predict" else [path]
    env = {k: v for k, v in os.environ.items() if k != ENV}
    res = subprocess.run([_console_script(), command, *map(str, argv)], capture_output=True,
                         text=True, timeout=300, env=env, check=False)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("momix: error: "), res.stderr
    assert "builtins.exec" in lines[0]
    assert res.stdout == ""
    assert not marker.exists()
