"""The series' two data sets, with fixed splits that every notebook and benchmark shares.

Pokémon (lecture slides 8-10)
    792 sprites of 20x20 pixels; each pixel is an index into a map of 167 colours.
    Files: ``pixel_color.txt`` (792 lines x 400 indices, row-major) and ``colormap.txt``
    (167 lines of ``R G B``), from the course's page (``POKEMON_URL``).
    Where they are looked for, in order: the ``path=`` argument, the environment
    variable ``POKEMON_DATA_DIR``, the cache ``data/pokemon/`` of this repository;
    if none holds them, they are downloaded into the cache (temporary file, validated,
    then renamed), so a failed download never leaves a file behind.
    Split (file order, the lines are in no particular order): ``train`` = first 640,
    ``valid`` = next 72, ``test`` = last 80. No model trains on ``test``.

Digits
    scikit-learn's 8x8 hand-written digits (1797 images, 17 grey levels 0..16, shipped
    inside scikit-learn: no download). Split in file order: ``train`` = first 1000,
    ``valid`` = next 350, ``test`` = last 447. The likelihood numbers of the series
    (nats per image) are measured on ``test``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / "data" / "pokemon"
POKEMON_URL = "http://speech.ee.ntu.edu.tw/~tlkagk/courses/ML_2016/Pokemon_creation/"
POKEMON_ENV = "POKEMON_DATA_DIR"
POKEMON_FILES = {
    "pixel_color.txt": "facd83256c33298756c3f2dd533771b69d4b7500618b5e73322bc5dbe97c297d",
    "colormap.txt": "1ee954cf5adfa6b996bbf9231a1340efb29a2d4d9eabeb37831af45a0c1ac356",
}
N_POKEMON, SIDE, N_COLOURS = 792, 20, 167
POKEMON_SPLIT = {"train": (0, 640), "valid": (640, 712), "test": (712, 792)}
DIGITS_SPLIT = {"train": (0, 1000), "valid": (1000, 1350), "test": (1350, 1797)}
DIGIT_LEVELS = 17
_SHAPES = {"pixel_color.txt": (N_POKEMON, SIDE * SIDE, N_COLOURS - 1), "colormap.txt": (N_COLOURS, 3, 255)}


class DataError(ValueError):
    """A data file is missing, truncated, corrupted or could not be downloaded."""


class Split(NamedTuple):
    train: Tensor
    valid: Tensor
    test: Tensor


@dataclass(frozen=True)
class Pokemon:
    """images: (792, 20, 20) int64 colour indices; colormap: (167, 3) uint8 RGB."""

    images: np.ndarray
    colormap: np.ndarray

    def to_rgb(self, indices: np.ndarray | Tensor) -> np.ndarray:
        """Colour indices (..., H, W) -> RGB floats in [0, 1] of shape (..., H, W, 3)."""
        return indices_to_rgb(indices, self.colormap)

    def split(self) -> Split:
        """The fixed train / valid / test split as (N, 20, 20) int64 tensors."""
        x = torch.from_numpy(self.images)
        return Split(*(x[a:b] for a, b in POKEMON_SPLIT.values()))


@dataclass(frozen=True)
class Digits:
    """images: (1797, 8, 8) int64 grey levels 0..16; labels: (1797,) int64."""

    images: np.ndarray
    labels: np.ndarray

    def split(self) -> Split:
        """The fixed train / valid / test split of the images, (N, 8, 8) int64 tensors."""
        x = torch.from_numpy(self.images)
        return Split(*(x[a:b] for a, b in DIGITS_SPLIT.values()))

    def split_labels(self) -> Split:
        y = torch.from_numpy(self.labels)
        return Split(*(y[a:b] for a, b in DIGITS_SPLIT.values()))


def indices_to_rgb(indices: np.ndarray | Tensor, colormap: np.ndarray) -> np.ndarray:
    """Map colour indices (..., H, W) through a (K, 3) uint8 colormap to floats in [0, 1]."""
    idx = indices.detach().cpu().numpy() if isinstance(indices, Tensor) else np.asarray(indices)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"colour indices must be integers, got dtype {idx.dtype}; use .long()")
    if idx.size and (idx.min() < 0 or idx.max() >= len(colormap)):
        raise ValueError(
            f"colour indices must lie in 0..{len(colormap) - 1}, got {idx.min()}..{idx.max()}"
        )
    return colormap[idx].astype(np.float32) / 255.0


def load_digits() -> Digits:
    """scikit-learn's 8x8 digits as 17-level integers, in file order (see module docstring)."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    return Digits(images=d.images.astype(np.int64), labels=d.target.astype(np.int64))


