"""The browser runtime of the book's live panels: onnxruntime-web, pinned, fetched once.

The tarball comes from the npm registry (``$NPM_CONFIG_REGISTRY`` or ``--registry URL``, default
https://registry.npmjs.org), is checked against the pinned npm integrity (sha512) before anything
is unpacked, and four files of it are kept in the user cache
(``$GENERATION_CACHE``, default ``~/.cache/generation-notebooks``, under
``vendor/onnxruntime-web-VERSION/``), flat:

- ``ort.wasm.min.js``: the CPU (WebAssembly) build of the JavaScript API, ``ort`` as a global;
- ``ort-wasm-simd-threaded.mjs`` and ``ort-wasm-simd-threaded.wasm``: the module it loads;
- ``package.json``: the package's name, version and licence (MIT).

``make book`` (and ``make test``, through the same install step) runs this once; after that the
book builds offline. ``copy_into(dest)`` puts the files into the site. Member names from the
tarball are never used as paths: each wanted member is read and written under a name chosen
here, into a temporary folder beside the target that is renamed into place whole.

    python book/vendor.py [--registry URL]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from helpers.core.train import progress_enabled
from helpers.registry import cache_dir

PACKAGE = "onnxruntime-web"
VERSION = "1.31.1"
INTEGRITY = "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
DEFAULT_REGISTRY = "https://registry.npmjs.org"
# member of the tarball -> name in the cache and in the site
FILES = {
    "package/dist/ort.wasm.min.js": "ort.wasm.min.js",
    "package/dist/ort-wasm-simd-threaded.mjs": "ort-wasm-simd-threaded.mjs",
    "package/dist/ort-wasm-simd-threaded.wasm": "ort-wasm-simd-threaded.wasm",
    "package/package.json": "package.json",
}
STAMP = "vendor.json"  # written last inside the folder: package, version, integrity, sizes
TIMEOUT_S = 30
FETCH_COMMAND = "python book/vendor.py"


class VendorError(RuntimeError):
    """The runtime could not be fetched; the message says why and what to do."""


def registry_url(registry: str | None = None) -> str:
    """--registry, else $NPM_CONFIG_REGISTRY (as npm reads it), else the public npm registry."""
    url = registry or os.environ.get("NPM_CONFIG_REGISTRY") or os.environ.get("npm_config_registry")
    return (url or DEFAULT_REGISTRY).rstrip("/")


def tarball_url(registry: str | None = None, version: str = VERSION) -> str:
    return f"{registry_url(registry)}/{PACKAGE}/-/{PACKAGE}-{version}.tgz"


def _target(version: str) -> Path:
    return cache_dir() / "vendor" / f"{PACKAGE}-{version}"


def _complete(folder: Path, version: str, integrity: str) -> bool:
    """Every file there, at the size the stamp records, fetched from the tarball with this integrity."""
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("version") != version or stamp.get("integrity") != integrity:
        return False
    sizes = stamp.get("sizes", {})
    return all(n in sizes and (folder / n).is_file() and (folder / n).stat().st_size == sizes[n]
               for n in FILES.values())


def runtime_dir(version: str = VERSION, *, integrity: str = INTEGRITY) -> Path:
    """The cache folder holding the fetched runtime; FileNotFoundError (saying how to fetch) if not there."""
    folder = _target(version)
    if not _complete(folder, version, integrity):
        raise FileNotFoundError(
            f"{PACKAGE} {version} (the live panels' browser runtime) is not fetched yet: expected it in "
            f"{folder}; run `{FETCH_COMMAND}` (or `make book`, which runs it) once with the npm registry "
            "reachable, after which the book builds offline"
        )
    return folder


# The npm tarball carries its licence only as `"license": "MIT"` in package.json; the notice the MIT
# licence asks to travel with copies is ONNX Runtime's (github.com/microsoft/onnxruntime, LICENSE).
LICENSE_NOTICE = """onnxruntime-web (ONNX Runtime), copied unmodified from the npm package onnxruntime-web.

MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def copy_into(dest: Path, *, version: str = VERSION, integrity: str = INTEGRITY) -> list[Path]:
    """Copy the runtime's files, flat, into dest (created if missing), with its licence notice
    (LICENSE); returns the paths written."""
    src = runtime_dir(version, integrity=integrity)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "LICENSE").write_text(LICENSE_NOTICE)
    return [Path(shutil.copyfile(src / name, dest / name)) for name in FILES.values()] + [dest / "LICENSE"]


def _hash_of(integrity: str) -> hashlib._Hash:
    algo, sep, digest = integrity.partition("-")
    if not sep or algo not in ("sha512", "sha384", "sha256") or not digest:
        raise ValueError(f"integrity must look like 'sha512-BASE64' (as npm writes it), got {integrity!r}")
    return hashlib.new(algo)


