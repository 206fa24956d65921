"""Equivariant encryption: exact on every workload and on random models of every supported layer,
keys from a CSPRNG that never reach a record, unsupported layers named with their path."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import trained_workload
from torch import nn

from nesabench.hybrid import keys as K
from nesabench.hybrid.ee import UnsupportedLayer, decrypt_output, encrypt_input, encrypt_model, run_node
from nesabench.hybrid.nesa_ee import special_token_ids
from nesabench.workloads.models import SelfAttention

#: Max abs error relative to the output scale (issue 11).
RTOL = 1e-4


def rel_err(model: nn.Module, key: K.EEKey, x: torch.Tensor, **kw) -> tuple[float, nn.Module]:
    with torch.no_grad():
        node = encrypt_model(model, key, **kw)
        ref = model(x)
        got = decrypt_output(run_node(node, encrypt_input(x, key)), key)
    return float((got - ref).abs().max() / ref.abs().max()), node


def changed(model: nn.Module, node: nn.Module) -> float:
    """Fraction of the original's weight tensors the node holds in a different layout."""
    inner = getattr(node, "model", node)
    public, folded = model.state_dict(), inner.state_dict()
    common = [k for k in public if k in folded and public[k].shape == folded[k].shape
              and public[k].is_floating_point() and public[k].numel() > 1]
    return sum(not torch.equal(public[k], folded[k]) for k in common) / max(len(common), 1)


@pytest.mark.parametrize(("name", "variant", "client_embeds"), [
    ("mlp_cancer", "b", False), ("mlp_cancer", "d", False),
    ("cnn_digits", "b", False), ("cnn_digits", "d", False),
    ("tiny_transformer", "a", False), ("tiny_transformer", "b", False), ("tiny_transformer", "c", False),
    ("tiny_transformer", "c", True), ("tiny_transformer", "e", False), ("tiny_transformer", "e", True),
    ("minilm", "b", False), ("minilm", "c", True),
])
def test_exact_on_every_workload(name: str, variant: str, client_embeds: bool):
    w = trained_workload(name)
    key = K.draw_key(variant, special_tokens=special_token_ids(w))
    x = w.dataset.x_test[:6]
    err, node = rel_err(w.model, key, x, example=x, client_embeds=client_embeds)
    assert err <= RTOL
    # the node really holds transformed weights (variant a: only the embedding table)
    assert changed(w.model, node) > (0.0 if variant == "a" else 0.5)


def test_rotation_is_unsupported_where_it_cannot_be_exact():
    for name in ("cnn_digits", "minilm"):
        w = trained_workload(name)
        with pytest.raises(UnsupportedLayer, match=r"rotation|post-LayerNorm"):
            encrypt_model(w.model, K.draw_key("e"), example=w.dataset.x_test[:2])


class Residual(nn.Module):
    """Linear stream with a residual MLP, a norm and mean pooling: the fx walk must merge spaces."""

    def __init__(self, d_in: int = 12, d: int = 16):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.ff1, self.ff2 = nn.Linear(d, 32), nn.Linear(32, d)
        self.act = nn.SiLU()
        self.norm = nn.RMSNorm(d)
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        h = h + self.ff2(self.act(self.ff1(self.norm(h))))
        return self.head(torch.tanh(self.ln(h)))


class TokenNet(nn.Module):
    """Embedding, a position parameter, self-attention with a residual, masked mean pooling."""

    def __init__(self, vocab: int = 40, t: int = 10, d: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(t, d))
        self.attn = SelfAttention(d, 4)
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = ids != 0
        h = self.embed(ids) + self.pos[: ids.shape[1]]
        h = h + self.attn(self.ln(h), keep)
        w = keep.unsqueeze(-1).to(h.dtype)
        return self.head((h * w).sum(1) / w.sum(1).clamp_min(1.0))


def random_models():
    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(12, 24), nn.BatchNorm1d(24), nn.ReLU(), nn.Linear(24, 24), nn.GELU(),
                        nn.LayerNorm(24), nn.Dropout(0.1), nn.Linear(24, 16), nn.Tanh(), nn.Linear(16, 4))
    cnn = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 5, 3, padding=1), nn.SiLU(), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(5 * 4 * 4, 7))
    gap = nn.Sequential(nn.Conv2d(2, 6, 3), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))
    for m in (mlp, cnn):  # non-trivial running statistics
        for bn in (b for b in m if isinstance(b, (nn.BatchNorm1d, nn.BatchNorm2d))):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    return [
        (mlp.eval(), torch.randn(8, 12)),
        (cnn.eval(), torch.randn(4, 3, 16, 16)),
        (gap.eval(), torch.randn(4, 2, 9, 9)),
        (Residual().eval(), torch.randn(8, 12)),
        (TokenNet().eval(), torch.randint(1, 40, (6, 10))),
    ]


