"""Every shipped model of the series, by name: one recipe each, one ``get``, one command.

A recipe says how a checkpoint in ``data/checkpoints/NAME.pt`` was made: the model's
configuration, the training configuration (seed included), the data set, and the family's
``fit_*`` function (its loss, and the held-out metrics it records). Nothing else in the
package knows these facts.

    model, info = get("pixel_lstm512")        # eval mode, on the CPU; trains it if the file is missing
    info.metrics, info.history, info.meta       # held-out numbers, losses, where/how long it trained

    python -m helpers.registry list
    python -m helpers.registry train [NAME ...] [--device auto|cpu|cuda] [--epochs N] [--resume]

Rules: the shipped file is only ever replaced whole (a temp file renamed on success); a
recipe whose configuration differs from the shipped one (``--epochs``, or ``get(recipe)``
with a changed recipe) trains into the user cache (``$GENERATION_CACHE``, default
``~/.cache/generation-notebooks``), never over the shipped file. With
``GENERATION_NO_TRAIN=1`` (set by the test suite) a missing file is an error that says
to run ``make checkpoints``, instead of minutes of training.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import inspect
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.core.checkpoints import Checkpoint, headline, load_checkpoint, save_checkpoint
from helpers.core.data import REPO_ROOT, dataset
from helpers.core.recipe import Recipe
from helpers.core.train import cpu_name, flush_denormals, read_resume, resolve_device, save_atomic, seeded

CHECKPOINT_DIR = REPO_ROOT / "data" / "checkpoints"
TRAIN_COMMAND = "python -m helpers.registry train"


@functools.cache
def recipes() -> dict[str, Recipe]:
    """name -> Recipe of every shipped checkpoint (imports the model families on first use).
    Every configuration is spelled out here, field by field; the image side, the number of
    levels and the augmentation come from the data set's descriptor (helpers.core.data)."""
    from helpers.core.data import DIGITS, POKEMON
    from helpers.core.train import TrainConfig
    from helpers.models.adversarial import GANTrainConfig, ToyGAN, ToyGANConfig, fit_toy_gan
    from helpers.models.audio import ToneData, WaveNet, WaveNetConfig, WaveNetTrainConfig, fit_wavenet
    from helpers.models.text import CharLSTM, CharLSTMConfig, CharTrainConfig, fit_char_lstm
    from helpers.models.autoencoders import Autoencoder, NetConfig, fit_autoencoder
    from helpers.models.autoregressive import fit_autoregressive
    from helpers.models.image_gan import DiffAugGANConfig, ImageGAN, ImageGANConfig, fit_image_gan
    from helpers.models.pixel_cnn import PixelCNN, PixelCNNConfig
    from helpers.models.pixel_lstm import PixelLSTM, PixelLSTMConfig, RGBPixelLSTM, RGBPixelLSTMConfig, fit_rgb
    from helpers.models.vae import VAE, FreeBitsConfig, VAETrainConfig, fit_pixel_vae, fit_vae

    P, D = POKEMON, DIGITS
    small = TrainConfig(epochs=25, batch_size=32, lr=3e-3, weight_decay=0.0, patience=5, grad_clip=1.0, seed=0,
                        halve_lr_after=None)
    digits = TrainConfig(epochs=600, batch_size=64, lr=1e-3, weight_decay=0.0, patience=40, grad_clip=1.0, seed=0,
                         halve_lr_after=None)
    digits_short = dataclasses.replace(digits, epochs=100, patience=15)
    poke = TrainConfig(epochs=50, batch_size=32, lr=2e-3, weight_decay=0.0, patience=10, grad_clip=1.0, seed=0,
                       halve_lr_after=None)

    def lstm(hidden: int, dropout: float, emb_dropout: float) -> PixelLSTMConfig:
        return PixelLSTMConfig(colours=P.levels, side=P.side, emb=32, hidden=hidden, position=True, dropout=dropout,
                               emb_dropout=emb_dropout)

    def cnn(data, channels: int, layers: int, dropout: float) -> PixelCNNConfig:
        return PixelCNNConfig(colours=data.levels, side=data.side, channels=channels, layers=layers, kernel=3,
                              dilations=(1, 2, 1, 4), dropout=dropout)

    def net(data, latent: int, hidden: int, dropout: float = 0.0, autoregressive: bool = False) -> NetConfig:
        return NetConfig(side=data.side, levels=data.levels, latent=latent, hidden=hidden, depth=2,
                         arch="mlp" if data is D else "conv", embed=16, dropout=dropout, autoregressive=autoregressive)

    def gan(data, latent: int) -> ImageGANConfig:  # side, levels, channels: the descriptor's
        return ImageGANConfig(data.name, latent=latent, width=32, pack=2, tau=1.0, frames=8, frame_samples=8)

    gan_train = GANTrainConfig(steps=4000, batch=64, lr_g=2e-4, lr_d=2e-4, seed=0)
    toy_train = GANTrainConfig(steps=4000, batch=256, lr_g=1e-3, lr_d=1e-3, seed=0)  # equal rates, as in PacGAN
    iwae = functools.partial(fit_vae, iwae_k=1000)
    pixel_net = NetConfig(side=P.side, levels=P.levels, latent=10, hidden=48, depth=6, arch="conv", embed=16,
                          dropout=0.1, autoregressive=True)
    pixel_vae_train = TrainConfig(epochs=60, batch_size=32, lr=2e-3, weight_decay=0.0, patience=8, grad_clip=1.0,
                                  seed=0, halve_lr_after=4)
    table = [
        # notebook 02 (and 08): Pokémon, pixel by pixel
        Recipe("pixel_lstm512", "the lecture's LSTM-512 (02)", PixelLSTM, lstm(512, 0.5, 0.25),
               TrainConfig(epochs=80, batch_size=16, lr=2e-3, weight_decay=0.0, patience=8, grad_clip=1.0, seed=0,
                           halve_lr_after=None), fit_autoregressive, "pokemon",
               targets={"test_bpp": 2.55}),
        # issue 22: the same LSTM-512 with weight decay and a halving learning rate (staged for 02)
        Recipe("pixel_lstm512_wd", "the lecture's LSTM-512, weight decay 1e-4 (issue 22)", PixelLSTM,
               lstm(512, 0.5, 0.25),
               TrainConfig(epochs=80, batch_size=16, lr=2e-3, weight_decay=1e-4, patience=10, grad_clip=1.0, seed=0,
                           halve_lr_after=4), fit_autoregressive, "pokemon", threads=1,
               targets={"test_bpp": 2.40}),
        # the 2-D model that meets issue 22's likelihood target; staged for notebooks 02 and 08
        Recipe("context2d_96x10", "gated PixelCNN 96x10, dropout + weight decay (next for 02/08)", PixelCNN,
               cnn(P, 96, 10, 0.3),
               TrainConfig(epochs=80, batch_size=32, lr=2e-3, weight_decay=3e-4, patience=10, grad_clip=1.0, seed=0,
                           halve_lr_after=4), fit_autoregressive, "pokemon",
               targets={"test_bpp": 2.25}),
        # a second component of a mixture of 2-D models (issue 22): the same recipe, seed 1
        Recipe("context2d_96x10_s1", "gated PixelCNN 96x10, seed 1 (a mixture component)", PixelCNN,
               cnn(P, 96, 10, 0.3),
               TrainConfig(epochs=80, batch_size=32, lr=2e-3, weight_decay=3e-4, patience=10, grad_clip=1.0, seed=1,
                           halve_lr_after=4), fit_autoregressive, "pokemon", threads=1,
               targets={"test_bpp": 2.25}),
        # a third component (issue 22): seed 2
        Recipe("context2d_96x10_s2", "gated PixelCNN 96x10, seed 2 (a mixture component)", PixelCNN,
               cnn(P, 96, 10, 0.3),
               TrainConfig(epochs=80, batch_size=32, lr=2e-3, weight_decay=3e-4, patience=10, grad_clip=1.0, seed=2,
                           halve_lr_after=4), fit_autoregressive, "pokemon", threads=1,
               targets={"test_bpp": 2.25}),
        Recipe("pixel_lstm128_onehot", "LSTM-128, 1-of-N colours (02, slide 9)", PixelLSTM, lstm(128, 0.0, 0.0),
               small, fit_autoregressive, "pokemon"),
        Recipe("pixel_lstm128_rgb", "LSTM-128 regressing RGB (02, slide 9)", RGBPixelLSTM,
               RGBPixelLSTMConfig(side=P.side, emb=32, hidden=128, dropout=0.0), small, fit_rgb, "pokemon"),
        # notebook 06: digits, pixel by pixel
        Recipe("context2d_digits", "gated PixelCNN on digits (06)", PixelCNN, cnn(D, 32, 6, 0.1),
               TrainConfig(epochs=80, batch_size=32, lr=2e-3, weight_decay=0.0, patience=8, grad_clip=1.0, seed=0,
                           halve_lr_after=None), fit_autoregressive, "digits", threads=1),
        # notebooks 04-07: autoencoders and VAEs
        Recipe("digits_ae_2d", "autoencoder, 2-D code (04)", Autoencoder, net(D, 2, 256), digits_short,
               fit_autoencoder, "digits", threads=1),
        Recipe("digits_vae_2d", "VAE, 2-D code (05)", VAE, net(D, 2, 256),
               VAETrainConfig(kl_weight=1.0, warmup=0, train=digits_short), fit_vae, "digits", threads=1),
        Recipe("digits_vae", "VAE, 8-D code (05, 07, 08)", VAE, net(D, 8, 256, 0.2),
               VAETrainConfig(kl_weight=1.0, warmup=20, train=digits), iwae, "digits", threads=1),
        Recipe("digits_vae_rec_only", "the same net, reconstruction only (05, slide 20)", VAE, net(D, 8, 256, 0.2),
               VAETrainConfig(kl_weight=0.0, warmup=0, train=dataclasses.replace(digits, epochs=100, patience=None)),
               fit_vae, "digits", threads=1),
        Recipe("digits_vae_made", "VAE with a MADE decoder, the likelihood model (05, 06)", VAE,
               net(D, 16, 768, 0.5, autoregressive=True),
               VAETrainConfig(kl_weight=1.0, warmup=20, train=dataclasses.replace(digits, lr=5e-4, weight_decay=3e-4)),
               iwae, "digits", threads=1),
        Recipe("pokemon_ae", "autoencoder, 10-D code (04)", Autoencoder, net(P, 10, 24), poke,
               fit_autoencoder, "pokemon", threads=1),
        Recipe("pokemon_vae", "VAE, 10-D code (05, 08)", VAE, net(P, 10, 24),
               VAETrainConfig(kl_weight=1.0, warmup=10, train=poke), fit_vae, "pokemon", threads=1),
        # issue 22: the PixelVAE, a VAE whose decoder is a small PixelCNN that sees z (05's "what it takes"),
        # with free bits, and the same without them or a warm-up (a strong decoder then ignores z)
        Recipe("pokemon_pixelvae", "PixelVAE: PixelCNN decoder given z, free bits (05)", VAE, pixel_net,
               FreeBitsConfig(kl_weight=1.0, warmup=10, train=pixel_vae_train, free_bits=1.0),
               functools.partial(fit_pixel_vae, iwae_k=100), "pokemon", threads=1,
               targets={"test_iwae100_nats": 700.0}),
        Recipe("pokemon_pixelvae_plain", "the same PixelVAE without free bits or warm-up (05)", VAE, pixel_net,
               FreeBitsConfig(kl_weight=1.0, warmup=0, train=pixel_vae_train, free_bits=0.0),
               functools.partial(fit_pixel_vae, iwae_k=100), "pokemon", threads=1),
        # notebook 08: GANs
        Recipe("gan_digits", "1-of-N GAN on digits (08)", ImageGAN, gan(D, 8), gan_train, fit_image_gan, "digits",
               threads=1),
        Recipe("gan_pokemon", "1-of-N GAN on Pokémon (08)", ImageGAN, gan(P, 16), gan_train, fit_image_gan,
               "pokemon", threads=1),
        Recipe("gan_pokemon_diffaug", "1-of-N GAN on Pokémon + DiffAugment (issue 22)", ImageGAN,
               DiffAugGANConfig(P.name, latent=16, width=32, pack=2, tau=1.0, frames=8, frame_samples=8,
                                translate=0.125, cutout=0.5),
               dataclasses.replace(gan_train, steps=8000), fit_image_gan, "pokemon", threads=1),
        Recipe("toy_gan_plain", "GAN on the 8-Gaussian ring (08)", ToyGAN, ToyGANConfig(pack=1, noise=256, hidden=128),
               toy_train, fit_toy_gan, None, threads=1),
        Recipe("toy_gan_pack2", "PacGAN on the ring (08)", ToyGAN, ToyGANConfig(pack=2, noise=256, hidden=128),
               toy_train, fit_toy_gan, None, threads=1),
        # notebook 03: audio
        Recipe("wavenet_tones", "WaveNet on synthetic tones (03)", WaveNet,
               WaveNetConfig(dilations=(1, 2, 4, 8, 16, 32, 64, 128) * 2, kernel=2, channels=32, skip_channels=64,
                             levels=256),
               WaveNetTrainConfig(data=ToneData(n_train=96, n_valid=16, n_test=16, seconds=1.0, seed=0),
                                  train=TrainConfig(epochs=120, batch_size=16, lr=3e-3, weight_decay=0.0, patience=8,
                                                    grad_clip=1.0, seed=0, halve_lr_after=None), crop=2048),
               fit_wavenet, None, threads=1),
        Recipe("char_lstm", "character LSTM on the series' own prose (03)", CharLSTM,
               CharLSTMConfig(vocab=109, emb=32, hidden=192, layers=1, length=128),
               CharTrainConfig(split=(0.8, 0.1), window=128,
                               train=TrainConfig(epochs=80, batch_size=32, lr=3e-3, weight_decay=0.0, patience=4,
                                                 grad_clip=1.0, seed=0, halve_lr_after=None)),
               fit_char_lstm, None, threads=1, targets={"test_bits": 3.0}),
    ]
    return {r.name: r for r in table}


