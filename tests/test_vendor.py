"""book/vendor.py, the book's pinned onnxruntime-web, against a local HTTP server on 127.0.0.1
(never the internet) serving a small synthetic tarball laid out as npm's, its integrity computed
here. The user cache ($GENERATION_CACHE) is a temporary folder."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import socket
import tarfile
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from local_http import serve

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("vendor", REPO / "book" / "vendor.py")  # book/ is no package
vendor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vendor)

VERSION = "0.0.1-test"
PACKAGE_JSON = json.dumps({"name": "onnxruntime-web", "version": VERSION, "license": "MIT"}).encode()
CONTENTS = {
    "package/dist/ort.wasm.min.js": b"var ort = {};\n",
    "package/dist/ort-wasm-simd-threaded.mjs": b"export default function () {}\n",
    "package/dist/ort-wasm-simd-threaded.wasm": b"\0asm\1\0\0\0",
    "package/package.json": PACKAGE_JSON,
    "package/dist/ort.min.js": b"// not wanted\n",
}


def _tgz(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, to in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, to
            tar.addfile(info)
    return buf.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class _Handler(BaseHTTPRequestHandler):
    body = b""  # the tarball served at /onnxruntime-web/-/onnxruntime-web-VERSION.tgz
    paths: list[str] = []

    def do_GET(self):
        self.paths.append(self.path)
        if self.path != f"/onnxruntime-web/-/onnxruntime-web-{VERSION}.tgz":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GENERATION_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NPM_CONFIG_REGISTRY", raising=False)
    monkeypatch.delenv("npm_config_registry", raising=False)
    return tmp_path / "cache"


def _server(body: bytes):
    return serve(type("Handler", (_Handler,), {"body": body, "paths": []}))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()) if root.exists() else []


def _dead_port_url() -> str:
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_fetch_then_cache_hit_without_network(cache, tmp_path, monkeypatch):
    body = _tgz(CONTENTS)
    with _server(body) as base:
        folder = vendor.fetch(base, version=VERSION, integrity=_integrity(body), progress=False)
    assert folder == cache / "vendor" / f"onnxruntime-web-{VERSION}"
    assert _files(cache) == sorted(f"vendor/onnxruntime-web-{VERSION}/{n}" for n in
                                   ["ort.wasm.min.js", "ort-wasm-simd-threaded.mjs",
                                    "ort-wasm-simd-threaded.wasm", "package.json", "vendor.json"])
    assert (folder / "ort-wasm-simd-threaded.wasm").read_bytes() == CONTENTS["package/dist/ort-wasm-simd-threaded.wasm"]
    assert json.loads((folder / "vendor.json").read_text())["integrity"] == _integrity(body)

    def no_network(*args, **kwargs):
        raise AssertionError("a cached runtime must not touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)  # and the server is gone
    assert vendor.fetch(base, version=VERSION, integrity=_integrity(body)) == folder
    copied = vendor.copy_into(tmp_path / "site" / "_static", version=VERSION, integrity=_integrity(body))
    assert sorted(p.name for p in copied) == sorted(p.name for p in (tmp_path / "site" / "_static").iterdir())
    assert {p.name: p.read_bytes() for p in copied} == {
        "ort.wasm.min.js": b"var ort = {};\n", "ort-wasm-simd-threaded.mjs": b"export default function () {}\n",
        "ort-wasm-simd-threaded.wasm": b"\0asm\1\0\0\0", "package.json": PACKAGE_JSON,
        "LICENSE": vendor.LICENSE_NOTICE.encode()}
    assert b"Copyright (c) Microsoft Corporation" in (tmp_path / "site" / "_static" / "LICENSE").read_bytes()


def test_integrity_mismatch_saves_nothing(cache):
    body = _tgz(CONTENTS)
    pinned = _integrity(body + b"x")
    with _server(body) as base:
        with pytest.raises(vendor.VendorError, match="its integrity is sha512-.*, expected sha512-.*nothing "
                                                      "was unpacked or saved") as err:
            vendor.fetch(base, version=VERSION, integrity=pinned, progress=False)
    assert _integrity(body) in str(err.value) and pinned in str(err.value)
    assert "--registry" in str(err.value)  # says what to do
    assert _files(cache) == [] and list((cache / "vendor").iterdir()) == []


@pytest.mark.parametrize("where, message", [("404", r"HTTP 404"), ("dead", r"could not download")])
def test_network_failure_says_url_and_registry_once(cache, where, message):
    body = _tgz(CONTENTS)
    if where == "404":
        with _server(body) as base:
            with pytest.raises(vendor.VendorError, match=message) as err:
                vendor.fetch(base + "elsewhere", version=VERSION, integrity=_integrity(body), progress=False)
    else:
        base = _dead_port_url()
        with pytest.raises(vendor.VendorError, match=message) as err:
            vendor.fetch(base, version=VERSION, integrity=_integrity(body), progress=False)
    assert f"onnxruntime-web-{VERSION}.tgz" in str(err.value)  # which URL
    assert "`make book` needs the npm registry" in str(err.value) and "cached in" in str(err.value)
    assert _files(cache) == [] and list((cache / "vendor").iterdir()) == []


@pytest.mark.parametrize("broken", ["missing", "symlink"])
def test_wanted_member_missing_or_not_a_file(cache, broken):
    files = {k: v for k, v in CONTENTS.items() if k != "package/dist/ort-wasm-simd-threaded.mjs"}
    body = _tgz(files, {"package/dist/ort-wasm-simd-threaded.mjs": "/etc/passwd"} if broken == "symlink" else None)
    with _server(body) as base:
        with pytest.raises(vendor.VendorError, match="has no package/dist/ort-wasm-simd-threaded.mjs"
                           if broken == "missing" else "not a regular file"):
            vendor.fetch(base, version=VERSION, integrity=_integrity(body), progress=False)
    assert _files(cache) == [] and list((cache / "vendor").iterdir()) == []


def test_traversing_member_is_never_written(cache, tmp_path):
    # Unpacked naively (tar.extractall) from the temporary folder cache/vendor/.X.part/unpacked,
    # these would land in unpacked, .X.part, vendor, cache and tmp_path (never above tmp_path).
    evil = {"package/" + "../" * k + "evil": b"pwned" for k in range(1, 6)}
    body = _tgz({**CONTENTS, **evil, str(tmp_path / "abs_evil"): b"pwned"})
    with _server(body) as base:
        folder = vendor.fetch(base, version=VERSION, integrity=_integrity(body), progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*vendor.FILES.values(), "vendor.json"])
    assert [p for p in tmp_path.rglob("*evil*")] == []


def test_stale_partial_copy_is_replaced(cache):
    body = _tgz(CONTENTS)
    stale = cache / "vendor" / f"onnxruntime-web-{VERSION}"
    stale.mkdir(parents=True)
    (stale / "ort.wasm.min.js").write_bytes(b"half")  # no stamp: an interrupted copy from before
    with _server(body) as base:
        assert vendor.fetch(base, version=VERSION, integrity=_integrity(body), progress=False) == stale
    assert (stale / "ort.wasm.min.js").read_bytes() == b"var ort = {};\n"
    assert _files(cache / "vendor") == sorted(f"onnxruntime-web-{VERSION}/{n}" for n in
                                              [*vendor.FILES.values(), "vendor.json"])


def test_copy_into_before_fetch_says_how(cache, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run `python book/vendor\.py` \(or `make book`"):
        vendor.copy_into(tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_registry_option_over_env_over_default(cache, monkeypatch, capsys):
    assert vendor.registry_url() == "https://registry.npmjs.org"
    assert vendor.tarball_url() == ("https://registry.npmjs.org/onnxruntime-web/-/"
                                    f"onnxruntime-web-{vendor.VERSION}.tgz")
    body = _tgz(CONTENTS)
    monkeypatch.setattr(vendor, "VERSION", VERSION)
    monkeypatch.setattr(vendor, "INTEGRITY", _integrity(body))
    monkeypatch.setenv("GENERATION_PROGRESS", "0")
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", _dead_port_url() + "/")
    with _server(body) as base:
        vendor.main(["--registry", base])  # the option wins over the (dead) env registry
    assert capsys.readouterr().out.strip().endswith(f"vendor/onnxruntime-web-{VERSION}")
    (cache / "vendor").rename(cache / "old")
    with _server(body) as base:
        monkeypatch.setenv("NPM_CONFIG_REGISTRY", base)  # trailing slash and all
        assert vendor.fetch(version=VERSION, integrity=_integrity(body)).is_dir()
    with pytest.raises(SystemExit, match="error: could not download"):
        (cache / "vendor").rename(cache / "older")
        monkeypatch.setenv("NPM_CONFIG_REGISTRY", _dead_port_url())
        vendor.main([])


def test_pin_is_well_formed():
    assert vendor.VERSION == "1.31.1"
    raw = base64.b64decode(vendor.INTEGRITY.removeprefix("sha512-"), validate=True)
    assert vendor.INTEGRITY.startswith("sha512-") and len(raw) == 64