def load_pokemon(
    path: str | os.PathLike | None = None,
    *,
    download: bool = True,
    url: str = POKEMON_URL,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> Pokemon:
    """Load and validate the course's Pokémon files.

    path: a folder holding ``pixel_color.txt`` and ``colormap.txt``. Without it:
    ``$POKEMON_DATA_DIR``, then ``cache_dir`` (default ``data/pokemon/``), then a download
    from ``url`` into ``cache_dir`` (only if ``download``).
    Raises DataError naming the file, what is wrong and how to fix it.
    """
    origin = "path"
    if path is None and os.environ.get(POKEMON_ENV):
        path, origin = os.environ[POKEMON_ENV], "env"
    if path is not None:
        folder = Path(path).expanduser()  # "~/data/pokemon" means the home folder's
        missing = [f for f in POKEMON_FILES if not (folder / f).is_file()]
        if missing:
            where = f"${POKEMON_ENV}" if origin == "env" else "path="
            raise DataError(
                f"{where} points at {folder}, which lacks {', '.join(missing)}; "
                f"put the course files there (from {url}) or point it at a folder that has them"
            )
    else:
        origin = "cache"
        folder = Path(cache_dir).expanduser() if cache_dir is not None else CACHE_DIR
        for name in POKEMON_FILES:
            if not (folder / name).is_file():
                if not download:
                    raise DataError(
                        f"{folder / name} is missing and download=False; download it from "
                        f"{url}{name} into {folder}, or pass path= to a folder that has it"
                    )
                _download(url + name, folder / name, POKEMON_FILES[name], progress)
    raw = {name: _read_checked(folder / name, sha, origin) for name, sha in POKEMON_FILES.items()}
    images, colormap = (_parse_ints(folder / n, raw[n], *_SHAPES[n][:2], origin) for n in POKEMON_FILES)
    return Pokemon(images=images.reshape(N_POKEMON, SIDE, SIDE), colormap=colormap.astype(np.uint8))


def _fix_hint(file: Path, origin: str = "cache") -> str:
    """How to fix a bad file, where it was found: origin is "cache" (data/pokemon/ or cache_dir=,
    filled by downloads), "path" (the path= argument) or "env" ($POKEMON_DATA_DIR); only the
    cache is ever downloaded into, so only there does deleting the file help."""
    course_copy = f"{POKEMON_URL}{file.name}"
    if origin == "path":
        return (f"replace {file} with the course's copy from {course_copy} (a path= folder is read "
                "as it is, never downloaded into), or pass path= to a folder with the course files")
    if origin == "env":
        return (f"replace {file} with the course's copy from {course_copy} (${POKEMON_ENV} is read as "
                f"it is, never downloaded into), or point ${POKEMON_ENV} at a folder with the course "
                "files, or unset it to download them into data/pokemon/")
    return (
        f"delete {file} so it is downloaded again (or fetch it from {course_copy}), "
        "or pass path= to a folder with the course files"
    )


def _parse_ints(file: Path, data: bytes, rows: int, cols: int, origin: str = "cache") -> np.ndarray:
    text_rows = data.decode("ascii", errors="replace").strip().splitlines()
    if len(text_rows) != rows:
        raise DataError(f"{file}: expected {rows} lines, found {len(text_rows)}; {_fix_hint(file, origin)}")
    try:
        values = np.array([int(v) for r in text_rows for v in r.split()], dtype=np.int64)
    except ValueError as e:
        raise DataError(f"{file}: not all entries are integers ({e}); {_fix_hint(file, origin)}") from None
    bad = [i + 1 for i, r in enumerate(text_rows) if len(r.split()) != cols]
    if bad:
        raise DataError(
            f"{file}: expected {cols} numbers on every line, line {bad[0]} has "
            f"{len(text_rows[bad[0] - 1].split())}; {_fix_hint(file, origin)}"
        )
    return values.reshape(rows, cols)


def _check_range(file: Path, values: np.ndarray, high: int, origin: str = "cache") -> None:
    if values.min() < 0 or values.max() > high:
        raise DataError(
            f"{file}: values must lie in 0..{high}, found {values.min()}..{values.max()}; "
            f"{_fix_hint(file, origin)}"
        )


def _read_checked(file: Path, sha256: str, origin: str = "cache") -> bytes:
    try:
        data = file.read_bytes()
    except PermissionError:
        raise DataError(
            f"{file}: permission denied, the file cannot be read; make it readable "
            f"(chmod a+r {file}) or {_fix_hint(file, origin)}"
        ) from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        # a parse error says more than a checksum does (truncated, wrong shape, bad values)
        rows, cols, high = _SHAPES[file.name]
        _check_range(file, _parse_ints(file, data, rows, cols, origin), high, origin)
        if b"\r\n" in data:
            lf_ok = hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest() == sha256
            raise DataError(
                f"{file}: sha256 is {got[:16]}..., expected {sha256[:16]}...; the file has Windows "
                f"(CRLF) line endings, the likely cause{' (with LF endings it is the course copy)' if lf_ok else ''}: "
                f"git's core.autocrlf or an editor converted them. Convert it back (`dos2unix {file}`, "
                f"or `git config core.autocrlf false` and check it out again), or {_fix_hint(file, origin)}"
            )
        raise DataError(
            f"{file}: sha256 is {got[:16]}..., expected {sha256[:16]}... (the file is not the "
            f"course's copy: corrupted or edited); {_fix_hint(file, origin)}"
        )
    return data


def _download(url: str, dest: Path, sha256: str, progress: bool | None) -> None:
    """Stream url into a temporary file beside dest; validate; rename. No partial file survives."""
    from tqdm.auto import tqdm

    from helpers.core.train import progress_enabled

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except PermissionError:
        raise DataError(
            f"cannot download {dest.name} into {dest.parent}: permission denied; pass cache_dir= "
            "a folder you can write to, or path= to a folder with the course files"
        ) from None
    tmp = Path(tmp_name)
    hint = (
        f"check your connection, or download {url} by hand into {dest.parent}, "
        "or pass path= to a folder with the course files"
    )
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    disable = not progress_enabled() if progress is None else not progress
                    with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=disable) as bar:
                        while chunk := response.read(1 << 16):
                            out.write(chunk)
                            bar.update(len(chunk))
                    if total is not None and out.tell() != total:
                        raise DataError(
                            f"downloading {url}: got {out.tell()} of {total} bytes (connection "
                            f"dropped); {hint}"
                        )
            except urllib.error.HTTPError as e:
                raise DataError(f"downloading {url}: HTTP {e.code} {e.reason}; {hint}") from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise DataError(f"could not download {url} ({reason}); {hint}") from None
        got = hashlib.sha256(tmp.read_bytes()).hexdigest()
        if got != sha256:
            raise DataError(
                f"downloaded {url} but its sha256 is {got[:16]}..., expected {sha256[:16]}... "
                f"(truncated or changed on the server); nothing was saved; {hint}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- data-set descriptors
def check_images(x: Tensor, levels: int, side: int | None = None, name: str = "x") -> Tensor:
    """The one image validator of the series: x must be (B, H, W) integer categories in
    0..levels-1 (and H = W = side when side is given). Returns x as long."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of colour indices, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"{name} must be (batch, height, width) colour indices, got shape "
                         f"{tuple(x.shape)}; add a batch dimension with x[None] for one image")
    if side is not None and tuple(x.shape[1:]) != (side, side):
        raise ValueError(f"{name} must be {side}x{side} images, got {tuple(x.shape[1:])}; "
                         "this model was built for another data set")
    if x.dtype.is_floating_point or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer colour indices, got dtype {x.dtype}; use .long()")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= levels):
        raise ValueError(f"{name} must hold colour indices in 0..{levels - 1}, got values "
                         f"{int(x.min())}..{int(x.max())}")
    return x.long()


def hflip(x: Tensor, generator: torch.Generator) -> Tensor:
    """Augmentation: mirror each image left-right with probability 1/2 (a Pokémon facing the
    other way). The coin flips come from ``generator`` (on the CPU), the result stays on x's device."""
    flip = (torch.rand(len(x), generator=generator, device=generator.device) < 0.5).to(x.device)
    return torch.where(flip[:, None, None], x.flip(-1), x)


@dataclass(frozen=True)
class ImageSet:
    """What a model needs to know about its data set, in one place: its name, the image side,
    the number of levels per pixel (palette entries), the fixed split and the augmentation.

    ``load()`` returns the split as tensors, ``palette()`` the (levels, channels) colours in
    [0, 1] (RGB for Pokémon, one grey channel for digits), ``augmentation``
    the training-time augmentation (left-right flips for Pokémon, none for digits)."""

    name: str
    side: int
    levels: int
    split: dict
    flip: bool

    @property
    def channels(self) -> int:
        return 3 if self.name == "pokemon" else 1

    def load(self) -> Split:
        return load_pokemon().split() if self.name == "pokemon" else load_digits().split()

    def palette(self) -> Tensor:
        if self.name == "pokemon":
            return torch.as_tensor(load_pokemon().colormap, dtype=torch.float32) / 255.0
        return torch.linspace(0, 1, self.levels, device="cpu")[:, None]

    @property
    def augmentation(self):
        """The training-time augmentation, ``f(batch, generator) -> batch``, or None."""
        return hflip if self.flip else None


POKEMON = ImageSet("pokemon", SIDE, N_COLOURS, POKEMON_SPLIT, flip=True)
DIGITS = ImageSet("digits", 8, DIGIT_LEVELS, DIGITS_SPLIT, flip=False)
DATASETS = {d.name: d for d in (POKEMON, DIGITS)}


def dataset(name: str) -> ImageSet:
    """The descriptor of a data set by name: "pokemon" or "digits"."""
    if name not in DATASETS:
        raise KeyError(f"no data set {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]