def recipe(name: str) -> Recipe:
    table = recipes()
    if name not in table:
        raise KeyError(f"no shipped model {name!r}; `python -m helpers.registry list` shows them: {sorted(table)}")
    return table[name]


def cache_dir() -> Path:
    """Where models trained with a configuration other than the shipped one go."""
    return Path(os.environ.get("GENERATION_CACHE") or Path.home() / ".cache" / "generation-notebooks").expanduser()


def is_shipped(r: Recipe) -> bool:
    return r.name in recipes() and r.config == recipe(r.name).config


def _digest(r: Recipe) -> str:
    """Ten hex digits that name a recipe's configuration in the user cache."""
    return hashlib.sha256(json.dumps(r.config, sort_keys=True).encode()).hexdigest()[:10]


def resume_path(r: Recipe) -> Path:
    """Where ``train(r, resume=True)`` keeps its state after every epoch or 100 GAN steps (the user cache)."""
    return cache_dir() / "resume" / f"{r.name}-{_digest(r)}.pt"


def path_for(r: Recipe) -> Path:
    """data/checkpoints/NAME.pt for the shipped recipe; the user cache for any other configuration."""
    if is_shipped(r):
        return CHECKPOINT_DIR / f"{r.name}.pt"
    return cache_dir() / f"{r.name}-{_digest(r)}.pt"


