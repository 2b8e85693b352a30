"""Tests for dlcourse.download against a small HTTP server on loopback (never the network)."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlcourse import download as dl
from dlcourse.download import (
    Resource,
    clear_partial,
    download,
    md5sum,
    prepare_train_aug,
    safe_extract,
)


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


ARCHIVE = _tar_bytes({f"VOCdevkit/VOC2012/file{i}.txt": bytes([i]) * 5000 for i in range(20)})
ARCHIVE_MD5 = hashlib.md5(ARCHIVE).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    log: list[tuple[str, str | None]] = []
    cut_once: set[str] = set()

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self.log.append((self.path, self.headers.get("Range")))
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        payload = ARCHIVE[::-1] if self.path.startswith("/wrong") else ARCHIVE
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(payload) - start))
        self.end_headers()
        body = payload[start:]
        if self.path.startswith("/cut") and self.path not in self.cut_once:
            self.cut_once.add(self.path)  # first time: send a third, then hang up
            body = body[: len(body) // 3]
        self.wfile.write(body)


@pytest.fixture()
def server(monkeypatch):
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.log.clear()
    _Handler.cut_once.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing-listens-here.tar"


def test_md5sum(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert md5sum(path) == "900150983cd24fb0d6963f7d28e17f72"


def test_bad_mirrors_then_resumed_download(server, tmp_path):
    resource = Resource("voc.tar", len(ARCHIVE), ARCHIVE_MD5,
                        (_refused_url(), f"{server}/missing/voc.tar", f"{server}/cut/voc.tar"))  # fmt: skip
    path = download(resource, tmp_path, progress=False)
    assert path == tmp_path / "voc.tar" and path.read_bytes() == ARCHIVE
    assert not (tmp_path / "voc.tar.part").exists()
    cut = [(p, r) for p, r in _Handler.log if p.startswith("/cut")]
    # the first request is cut off after a third; the second asks for the rest only
    assert cut == [("/cut/voc.tar", None), ("/cut/voc.tar", f"bytes={len(ARCHIVE) // 3}-")]
    assert ("/missing/voc.tar", None) in _Handler.log
    # a verified file is not fetched again
    _Handler.log.clear()
    assert download(resource, tmp_path, progress=False) == path and _Handler.log == []


def test_wrong_checksum_is_rejected_and_deleted(server, tmp_path):
    resource = Resource("voc.tar", len(ARCHIVE), ARCHIVE_MD5, (f"{server}/wrong/voc.tar",))
    with pytest.raises(RuntimeError, match=r"md5 [0-9a-f]{32}, expected " + ARCHIVE_MD5) as err:
        download(resource, tmp_path, progress=False)
    assert str(tmp_path / "voc.tar") in str(err.value) and "DLCOURSE_CACHE" in str(err.value)
    assert not (tmp_path / "voc.tar").exists() and not (tmp_path / "voc.tar.part").exists()
    # then a good mirror after the bad one wins
    good = Resource(
        "voc.tar", None, ARCHIVE_MD5, (f"{server}/wrong/voc.tar", f"{server}/ok/voc.tar")
    )
    assert download(good, tmp_path, progress=False).read_bytes() == ARCHIVE


def test_all_mirrors_down_says_what_to_do(tmp_path):
    resource = Resource("voc.tar", 10, "0" * 32, (_refused_url(),))
    with pytest.raises(RuntimeError, match="Download it by hand"):
        download(resource, tmp_path, progress=False)


def test_cache_dir_from_environment_and_download_voc(server, tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path / "cache"))
    fake = Resource("VOCtrainval.tar", len(ARCHIVE), ARCHIVE_MD5, (f"{server}/ok/voc.tar",))
    monkeypatch.setattr(dl, "VOC2012_TRAINVAL", fake)
    root = dl.download_voc(progress=False)
    assert root == tmp_path / "cache" / "VOCdevkit" / "VOC2012"
    assert (root / "file3.txt").read_bytes() == bytes([3]) * 5000
    _Handler.log.clear()
    assert dl.download_voc(progress=False) == root and _Handler.log == []  # unpacked once


def test_published_voc_checksum():
    assert dl.VOC2012_TRAINVAL.size == 1_999_639_040
    assert dl.VOC2012_TRAINVAL.md5 == "6cd6e144f989b92b3379bac3b3de84fd"
    assert len(dl.VOC2012_TRAINVAL.urls) >= 2 and len(dl.SBD.urls) >= 2


def _evil_tar(path: Path, member: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w") as tar:
        tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return path


@pytest.mark.parametrize(
    "name, kind, link, message",
    [
        ("../escape.txt", tarfile.REGTYPE, "", "outside"),
        ("/abs/escape.txt", tarfile.REGTYPE, "", "outside"),
        ("inside/link", tarfile.SYMTYPE, "../../etc/passwd", "points outside"),
        ("hard", tarfile.LNKTYPE, "../secret", "points outside"),
        ("dev", tarfile.CHRTYPE, "", "device"),
    ],
)
def test_safe_extract_refuses_escapes(tmp_path, name, kind, link, message):
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, link
    member.size = 1 if kind == tarfile.REGTYPE else 0
    archive = _evil_tar(tmp_path / "evil.tar", member)
    with pytest.raises(ValueError, match=message):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    assert not any((tmp_path / "out").iterdir())


def test_safe_extract_unpacks_a_good_archive(tmp_path):
    (tmp_path / "good.tar").write_bytes(ARCHIVE)
    out = safe_extract(tmp_path / "good.tar", tmp_path / "out")
    assert len(list((out / "VOCdevkit" / "VOC2012").iterdir())) == 20


def test_clear_partial(tmp_path):
    (tmp_path / "a.tar.part").write_bytes(b"1")
    (tmp_path / "b.tar.part").write_bytes(b"1")
    assert [p.name for p in clear_partial(tmp_path, ["a.tar"])] == ["a.tar.part"]
    assert [p.name for p in clear_partial(tmp_path)] == ["b.tar.part"]


def test_prepare_train_aug(tmp_path, monkeypatch):
    voc, sbd = tmp_path / "VOC2012", tmp_path / "sbd"
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "SegmentationClass").mkdir()
    (sbd / "cls").mkdir(parents=True)
    (voc / "ImageSets/Segmentation/train.txt").write_text("v1\nv2\n")
    (voc / "ImageSets/Segmentation/val.txt").write_text("v3\ns3\n")
    (sbd / "train.txt").write_text("s1\ns2\nv1\n")
    (sbd / "val.txt").write_text("s3\n")
    palette_png = Image.fromarray(np.full((3, 4), 5, dtype=np.uint8))
    palette_png.putpalette([0, 0, 0] * 256)
    palette_png.save(voc / "SegmentationClass" / "v2.png")
    monkeypatch.setattr(
        dl, "_load_sbd_mat", lambda path: np.full((3, 4), int(path.stem[1]), np.uint8)
    )
    ids = prepare_train_aug(voc, sbd)
    # (SBD train + SBD val + VOC train) - VOC val
    assert ids == ["s1", "s2", "v1", "v2"]
    assert (voc / "ImageSets/Segmentation/train_aug.txt").read_text().split() == ids
    with Image.open(voc / "SegmentationClassAug" / "s2.png") as png:
        assert png.mode == "L" and np.asarray(png).tolist() == [[2] * 4] * 3
    with Image.open(voc / "SegmentationClassAug" / "v2.png") as png:
        assert np.asarray(png).tolist() == [[5] * 4] * 3
    with pytest.raises(FileNotFoundError, match=r"nowhere/train\.txt is missing"):
        prepare_train_aug(voc, tmp_path / "nowhere")
