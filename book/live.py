"""The book's live panels: the models behind notebook 05's sliders and notebook 02's completion
explorer, exported to ONNX from the shipped checkpoints, for onnxruntime-web in the page.

``export(out)`` writes, into ``out`` (the site's ``_static/live/``):

- ``digits_vae.onnx``, ``digits_vae_2d.onnx``, ``pokemon_vae.onnx``: a code z (1, latent) float32 ->
  ``picture`` (H, W, 3) float32 in [0, 1], drawn exactly as the notebook's panel draws it
  (``helpers.notebook.widgets.decoder_render``): digits the expected grey level, ink dark on white;
  Pokémon the most probable colour of every pixel through the colormap;
- ``pixel_lstm512_wd.onnx``: the lecture's LSTM-512 of notebook 02, run over a stretch of the raster
  order with its (h, c) state: ``tokens`` (B, T) int64 (x_{t-1}, START = 167 at t = 0), ``t0`` (1,)
  int64 (the position of the first), ``h``, ``c`` (1, B, 512) -> ``logits`` (B, T, 167), ``h_out``,
  ``c_out``. The page reads the visible prefix in one call, then takes one step per pixel: the
  cached loop notebook 02 writes (``PixelLSTM._fill``);
- ``panels.json``: what the page needs beside the weights: the code m of every test image (what the
  notebook's "encode this image" sets; the panel opens on the image the notebook's panel encodes),
  slider ranges, the Pokémon colormap, and which rows of the course's pixel_color.txt are the test
  split: no sprites (the course's data is not redistributed, DATA.md); the explorer reads the
  reader's own copy of the file.

Only the shipped checkpoints are read (``helpers.registry.get`` with training switched off): the
ONNX files are build artefacts, not committed. Every file is written to a temporary name and
renamed. ``check(out)`` runs each exported model with onnxruntime beside the PyTorch model on the
same inputs and returns the largest difference (tests/test_book.py holds it to 1e-4).

    python book/live.py OUT        # export, then check (the check needs onnxruntime: the [dev] extra)
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

OPSET = 18
VAE_PANELS = {
    # name: (checkpoint, test image the notebook's panel encodes first, slider limit, where)
    "digits_vae": ("digits_vae", 0, 3.0, "05 §6, the 8-D digits VAE panel"),
    "digits_vae_2d": ("digits_vae_2d", 0, 1.5, "05 §4, the 2-D VAE's decoded grid (window ±1.5)"),
    "pokemon_vae": ("pokemon_vae", 2, 3.0, "05 §6, the 10-D Pokémon VAE panel"),
}
LSTM = "pixel_lstm512_wd"


class Picture(nn.Module):
    """z (1, latent) -> the panel's picture (H, W, 3) in [0, 1], as ``decoder_render`` draws it."""

    def __init__(self, vae: nn.Module, colormap: np.ndarray | None):
        super().__init__()
        self.vae = vae
        self.colour = colormap is not None
        if self.colour:
            self.register_buffer("cmap", torch.from_numpy(np.asarray(colormap, dtype=np.float32) / 255.0))
        levels = vae.cfg.levels
        self.register_buffer("levels", torch.arange(levels, dtype=torch.float32))
        self.top = float(levels - 1)

    def forward(self, z: Tensor) -> Tensor:
        logits = self.vae.decode(z)[0]  # (H, W, K)
        if self.colour:
            return self.cmap[logits.argmax(-1)]
        grey = 1.0 - (logits.softmax(-1) @ self.levels) / self.top
        return grey[..., None].expand(*grey.shape, 3)