def train(r: Recipe | str, *, device: str | torch.device | None = "auto", progress: bool | None = None,
          resume: bool = False) -> tuple[nn.Module, Checkpoint]:
    """Train a recipe from scratch (seeded) and write its checkpoint (temp file, then rename):
    the shipped file for the shipped configuration, the user cache otherwise. With ``resume``,
    the whole training state is saved after every epoch (``resume_path``) and a run stopped
    part-way continues from it, ending exactly as an uninterrupted run would; the checkpoint's
    meta then sums the time of every run and names where each ran."""
    r = recipe(r) if isinstance(r, str) else r
    if resume and not r.resumable:
        raise ValueError(f"{r.name} cannot be resumed: its training function {getattr(r.fit, 'func', r.fit).__name__} "
                         f"takes no resume= state file; train it without --resume, or pass resume= on to "
                         f"helpers.core.train.fit (or train_adversarial) as every shipped recipe does")
    dev = resolve_device(device)
    data = dataset(r.data).load() if r.data else None
    threads = torch.get_num_threads()
    if r.threads and dev.type == "cpu":
        torch.set_num_threads(r.threads)
    state = resume_path(r) if resume else None
    runs_file = state.with_suffix(".runs.pt") if state else None
    try:
        where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu, {torch.get_num_threads()} thread(s)"
        runs = (torch.load(runs_file, weights_only=True) if runs_file and runs_file.is_file() and state.is_file()
                else [])
        earlier = read_resume(state)["hist"]["seconds"] if state and state.is_file() else 0.0
        if runs_file:
            runs.append(where)
            save_atomic(runs_file, runs)
        start = time.perf_counter()
        with seeded(r.seed, dev):
            model = r.build(r.model)
            extra = {"resume": state} if state else {}
            if r.data and "augment" in inspect.signature(r.fit).parameters:
                extra["augment"] = dataset(r.data).augmentation  # the data set's own (flips for Pokémon)
            hist, metrics = r.fit(model, r.train, data, device=dev, progress=progress, **extra)
        seconds = earlier + time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    meta = {"device": "; ".join(dict.fromkeys(runs)) if runs else where, "seconds": round(seconds, 1),
            "cpu": cpu_name(), "torch": str(torch.__version__), "date": dt.date.today().isoformat(),
            "command": f"{TRAIN_COMMAND} {r.name}" + (" --resume" if resume else "")}
    if len(runs) > 1:
        meta["runs"] = len(runs)
    path = save_checkpoint(path_for(r), model, r.config, history=hist, metrics=metrics, meta=meta)
    if state:
        state.unlink(missing_ok=True)
        runs_file.unlink(missing_ok=True)
    return model.eval(), Checkpoint(path, r.config, hist, metrics, meta, trained=True)


