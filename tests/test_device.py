"""The device policy, checked on a CPU-only machine.

On a GPU a tensor created on the CPU next to a CUDA model fails at once; on the CPU it passes
silently. So, while the training and sampling paths of every model family run here, a
TorchFunctionMode watches every tensor factory call (torch.zeros, arange, randn, ...) made
*from helpers/ code*: each must say where its tensor goes (``device=``), normally the
model's or an input's device, or the generator's device for random draws (then moved).
A call without ``device=`` would create a CPU tensor on a GPU machine: the test names it.

The same tests run on a GPU, where such a tensor fails at once: GENERATION_TEST_DEVICE=cuda puts
their models there (the ``device`` fixture; ``scripts/device_check.sh`` runs them so).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

HELPERS = str(Path(__file__).resolve().parents[1] / "helpers")
FACTORIES = {"zeros", "ones", "full", "empty", "arange", "rand", "randn", "randint", "randperm", "tensor",
             "linspace", "eye", "as_tensor", "normal", "zeros_like_no", "empty_strided"}


class FactoryDeviceCheck(TorchFunctionMode):
    """Records (file:line, function) of factory calls from helpers/ that pass no device=."""

    def __init__(self):
        super().__init__()
        self.offenders: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in FACTORIES and "device" not in kwargs:
            frame = sys._getframe(1)
            if frame.f_code.co_filename.startswith(HELPERS):
                self.offenders.add(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} torch.{name}")
        return func(*args, **kwargs)


def _check(run) -> None:
    with FactoryDeviceCheck() as mode:
        run()
    assert not mode.offenders, ("tensors created without device= in helpers (they would land on the CPU "
                                f"beside a CUDA model): {sorted(mode.offenders)}")


def _sprites(n, side=20, levels=167, seed=0):
    return torch.randint(0, levels, (n, side, side), generator=torch.Generator().manual_seed(seed))


TINY = dict(epochs=1, batch_size=4, patience=None)


def test_the_check_catches_a_cpu_tensor():
    def bad():
        import helpers.core.train as t  # any helpers module: call a factory from its namespace
        exec(compile("import torch\ntorch.zeros(3)", t.__file__, "exec"), {})

    with pytest.raises(AssertionError, match=r"train\.py:\d+ torch\.zeros"):
        _check(bad)


def test_autoregressive_paths(device):
    from helpers.models.autoregressive import complete, fit_autoregressive
    from helpers.core.data import Split, hflip
    from helpers.models.pixel_cnn import PixelCNN, PixelCNNConfig
    from helpers.models.pixel_lstm import PixelLSTM, PixelLSTMConfig, RGBPixelLSTM, RGBPixelLSTMConfig, fit_rgb, time_sampling
    from helpers.core.train import TrainConfig

    x = _sprites(8)
    data = Split(x, x[:4], x[:4])
    cfg = TrainConfig(**TINY)
    for model in (PixelLSTM(PixelLSTMConfig(hidden=16, emb=8)), PixelCNN(PixelCNNConfig(channels=8, layers=2))):
        def run(model=model.to(device)):  # fit trains where the model is; the data stay on the CPU
            fit_autoregressive(model, cfg, data, augment=hflip, progress=False)
            g = torch.Generator().manual_seed(0)  # a CPU generator: its draws move to the model's device
            model.sample(2, generator=g, stop=25)
            complete(model, x[:1].to(device), 0.05, 1, generator=g)
            model.log_prob(x[:2].to(device))
        _check(run)
    lstm = PixelLSTM(PixelLSTMConfig(hidden=16, emb=8)).to(device)
    _check(lambda: (lstm.sample_rerun(2, pixels=5), time_sampling(lstm, n=2, pixels=5)))
    digits = PixelCNN(PixelCNNConfig(colours=17, side=8, channels=8, layers=2)).to(device)
    _check(lambda: digits.sample(2, generator=torch.Generator().manual_seed(0)))
    palette = torch.rand(167, 3)
    _check(lambda: fit_rgb(RGBPixelLSTM(RGBPixelLSTMConfig(hidden=8, emb=4)).to(device), cfg, data, palette=palette,
                           augment=hflip, progress=False))


def test_autoencoder_and_vae_paths(device):
    from helpers.models.autoencoders import Autoencoder, decode_images, digits_net, encode_means, fit_autoencoder, pokemon_net
    from helpers.core.data import Split
    from helpers.core.train import TrainConfig
    from helpers.models.vae import VAE, VAETrainConfig, fit_vae

    d = _sprites(16, side=8, levels=17)
    digits = Split(d, d[:8], d[:8])
    p = _sprites(8)
    poke = Split(p, p[:4], p[:4])
    cfg = TrainConfig(**TINY)
    made = dataclasses.replace(digits_net(2, 16, 2), autoregressive=True)
    for net, data in ((digits_net(2, 16, 1), digits), (made, digits), (pokemon_net(2, hidden=4), poke)):
        def run(net=net, data=data):
            ae = Autoencoder(net).to(device)
            fit_autoencoder(ae, cfg, data, progress=False)
            decode_images(ae, encode_means(ae, data.test))
            vae = VAE(net).to(device)
            fit_vae(vae, VAETrainConfig(warmup=2, train=cfg), data, progress=False, iwae_k=4)
            g = torch.Generator().manual_seed(0)
            vae.sample(2, generator=g)
            vae.log_prob_estimate(data.test[:2].to(device), k=4, generator=g)
        _check(run)


def test_gan_paths(device):
    from helpers.models.adversarial import GANTrainConfig, ToyGAN, ToyGANConfig, fit_toy_gan
    from helpers.core.data import DIGITS, Split
    from helpers.models.image_gan import ImageGAN, ImageGANConfig, fit_image_gan

    _check(lambda: fit_toy_gan(ToyGAN(ToyGANConfig(noise=8, hidden=8)).to(device),
                               GANTrainConfig(steps=5, batch=16, lr_g=1e-3, lr_d=1e-3, seed=0), None, progress=False))
    d = _sprites(32, side=8, levels=17)
    cfg = ImageGANConfig("digits", latent=4, width=4, frames=2, frame_samples=2)
    gan = ImageGAN(cfg, DIGITS.palette()).to(device)

    def run():
        fit_image_gan(gan, GANTrainConfig(steps=4, batch=8, lr_g=1e-3, lr_d=1e-3, seed=0), Split(d, d[:8], d[:8]),
                      progress=False)
        gan.sample(3, generator=torch.Generator().manual_seed(0))
    _check(run)


def test_wavenet_paths(device):
    from helpers.models.audio import ToneData, WaveNet, WaveNetConfig, WaveNetTrainConfig, fit_wavenet
    from helpers.core.train import TrainConfig

    model = WaveNet(WaveNetConfig(dilations=(1, 2), channels=4, skip_channels=4)).to(device)
    cfg = WaveNetTrainConfig(data=ToneData(n_train=4, n_valid=2, n_test=2, seconds=0.05),
                             train=TrainConfig(**TINY), crop=64)

    def run():
        fit_wavenet(model, cfg, None, progress=False)
        g = torch.Generator().manual_seed(0)
        model.sample(2, generator=g, length=20, prefix=torch.zeros(5, dtype=torch.long, device=device) + 128)
        model.log_prob(torch.full((2, 30), 128, dtype=torch.long, device=device))
    _check(run)


def test_registry_train_and_get_follow_the_device(tmp_path, monkeypatch, device):
    """The registry's own path (train a changed recipe into the cache, load it back) on the test's device."""
    from helpers import registry

    monkeypatch.setenv("GENERATION_CACHE", str(tmp_path))
    r = registry.recipe("toy_gan_plain")
    small = dataclasses.replace(r, train=dataclasses.replace(r.train, steps=5, batch=16))
    _check(lambda: registry.train(small, device=device, progress=False))
    model, info = registry.get(small, device=device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    assert info.path.parent == tmp_path and info.meta["device"].startswith(where), info.meta["device"]
    assert {p.device.type for p in model.parameters()} == {device.type}


def test_the_device_check_says_when_there_is_no_gpu(tmp_path):
    """scripts/device_check.sh, the prepared run for a GPU machine, stops at its first step with a
    message that says what to do when torch sees no GPU (its CPU run: DEVICE=cpu, by hand)."""
    import os
    import subprocess

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: run scripts/device_check.sh itself")
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DEVICE": "cuda", "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    res = subprocess.run(["bash", "scripts/device_check.sh"], cwd=repo, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "torch sees no CUDA GPU here: run it on a GPU machine, or DEVICE=cpu" in res.stdout + res.stderr
    assert "step 'environment' failed" in res.stderr
    assert (tmp_path / "out" / "environment.log").is_file() and not (tmp_path / "out" / "tests.log").exists()