class LSTMRun(nn.Module):
    """The pixel LSTM over T raster positions from t0, with its state in and out."""

    def __init__(self, lstm: nn.Module):
        super().__init__()
        self.m = lstm

    def forward(self, tokens: Tensor, t0: Tensor, h: Tensor, c: Tensor):
        t = t0 + torch.arange(tokens.shape[1], device=tokens.device)
        e = self.m.emb(tokens)
        if self.m.cfg.position:
            side = self.m.cfg.side
            e = e + self.m.row(t // side) + self.m.col(t % side)
        out, (h2, c2) = self.m.lstm(e, (h, c))
        return self.m.out(out), h2, c2


def _models():
    """The shipped models and the data the panels start from (no training: checkpoints only)."""
    os.environ.setdefault("GENERATION_NO_TRAIN", "1")
    from helpers.core.data import load_digits, load_pokemon
    from helpers.models.autoencoders import encode_means
    from helpers.registry import get

    digits, pokemon = load_digits(), load_pokemon()
    test = {"digits": digits.split()[2], "pokemon": pokemon.split()[2]}
    vaes = {}
    for name, (ckpt, index, limit, where) in VAE_PANELS.items():
        vae, _ = get(ckpt, train_if_missing=False)
        data = "pokemon" if name.startswith("pokemon") else "digits"
        # what "encode this image" sets, for every test image: one image at a time, as the notebook's
        # panel encodes (a batch can differ in the last bit)
        codes = torch.cat([encode_means(vae, x[None]) for x in test[data]])
        vaes[name] = dict(model=vae, colormap=pokemon.colormap if data == "pokemon" else None, codes=codes,
                          limit=limit, where=where, index=index)
    lstm, _ = get(LSTM, train_if_missing=False)
    return vaes, lstm.eval(), pokemon, test["pokemon"]


def _export_onnx(module: nn.Module, args: tuple, path: Path, names_in, names_out, dynamic=None) -> None:
    """torch's TorchScript-based exporter (``dynamo=False``; deprecated since torch 2.9 but in 2.13): the
    torch.export-based one, tried with torch 2.13 and onnxscript 0.7, gives the same numbers but
    annotates the LSTM's logits with the example's step count, so onnxruntime warns on every call
    with another length. Its deprecation warnings are silenced; ``check`` holds the result."""
    tmp = path.with_name(f".{path.name}.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(tmp), input_names=names_in, output_names=names_out,
                          opset_version=OPSET, dynamo=False, dynamic_axes=dynamic, do_constant_folding=True)
    os.replace(tmp, path)


def export(out: Path) -> dict:
    """Write the ONNX models and panels.json into ``out``; returns the panels' description."""
    from helpers.core.data import N_POKEMON, POKEMON_SPLIT

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vaes, lstm, pokemon, _ = _models()
    panels: dict = {"vae": {}, "lstm": {}}
    with torch.no_grad():
        for name, v in vaes.items():
            vae = v["model"].eval()
            latent = vae.cfg.latent
            _export_onnx(Picture(vae, v["colormap"]), (torch.zeros(1, latent),), out / f"{name}.onnx",
                         ["z"], ["picture"])
            panels["vae"][name] = {"file": f"{name}.onnx", "latent": latent, "side": vae.cfg.side,
                                   "limit": v["limit"], "step": 0.05, "encoded": v["index"], "where": v["where"],
                                   "what": "sprite" if v["colormap"] is not None else "image",
                                   "names": ["z\u2081 (across)", "z\u2082 (up)"] if latent == 2 else None,
                                   "codes": v["codes"].tolist()}
        cfg = lstm.cfg
        b, t = 2, 3
        h0 = torch.zeros(1, b, cfg.hidden)
        _export_onnx(LSTMRun(lstm), (torch.zeros(b, t, dtype=torch.long), torch.zeros(1, dtype=torch.long), h0, h0),
                     out / f"{LSTM}.onnx", ["tokens", "t0", "h", "c"], ["logits", "h_out", "c_out"],
                     dynamic={"tokens": {0: "batch", 1: "steps"}, "h": {1: "batch"}, "c": {1: "batch"},
                              "logits": {0: "batch", 1: "steps"}, "h_out": {1: "batch"}, "c_out": {1: "batch"}})
        panels["lstm"] = {"name": LSTM, "file": f"{LSTM}.onnx", "hidden": cfg.hidden, "colours": cfg.colours,
                          "start": cfg.colours, "side": cfg.side,
                          # no sprites: the course's data is not redistributed (DATA.md); the page reads the
                          # reader's own copy of pixel_color.txt and takes these rows, the test split
                          "rows": N_POKEMON,
                          "test": list(POKEMON_SPLIT["test"]),
                          "colormap": np.asarray(pokemon.colormap).astype(int).tolist()}
    tmp = out / ".panels.json.tmp"
    tmp.write_text(json.dumps(panels, separators=(",", ":")))
    os.replace(tmp, out / "panels.json")
    return panels


def check(out: Path, trials: int = 8, seed: int = 0) -> dict[str, float]:
    """Largest |onnxruntime - PyTorch| of every exported model on the same random inputs."""
    import onnxruntime as ort

    out = Path(out)
    vaes, lstm, _, sprites = _models()
    gen = torch.Generator().manual_seed(seed)
    worst: dict[str, float] = {}
    with torch.no_grad():
        for name, v in vaes.items():
            sess = ort.InferenceSession(str(out / f"{name}.onnx"), providers=["CPUExecutionProvider"])
            pic = Picture(v["model"].eval(), v["colormap"])
            diffs = []
            for _ in range(trials):
                z = 2 * torch.randn(1, v["model"].cfg.latent, generator=gen)
                got = sess.run(None, {"z": z.numpy()})[0]
                diffs.append(float(np.abs(got - pic(z).numpy()).max()))
            worst[name] = max(diffs)
        sess = ort.InferenceSession(str(out / f"{LSTM}.onnx"), providers=["CPUExecutionProvider"])
        seq = sprites[:3].flatten(1)
        ref = lstm(sprites[:3])  # teacher forcing over the whole sprite: (B, H, W, K)
        start = torch.full((3, 1), lstm.cfg.colours, dtype=torch.long)
        tokens = torch.cat([start, seq[:, :-1]], 1).numpy()
        h = np.zeros((1, 3, lstm.cfg.hidden), np.float32)
        # the prefix in one call, then single steps from the returned state, as the page does
        logits, h1, c1 = sess.run(None, {"tokens": tokens[:, :150], "t0": np.array([0]), "h": h, "c": h})
        steps = [logits]
        for t in range(150, 160):
            lg, h1, c1 = sess.run(None, {"tokens": tokens[:, t:t + 1], "t0": np.array([t]), "h": h1, "c": c1})
            steps.append(lg)
        got = np.concatenate(steps, 1)
        worst[LSTM] = float(np.abs(got - ref.flatten(1, 2)[:, :160].numpy()).max())
    return worst


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python book/live.py OUT_DIR", file=sys.stderr)
        return 2
    export(Path(argv[0]))
    for name, d in check(Path(argv[0])).items():
        print(f"{name}: largest |onnxruntime - torch| = {d:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
