"""The frozen prose corpus and the character n-gram baselines (helpers.models.text)."""
from __future__ import annotations

import hashlib
import math

import pytest

from helpers.models.text import CORPUS, CORPUS_SHA256, bigram_bits, load_corpus, split_text, unigram_bits


def test_corpus_checksum_matches_data_md():
    assert hashlib.sha256(CORPUS.read_bytes()).hexdigest() == CORPUS_SHA256
    assert CORPUS_SHA256 in (CORPUS.parents[2] / "DATA.md").read_text(encoding="utf-8")
    assert len(load_corpus()) > 100_000


def test_load_corpus_refuses_a_changed_file(tmp_path):
    changed = tmp_path / "prose.txt"
    changed.write_bytes(CORPUS.read_bytes() + b"x")
    with pytest.raises(ValueError, match="sha256"):
        load_corpus(changed)


def test_splits_are_contiguous_blocks():
    text = "".join(chr(65 + i % 26) for i in range(1000))
    train, valid, test = split_text(text)
    assert (len(train), len(valid), len(test)) == (800, 100, 100)
    assert train + valid + test == text


def test_baselines_on_a_hand_made_text():
    # unigram: a and b each (2 + 1) / (4 + 2) = 1/2 -> exactly 1 bit per character
    assert unigram_bits("abab", "abba", "ab") == pytest.approx(1.0, abs=1e-12)
    # bigram, test "aab": p(a|a) = (0 + 1) / (2 + 2), p(b|a) = (2 + 1) / (2 + 2)
    want = (-math.log2(1 / 4) - math.log2(3 / 4)) / 2
    assert bigram_bits("abab", "aab", "ab") == pytest.approx(want, abs=1e-12)
    assert want == pytest.approx(2 - math.log2(3) / 2, abs=1e-12)


def test_bigram_beats_unigram_on_the_corpus():
    text = load_corpus()
    train, _, test = split_text(text)
    vocab = "".join(sorted(set(text)))
    assert bigram_bits(train, test, vocab) < unigram_bits(train, test, vocab) < math.log2(len(vocab))


# ---------------------------------------------------------------- the character LSTM
def test_log_prob_sums_over_a_batch():
    import torch

    from helpers.models.text import CharLSTM, CharLSTMConfig

    torch.manual_seed(0)
    model = CharLSTM(CharLSTMConfig(vocab=5, emb=4, hidden=8, layers=1, length=6)).eval()
    x = torch.randint(5, (3, 6))
    lp = model.log_prob(x)
    assert lp.shape == (3,) and (lp <= 0).all()
    with torch.no_grad():  # by hand: the chain rule, one character at a time
        logits, state, want = model.step(torch.full((3, 1), 5), None), None, torch.zeros(3)
        logits, state = logits
        for t in range(6):
            want += logits[:, -1].log_softmax(-1).gather(1, x[:, t : t + 1])[:, 0]
            logits, state = model.step(x[:, t : t + 1], state)
    torch.testing.assert_close(lp.detach(), want)
    torch.testing.assert_close(torch.cat([model.log_prob(x[:1]), model.log_prob(x[1:])]).detach(), lp.detach())


def test_seeded_sampling_repeats_and_leaves_global_rng():
    import torch

    from helpers.models.text import CharLSTM, CharLSTMConfig

    model = CharLSTM(CharLSTMConfig(vocab=7, emb=4, hidden=8, layers=1, length=20))
    before = torch.get_rng_state()
    a = model.sample(4, generator=torch.Generator().manual_seed(1))
    b = model.sample(4, generator=torch.Generator().manual_seed(1), temperature=1.0)
    assert torch.equal(before, torch.get_rng_state())
    assert a.shape == (4, 20) and a.dtype == torch.long and torch.equal(a, b)
    assert a.min() >= 0 and a.max() < 7
    c = model.sample(4, generator=torch.Generator().manual_seed(1), prefix=a[:, :5], length=12)
    assert torch.equal(c[:, :5], a[:, :5]) and c.shape == (4, 12)


def test_shipped_char_lstm_beats_the_bigram():
    import torch

    from helpers.registry import get, recipe

    r = recipe("char_lstm")
    model, info = get("char_lstm", train_if_missing=False)
    assert info.metrics["test_bits"] < r.targets["test_bits"]
    text = load_corpus()
    train, _, test = split_text(text, r.train.split)
    from helpers.models.text import text_splits, vocabulary

    windows = text_splits(r.train)[2]
    with torch.no_grad():
        bits = -model.log_prob(windows).sum().item() / (windows.numel() * math.log(2))
    assert abs(bits - info.metrics["test_bits"]) < 1e-3
    assert bits < bigram_bits(train, test, vocabulary(text)) - 0.5