@pytest.mark.parametrize("index", range(5))
def test_exact_on_random_models_of_every_supported_layer(index: int):
    model, x = random_models()[index]
    key = K.draw_key("b", special_tokens=(0,))
    err, node = rel_err(model, key, x, example=x)
    assert err <= RTOL
    assert changed(model, node) > 0.5


def test_unsupported_layer_is_named_with_its_path():
    model = nn.Sequential(nn.Linear(4, 8), nn.Sequential(nn.ReLU(), nn.Conv1d(8, 8, 1)), nn.Linear(8, 2))
    with pytest.raises(UnsupportedLayer) as err:
        encrypt_model(model, K.draw_key("b"), example=torch.randn(2, 4))
    assert "Conv1d" in str(err.value) and "1.1" in str(err.value)


def test_an_operation_that_breaks_equivariance_is_refused():
    class Sorts(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.b(torch.cumsum(self.a(x), dim=-1))

    with pytest.raises(UnsupportedLayer, match="cumsum"):
        encrypt_model(Sorts(), K.draw_key("b"), example=torch.randn(2, 4))


def test_keys_come_from_a_csprng_and_print_no_material():
    torch.manual_seed(0)
    a = K.draw_key("b").perm("hidden", 64, "hidden")
    torch.manual_seed(0)
    b = K.draw_key("b").perm("hidden", 64, "hidden")
    assert not torch.equal(a, b)  # the experiment seed does not determine the key
    key = K.draw_key("c", special_tokens=(0, 101, 102))
    vocab = key.perm("vocab", 200, "vocab", fixed_ids=key.special_tokens)
    assert vocab[0] == 0 and vocab[101] == 101 and vocab[102] == 102
    assert sorted(vocab.tolist()) == list(range(200))
    text = repr(key) + json.dumps(key.describe())
    assert "tensor" not in text and str(vocab[:4].tolist())[1:-1] not in text
    assert key.describe()["key.tokens"] == "per_query"
    assert K.draw_key("a").perm("hidden", 8, "hidden") is None


def test_bad_key_config_is_named():
    with pytest.raises(ValueError, match="unknown EE key part 'colour'"):
        K.parts_for("b", {"colour": "fixed"})
    with pytest.raises(ValueError, match=r"key\.hidden must be one of"):
        K.parts_for("b", {"hidden": "sometimes"})
    with pytest.raises(ValueError, match="unknown EE variant"):
        K.parts_for("z")


def test_per_query_parts_are_redrawn():
    key = K.draw_key("d")
    first = key.perm("hidden", 64, "hidden").clone()
    vocab = key.perm("vocab", 64, "vocab").clone()
    key.refresh()
    assert not torch.equal(first, key.perm("hidden", 64, "hidden"))
    assert torch.equal(vocab, key.perm("vocab", 64, "vocab"))  # fixed parts stay


class UserResidualNet(nn.Module):
    """A user's own model (given by workload.model._target_): residual MLP with norms."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.inp = nn.Linear(in_features, 24)
        self.block = nn.Sequential(nn.LayerNorm(24), nn.Linear(24, 48), nn.SiLU(), nn.Linear(48, 24))
        self.head = nn.Sequential(nn.RMSNorm(24), nn.Linear(24, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.head(h + self.block(h))


class UserConv1dNet(nn.Module):
    """A user's model with a layer EE does not fold (Conv1d)."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.body = nn.Sequential()
        self.body.add_module("conv", nn.Conv1d(1, 4, 3, padding=1))
        self.fc = nn.Linear(4 * in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x.unsqueeze(1)).flatten(1))


def test_a_users_own_model_runs_exactly_or_names_its_layer(run):
    ok = run("workload=mlp_cancer", "workload.model._target_=test_hybrid_ee.UserResidualNet",
             "technique=nesa_ee", "harness.leakage=false")
    assert ok.status == "ok", ok.reason
    assert ok.accuracy_loss == 0 and ok.fidelity_agreement == 1.0
    bad = run("workload=mlp_cancer", "workload.model._target_=test_hybrid_ee.UserConv1dNet",
              "technique=nesa_ee", "harness.leakage=false")
    assert bad.status == "unsupported"
    assert "Conv1d at body.conv" in bad.reason