def _download(url: str, out: Path, integrity: str, progress: bool, hint: str) -> None:
    """Stream url into out, hashing as it goes; VendorError on any network failure or a wrong hash."""
    from tqdm.auto import tqdm

    h = _hash_of(integrity)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, out.open("wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=out.name, disable=not progress) as bar:
                while chunk := response.read(1 << 16):
                    f.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
            if total is not None and f.tell() != total:
                raise VendorError(f"downloading {url}: got {f.tell()} of {total} bytes (connection dropped); {hint}")
    except urllib.error.HTTPError as e:
        raise VendorError(f"downloading {url}: HTTP {e.code} {e.reason}; {hint}") from None
    except (urllib.error.URLError, OSError) as e:  # refused, unresolvable, timed out, reset
        raise VendorError(f"could not download {url} ({getattr(e, 'reason', e)}); {hint}") from None
    got = f"{h.name}-{base64.b64encode(h.digest()).decode()}"
    if got != integrity:
        raise VendorError(
            f"downloaded {url} but its integrity is {got}, expected {integrity} (the pin in book/vendor.py); "
            "nothing was unpacked or saved. Run it again (a download cut short); if it persists, the "
            "registry serves another file: point --registry / NPM_CONFIG_REGISTRY at a faithful mirror "
            "of registry.npmjs.org, or, when deliberately changing the pinned version, set VERSION and "
            "INTEGRITY in book/vendor.py together (npm view onnxruntime-web@VERSION dist.integrity)"
        )


def _extract(tgz: Path, into: Path, version: str, url: str) -> dict[str, int]:
    """Write FILES' members of tgz under their flat names in into; their sizes. Regular files only."""
    sizes = {}
    with tarfile.open(tgz, "r:gz") as tar:
        for member, name in FILES.items():
            try:
                info = tar.getmember(member)
            except KeyError:
                raise VendorError(
                    f"{url} has no {member} (its integrity matched, so the pinned version lays its "
                    f"files out differently); update FILES in book/vendor.py for {PACKAGE} {version}"
                ) from None
            if not info.isreg():
                raise VendorError(f"{url}: {member} is not a regular file (a link or folder); refusing it")
            with tar.extractfile(info) as src, (into / name).open("wb") as dst:
                shutil.copyfileobj(src, dst)
            sizes[name] = info.size
    meta = json.loads((into / "package.json").read_text())
    if (meta.get("name"), meta.get("version")) != (PACKAGE, version):
        raise VendorError(f"{url}: package.json says {meta.get('name')} {meta.get('version')}, "
                          f"expected {PACKAGE} {version}; the VERSION and INTEGRITY pins disagree")
    return sizes


def fetch(registry: str | None = None, *, version: str = VERSION, integrity: str = INTEGRITY,
          progress: bool | None = None) -> Path:
    """The cache folder with the runtime, downloading and unpacking it first when it is not there.

    No network when the cache already holds it. Otherwise: download to a temporary file, check the
    integrity, unpack the four files into a temporary folder beside the target, rename it into
    place. On any failure nothing is left in the cache (VendorError says why and what to do)."""
    target = _target(version)
    if _complete(target, version, integrity):
        return target
    url = tarball_url(registry, version)
    hint = (f"`make book` needs the npm registry ({registry_url(registry)}) once, to fetch {PACKAGE} "
            f"{version}; after that it is cached in {target}. Check your connection, or pass --registry "
            "URL (or set NPM_CONFIG_REGISTRY) to use a mirror")
    _hash_of(integrity)  # a malformed pin fails before any download
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        tgz = work / f"{PACKAGE}-{version}.tgz"
        _download(url, tgz, integrity, progress_enabled() if progress is None else progress, hint)
        unpacked = work / "unpacked"
        unpacked.mkdir()
        sizes = _extract(tgz, unpacked, version, url)
        stamp = {"package": PACKAGE, "version": version, "integrity": integrity, "tarball": url, "sizes": sizes}
        (unpacked / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
        if target.exists():  # a stale or partial copy from before: replaced whole
            shutil.rmtree(target)
        try:
            unpacked.rename(target)
        except OSError:
            if not _complete(target, version, integrity):  # else another fetch just finished: keep it
                raise
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=f"Fetch {PACKAGE} {VERSION} (the live panels' runtime) into the cache.")
    ap.add_argument("--registry", metavar="URL",
                    help=f"npm registry (default: $NPM_CONFIG_REGISTRY, else {DEFAULT_REGISTRY})")
    args = ap.parse_args(argv)
    try:
        folder = fetch(args.registry, version=VERSION, integrity=INTEGRITY)
    except VendorError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{PACKAGE} {VERSION}: {folder}")


if __name__ == "__main__":
    main()