def get(name: str | Recipe, *, device: str | torch.device = "cpu", progress: bool | None = None,
        train_if_missing: bool | None = None) -> tuple[nn.Module, Checkpoint]:
    """A model by name (or a changed Recipe): loaded from its checkpoint, in eval mode on
    ``device``; trained first if the file is missing (on the GPU when there is one), unless
    train_if_missing=False or GENERATION_NO_TRAIN=1, which raise FileNotFoundError instead."""
    r = recipe(name) if isinstance(name, str) else name
    path = path_for(r)
    if not path.is_file():
        if train_if_missing is None:
            train_if_missing = os.environ.get("GENERATION_NO_TRAIN", "") in ("", "0")
        if not train_if_missing:
            raise FileNotFoundError(f"no checkpoint {path} for {r.name!r}: run `make checkpoints` "
                                    f"(or `{TRAIN_COMMAND} {r.name}`), or `git checkout -- {path}`")
        model, info = train(r, progress=progress)
        return model.to(device).eval(), info
    with seeded(r.seed):  # the initial weights are overwritten; the caller's random state stays as it was
        model = r.build(r.model)
    info = load_checkpoint(path, model, r.config, how_to_get=f"{TRAIN_COMMAND} {r.name}")
    return model.to(device).eval(), info


CHECKPOINT_LIMIT_MB, CHECKPOINTS_BUDGET_MB = 12, 80  # MB (10^6 bytes) each / all shipped: tests/test_registry.py


