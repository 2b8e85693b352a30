"""Tests of dlcourse.crf_rnn: CRF-as-RNN against the dense CRF, its gradients, batches, devices."""

from __future__ import annotations

import pytest
import torch

# one_thread: an autouse fixture, run on one CPU thread
from crf_inputs import SMALL, blocky_image, one_thread, random_probs  # noqa: F401

from dlcourse.crf import dense_crf, potts
from dlcourse.crf_rnn import CRFasRNN


def test_crfasrnn_at_initialisation_is_dense_crf():
    image, probs = blocky_image(12, 15, 4), random_probs(3, 12, 15, 4, scale=1.0)
    layer = CRFasRNN(3, iterations=4, method="naive", **SMALL)
    refined = layer(torch.log(probs)[None], image.permute(2, 0, 1)[None].float())
    assert refined.shape == (1, 3, 12, 15)
    expected = dense_crf(image, probs, 4, method="naive", **SMALL)
    torch.testing.assert_close(torch.softmax(refined[0], dim=0), expected, rtol=1e-4, atol=1e-5)


def test_crfasrnn_gradcheck():
    torch.manual_seed(0)
    layer = CRFasRNN(3, iterations=2, method="naive", w1=2.0, theta_alpha=3.0, theta_beta=40.0, w2=1.0,
                     theta_gamma=1.5).double()  # fmt: skip
    images = blocky_image(4, 5, 5).permute(2, 0, 1)[None].double()
    logits = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x, images), (logits,), eps=1e-6, atol=1e-5)

    def of_parameters(w1, w2, compat):
        return torch.func.functional_call(layer, {"bilateral_weights": w1, "spatial_weights": w2, "compat": compat},
                                          (logits.detach(), images))  # fmt: skip

    eye = torch.eye(3, dtype=torch.float64)
    params = ((2.0 * eye + 0.1).requires_grad_(), (1.0 * eye - 0.05).requires_grad_(),
              potts(3, dtype=torch.float64).requires_grad_())  # fmt: skip
    assert torch.autograd.gradcheck(of_parameters, params, eps=1e-6, atol=1e-5)


def test_crfasrnn_lattice_backward_reaches_every_parameter():
    layer = CRFasRNN(4, iterations=3, method="lattice", **SMALL)
    images = torch.stack([blocky_image(16, 16, s) for s in (0, 1)]).permute(0, 3, 1, 2).float()
    logits = torch.randn(2, 4, 16, 16, requires_grad=True)
    out = layer(logits, images)
    assert out.shape == (2, 4, 16, 16)
    target = torch.randint(0, 4, (2, 16, 16))
    torch.nn.functional.cross_entropy(out, target).backward()
    for name, param in [("logits", logits), *layer.named_parameters()]:
        assert param.grad is not None and float(param.grad.abs().sum()) > 0, name


def test_crfasrnn_has_a_weight_matrix_per_kernel_and_batches_like_single_images():
    # Zheng et al.'s layer mixes each kernel's messages with a learnable C x C matrix
    # (initialised to w * I): at initialisation that is dense_crf's scalar weight.
    layer = CRFasRNN(3, iterations=3, method="lattice", **SMALL)
    assert layer.bilateral_weights.shape == (3, 3) and layer.spatial_weights.shape == (3, 3)
    torch.testing.assert_close(layer.bilateral_weights.detach(), 4.0 * torch.eye(3))
    with torch.no_grad():
        layer.bilateral_weights[0, 1] = 1.5  # class 1's message now also pulls towards class 0
    images = torch.stack([blocky_image(14, 17, s) for s in (2, 3, 4)]).permute(0, 3, 1, 2).float()
    logits = torch.randn(3, 3, 14, 17, generator=torch.Generator().manual_seed(0))
    batched = layer(logits, images)
    for b in range(3):  # one lattice for the batch = one lattice per image (float rounding: 1e-5)
        torch.testing.assert_close(
            batched[b], layer(logits[b : b + 1], images[b : b + 1])[0], rtol=1e-5, atol=1e-5
        )
    naive = CRFasRNN(3, iterations=3, method="naive", **SMALL)
    naive.load_state_dict(layer.state_dict())
    assert float((naive(logits, images).argmax(1) == batched.argmax(1)).float().mean()) > 0.95


def test_crfasrnn_bad_inputs():
    layer = CRFasRNN(3)
    with pytest.raises(ValueError, match="logits"):
        layer(torch.zeros(1, 4, 5, 5), torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match="images"):
        layer(torch.zeros(1, 3, 5, 5), torch.zeros(1, 3, 5, 6))
    with pytest.raises(ValueError, match="num_classes"):
        CRFasRNN(1)
    with pytest.raises(ValueError, match="theta_alpha"):
        CRFasRNN(3, theta_alpha=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_crfasrnn_batch_on_cuda_matches_cpu():
    layer = CRFasRNN(4, iterations=3, method="lattice", **SMALL)
    images = torch.stack([blocky_image(30, 40, s) for s in range(4)]).permute(0, 3, 1, 2).float()
    logits = torch.randn(4, 4, 30, 40, generator=torch.Generator().manual_seed(1))
    cpu = layer(logits, images)
    gpu = layer.cuda()(logits.cuda(), images.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
