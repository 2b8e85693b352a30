"""Tests of dlcourse.weights: torch.hub downloads from a loopback server, hash checks, offline errors."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
import torchvision
from helpers import randomize_
from torchvision.models import segmentation as tv_segmentation

from dlcourse import models, weights


def _state_bytes(module: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


class _Server:
    """Serves ``files`` (path -> bytes) on 127.0.0.1; counts the requests."""

    def __init__(self, files: dict[str, bytes]):
        served, self.requests = files, []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(handler):
                self.requests.append(handler.path)
                payload = served.get(handler.path)
                if payload is None:
                    handler.send_error(404)
                    return
                handler.send_response(200)
                handler.send_header("Content-Length", str(len(payload)))
                handler.end_headers()
                handler.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def resnet18_file():
    """A torchvision-format ResNet-18 file, its bytes and its ``resnet18-<sha256[:8]>.pth`` name."""
    net = randomize_(torchvision.models.resnet18())
    payload = _state_bytes(net)
    return net, payload, f"resnet18-{hashlib.sha256(payload).hexdigest()[:8]}.pth"


def test_the_names_follow_torchvisions_files():
    assert weights.file_name("resnet50") == "resnet50-0676ba61.pth"
    assert weights.expected_hash("deeplabv3_resnet101") == "586e9e4e"
    assert set(weights.WEIGHTS) >= {"resnet18", "resnet101", "deeplabv3_resnet50", "vgg16"}
    with pytest.raises(ValueError, match="unknown name"):
        weights.file_name("resnet152")


def test_a_good_file_downloads_once_and_loads(tmp_path, monkeypatch, resnet18_file):
    net, payload, name = resnet18_file
    server = _Server({f"/models/{name}": payload})
    try:
        monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path))
        monkeypatch.setitem(weights.WEIGHTS, "resnet18", f"{server.url}/models/{name}")
        state = weights.load_weights("resnet18", progress=False)
        assert (tmp_path / "weights" / name).read_bytes() == payload
        again = weights.load_weights("resnet18", progress=False)  # from the cache
        assert len(server.requests) == 1
    finally:
        server.close()
    for key, value in net.state_dict().items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
        torch.testing.assert_close(again[key], value, rtol=0, atol=0)
    # and through the model builder: the backbone gets the ImageNet weights, fc dropped
    model = models.build_model("deeplabv3_resnet18", weights_backbone="imagenet")
    torch.testing.assert_close(model.backbone.conv1.weight, net.conv1.weight, rtol=0, atol=0)


def test_a_corrupted_download_is_refused_and_not_kept(tmp_path, monkeypatch, resnet18_file):
    _, payload, name = resnet18_file
    broken = payload[:-100] + bytes(100)
    server = _Server({f"/models/{name}": broken})
    try:
        monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path))
        monkeypatch.setitem(weights.WEIGHTS, "resnet18", f"{server.url}/models/{name}")
        with pytest.raises(weights.WeightsUnavailable, match="does not match its SHA-256"):
            weights.load_weights("resnet18", progress=False)
    finally:
        server.close()
    assert not list((tmp_path / "weights").glob("*")), "a refused file must not stay in the cache"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_names_the_file_its_url_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path))
    url = f"http://127.0.0.1:{closed_port()}/models/deeplabv3_mobilenet_v3_large-fc3c493d.pth"
    monkeypatch.setitem(weights.WEIGHTS, "deeplabv3_mobilenet_v3_large", url)
    with pytest.raises(weights.WeightsUnavailable) as error:
        models.build_model("deeplabv3_mobilenet_v3_large", weights="default")
    message = str(error.value)
    assert "\n" not in message  # one paragraph
    assert url in message and "deeplabv3_mobilenet_v3_large-fc3c493d.pth" in message
    assert str(tmp_path / "weights") in message and "weights_backbone=null" in message


def test_a_file_placed_by_hand_loads_and_a_wrong_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path))
    theirs = randomize_(tv_segmentation.deeplabv3_mobilenet_v3_large(weights=None,
                        weights_backbone=None, aux_loss=True)).eval()  # fmt: skip
    payload = _state_bytes(theirs)
    name = f"deeplabv3_mobilenet_v3_large-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    url = f"http://127.0.0.1:{closed_port()}/models/{name}"  # never reached
    monkeypatch.setitem(weights.WEIGHTS, "deeplabv3_mobilenet_v3_large", url)
    target = tmp_path / "weights" / name
    target.parent.mkdir(parents=True)
    target.write_bytes(payload)
    ours = models.build_model("deeplabv3_mobilenet_v3_large", weights="default", aux_loss=True)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x)["out"], theirs(x)["out"], rtol=0, atol=1e-5)
    without_aux = models.build_model("deeplabv3_mobilenet_v3_large", weights=str(target))
    assert without_aux.aux_classifier is None
    with pytest.raises(ValueError, match="num_classes=21"):
        models.build_model("deeplabv3_mobilenet_v3_large", weights=str(target), num_classes=5)
    target.write_bytes(payload[:-1])  # a truncated copy under the right name
    with pytest.raises(weights.WeightsUnavailable, match="does not match"):
        models.build_model("deeplabv3_mobilenet_v3_large", weights="default")
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        models.build_model("deeplabv3_resnet18", weights=str(tmp_path / "missing.pth"))