def describe(name: str) -> dict[str, Any]:
    """One row of `list`: name, file, size, held-out metrics, where and how long it trained."""
    from helpers.core.checkpoints import read_checkpoint

    r, path = recipe(name), CHECKPOINT_DIR / f"{name}.pt"
    row: dict[str, Any] = {"name": name, "what": r.what, "file": str(path.relative_to(REPO_ROOT))}
    if not path.is_file():
        return {**row, "size_mb": None, "metrics": {}, "meta": {}}
    payload = read_checkpoint(path)
    metrics = {k: v for k, v in headline(payload.get("metrics", {}), r.metrics).items() if isinstance(v, (int, float))}
    return {**row, "size_mb": path.stat().st_size / 1e6, "metrics": metrics, "meta": payload.get("meta", {})}


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m helpers.registry", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every shipped model: file, size, held-out metrics, where it trained")
    t = sub.add_parser("train", help="(re)train shipped models; default: all")
    t.add_argument("names", nargs="*", metavar="NAME")
    t.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda")
    t.add_argument("--resume", action="store_true",
                   help="save the whole state after every epoch (GANs: every 100 steps) in the user cache and "
                        "continue a stopped run from it")
    t.add_argument("--epochs", type=int, default=None,
                   help="another epoch cap (GANs: x100 steps); trains into the user cache, not data/checkpoints")
    args = p.parse_args(argv)
    flush_denormals()  # before any training: on Intel CPUs denormals slow the PixelCNNs many times
    if args.command == "list":
        total = 0.0
        for name in recipes():
            d = describe(name)
            total += d["size_mb"] or 0.0
            size = "missing" if d["size_mb"] is None else f"{d['size_mb']:.1f} MB"
            runs = f" over {d['meta']['runs']} runs" if d["meta"].get("runs", 1) > 1 else ""  # resumed
            where = f"{d['meta'].get('device', '?')}, {d['meta'].get('seconds', '?')} s{runs}" if d["meta"] else ""
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in d["metrics"].items())
            shown += "".join(f" (target {k} < {v})" for k, v in recipe(name).targets.items())
            print(f"{name:22} {d['file']:42} {size:>8}  {where:28} {shown}")
        print(f"all {len(recipes())} checkpoints: {total:.1f} MB of the {CHECKPOINTS_BUDGET_MB} MB budget "
              f"({CHECKPOINTS_BUDGET_MB - total:.1f} MB left; at most {CHECKPOINT_LIMIT_MB} MB each)")
        return 0
    for name in args.names or list(recipes()):
        r = recipe(name) if args.epochs is None else recipe(name).with_epochs(args.epochs)
        print(f"{name}: training on {resolve_device(args.device)} -> {path_for(r)}", flush=True)
        _, info = train(r, device=args.device, progress=False, resume=args.resume)
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in info.metrics.items() if isinstance(v, (int, float)))
        print(f"{name}: {info.meta['seconds']} s on {info.meta['device']}; {shown}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
