"""helpers.core.data: shapes, splits, validation errors, and the download path against a local
HTTP server on 127.0.0.1 (never the internet) serving the course copy and broken variants."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from local_http import serve

from helpers.core import data
from helpers.core.data import DataError, load_digits, load_pokemon

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- loading and validation
def test_pokemon_shapes_and_values(pokemon):
    assert pokemon.images.shape == (792, 20, 20) and pokemon.images.dtype == np.int64
    assert pokemon.colormap.shape == (167, 3) and pokemon.colormap.dtype == np.uint8
    assert pokemon.images.min() == 0 and pokemon.images.max() == 166
    assert len(np.unique(pokemon.images)) == 167  # every colour occurs
    assert tuple(pokemon.colormap[0]) == (255, 255, 255)  # index 0 is the white background
    assert abs((pokemon.images == 0).mean() - 0.379) < 0.001


def test_pokemon_rows_are_the_file_lines(pokemon, pokemon_dir):
    first = [int(v) for v in (pokemon_dir / "pixel_color.txt").read_text().splitlines()[0].split()]
    assert pokemon.images[0].flatten().tolist() == first  # row-major 20x20


def test_to_rgb(pokemon):
    rgb = pokemon.to_rgb(pokemon.images[:3])
    assert rgb.shape == (3, 20, 20, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0 and rgb.max() <= 1
    k = pokemon.images[0, 10, 10]
    np.testing.assert_allclose(rgb[0, 10, 10], pokemon.colormap[k] / 255.0)
    np.testing.assert_allclose(pokemon.to_rgb(torch.from_numpy(pokemon.images[:3])), rgb)


@pytest.mark.parametrize("bad", [np.array([[167]]), np.array([[-1]])])
def test_to_rgb_rejects_out_of_range(pokemon, bad):
    with pytest.raises(ValueError, match=r"0\.\.166"):
        pokemon.to_rgb(bad)


def test_to_rgb_rejects_floats(pokemon):
    with pytest.raises(TypeError, match="integers"):
        pokemon.to_rgb(np.zeros((2, 2)))


def test_pokemon_split(pokemon):
    train, valid, test = pokemon.split()
    assert (len(train), len(valid), len(test)) == (640, 72, 80)
    assert train.dtype == torch.int64 and train.shape[1:] == (20, 20)
    assert torch.equal(test, torch.from_numpy(pokemon.images[-80:]))  # held-out = last 80 lines
    assert torch.equal(torch.cat([train, valid, test]), torch.from_numpy(pokemon.images))


def test_digits_split():
    d = load_digits()
    assert d.images.shape == (1797, 8, 8) and d.images.min() == 0 and d.images.max() == 16
    train, valid, test = d.split()
    assert (len(train), len(valid), len(test)) == (1000, 350, 447)
    assert torch.equal(test, torch.from_numpy(d.images[1350:]))
    ytr, yva, yte = d.split_labels()
    assert (len(ytr), len(yva), len(yte)) == (1000, 350, 447)
    assert set(yte.tolist()) == set(range(10))


@pytest.fixture
def copy_dir(tmp_path, pokemon_dir) -> Path:
    dest = tmp_path / "copy"
    dest.mkdir()
    for name in data.POKEMON_FILES:
        shutil.copy(pokemon_dir / name, dest / name)
    return dest


def test_explicit_path_beats_env(copy_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("POKEMON_DATA_DIR", str(tmp_path / "nowhere"))
    assert load_pokemon(copy_dir).images.shape == (792, 20, 20)


def test_env_variable_is_used(copy_dir, monkeypatch):
    monkeypatch.setenv("POKEMON_DATA_DIR", str(copy_dir))
    assert load_pokemon(download=False, cache_dir="/nonexistent").images.shape == (792, 20, 20)


def test_env_pointing_at_empty_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("POKEMON_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"POKEMON_DATA_DIR.*lacks pixel_color.txt, colormap.txt"):
        load_pokemon()


def test_cache_is_used(copy_dir, monkeypatch):
    monkeypatch.delenv("POKEMON_DATA_DIR", raising=False)
    p = load_pokemon(cache_dir=copy_dir, download=False)
    assert p.colormap.shape == (167, 3)


def test_truncated_file(copy_dir):
    f = copy_dir / "pixel_color.txt"
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:500]) + "\n")
    with pytest.raises(DataError, match=r"pixel_color\.txt: expected 792 lines, found 500; replace") as err:
        load_pokemon(copy_dir)
    assert "delete" not in str(err.value)  # path= is never downloaded into: deleting would not help


# ---------------------------------------------------------------- the fix each error suggests
def _truncate(folder: Path) -> None:
    f = folder / "colormap.txt"
    f.write_text("\n".join(f.read_text().splitlines()[:100]) + "\n")


def test_bad_file_in_cache_says_delete_it(copy_dir, no_env):
    _truncate(copy_dir)
    with pytest.raises(DataError, match=r"found 100; delete .*colormap\.txt so it is downloaded again"):
        load_pokemon(cache_dir=copy_dir, download=False)


def test_bad_file_in_path_says_replace_it(copy_dir, no_env):
    _truncate(copy_dir)
    with pytest.raises(DataError, match=r"found 100; replace .*colormap\.txt with the course's copy") as err:
        load_pokemon(copy_dir)
    assert "delete" not in str(err.value) and "path=" in str(err.value)


def test_bad_file_in_env_folder_names_the_variable(copy_dir, monkeypatch):
    monkeypatch.setenv("POKEMON_DATA_DIR", str(copy_dir))
    _truncate(copy_dir)
    with pytest.raises(DataError, match=r"found 100; replace .*point \$POKEMON_DATA_DIR at a folder") as err:
        load_pokemon()
    assert "delete" not in str(err.value)


def test_tilde_in_path_is_expanded(copy_dir, monkeypatch):
    monkeypatch.setenv("HOME", str(copy_dir.parent))
    assert load_pokemon("~/copy").images.shape == (792, 20, 20)


def test_permission_error_names_the_file(copy_dir, monkeypatch):
    real = Path.read_bytes

    def denied(self):  # chmod does not stop root, so the error is simulated
        if self.name == "colormap.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(DataError, match=r"colormap\.txt: permission denied.*chmod a\+r"):
        load_pokemon(copy_dir)


def test_unwritable_cache_says_so(tmp_path, no_env, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data.tempfile, "mkstemp", denied)
    with pytest.raises(DataError, match=r"cannot download pixel_color\.txt into .*cache: permission denied"):
        load_pokemon(cache_dir=tmp_path / "cache", url="http://127.0.0.1:9/", progress=False)


def test_crlf_line_endings_are_named(copy_dir):
    f = copy_dir / "colormap.txt"
    f.write_bytes(f.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(DataError, match=r"colormap\.txt: sha256 .*Windows \(CRLF\) line endings, the likely cause "
                                        r"\(with LF endings it is the course copy\).*dos2unix"):
        load_pokemon(copy_dir)


def test_truncated_mid_line(copy_dir):
    f = copy_dir / "pixel_color.txt"
    f.write_bytes(f.read_bytes()[:-300])  # cuts the last line short
    with pytest.raises(DataError, match=r"expected 400 numbers on every line, line 792 has"):
        load_pokemon(copy_dir)


def test_index_out_of_range(copy_dir):
    f = copy_dir / "pixel_color.txt"
    f.write_text(f.read_text().replace("0 ", "999 ", 1))
    with pytest.raises(DataError, match=r"values must lie in 0\.\.166, found 0\.\.999"):
        load_pokemon(copy_dir)


def test_colormap_not_integers(copy_dir):
    f = copy_dir / "colormap.txt"
    f.write_text(f.read_text().replace("255 255 255", "255 255 2.5", 1))
    with pytest.raises(DataError, match=r"colormap\.txt: not all entries are integers"):
        load_pokemon(copy_dir)


def test_checksum_mismatch_with_valid_shape(copy_dir):
    f = copy_dir / "colormap.txt"
    f.write_text(f.read_text().replace("255 255 255", "254 255 255", 1))  # parses, wrong bytes
    with pytest.raises(DataError, match=r"colormap\.txt: sha256 is .* expected 1ee954cf"):
        load_pokemon(copy_dir)


def test_offline_without_cache_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.delenv("POKEMON_DATA_DIR", raising=False)
    with pytest.raises(DataError, match=r"missing and download=False; download it from .* into"):
        load_pokemon(cache_dir=tmp_path / "cache", download=False)


# ---------------------------------------------------------------- download (127.0.0.1 only)
class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    mode = "ok"

    def do_GET(self):  # noqa: N802
        name = self.path.rsplit("/", 1)[-1]
        body = self.files.get(name)
        if body is None or self.mode == "404":
            self.send_error(404, "Not Found")
            return
        if self.mode == "corrupt":
            body = body.replace(b"0 ", b"1 ", 1)
        if self.mode == "truncated":  # the server's own copy is short: headers agree with it
            body = body[: len(body) // 2]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "drop":  # server goes away mid-download
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(pokemon_dir):
    files = {n: (pokemon_dir / n).read_bytes() for n in data.POKEMON_FILES}
    handler = type("Handler", (_Handler,), {"files": files, "mode": "ok"})
    with serve(handler) as base:
        yield handler, f"{base}course/"


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("POKEMON_DATA_DIR", raising=False)


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_download_ok(server, tmp_path, no_env):
    _, url = server
    cache = tmp_path / "cache"
    p = load_pokemon(url=url, cache_dir=cache, progress=False)
    assert p.images.shape == (792, 20, 20)
    assert _leftovers(cache) == ["colormap.txt", "pixel_color.txt"]  # no .part files
    for name, sha in data.POKEMON_FILES.items():
        assert hashlib.sha256((cache / name).read_bytes()).hexdigest() == sha
    # second call uses the cache: works with the server in 404 mode
    server[0].mode = "404"
    assert load_pokemon(url=url, cache_dir=cache, progress=False).images.shape == (792, 20, 20)


@pytest.mark.parametrize(
    "mode, message",
    [
        ("404", r"HTTP 404"),
        ("corrupt", r"sha256 is .* nothing was saved"),
        ("truncated", r"sha256 is .* nothing was saved"),
        ("drop", r"got \d+ of 849758 bytes \(connection dropped\)"),
    ],
)
def test_download_failures_leave_nothing(server, tmp_path, no_env, mode, message):
    handler, url = server
    handler.mode = mode
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=message) as err:
        load_pokemon(url=url, cache_dir=cache, progress=False)
    assert "path=" in str(err.value)  # says how to fix it
    assert _leftovers(cache) == []


def test_download_server_gone(tmp_path, no_env):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"could not download http://127\.0\.0\.1.*by hand into"):
        load_pokemon(url=f"http://127.0.0.1:{port}/", cache_dir=cache, progress=False)
    assert _leftovers(cache) == []


def test_the_test_suite_points_the_loader_at_a_folder_so_it_never_downloads(tmp_path):
    """The root conftest sets POKEMON_DATA_DIR in every test run: the course copy beside the
    repository, else data/pokemon/ even when that is empty; with it set load_pokemon() never
    downloads (test_env_pointing_at_empty_folder above: it raises instead)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", REPO / "conftest.py")
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    repo = tmp_path / "repo"
    assert root.pokemon_data_dir(repo) == repo / "data" / "pokemon"  # nothing anywhere: still a folder
    (repo / "data" / "pokemon").mkdir(parents=True)
    (repo / "data" / "pokemon" / "pixel_color.txt").write_text("")
    assert root.pokemon_data_dir(repo) == repo / "data" / "pokemon"
    shared = tmp_path / "shared" / "data" / "pokemon"
    shared.mkdir(parents=True)
    (shared / "pixel_color.txt").write_text("")
    assert root.pokemon_data_dir(repo) == shared  # the course copy beside the repository comes first
    assert os.environ.get("POKEMON_DATA_DIR"), "this very run has it set"
