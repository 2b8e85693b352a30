"""Downloading PASCAL VOC 2012 and the SBD augmented set, safely.

Each archive is a :class:`Resource`: a file name, its size and MD5, and several
mirrors tried in order. A download goes to ``<name>.part`` in the cache folder
(:func:`dlcourse.env.cache_dir`, overridden by ``DLCOURSE_CACHE``), resumes with
an HTTP ``Range`` request after a broken connection, shows a progress bar, and is
renamed only once size and checksum match. Archives are unpacked with a check
that no member escapes the target folder. Nothing downloads unless asked.

Used in: 06, 07.
"""

from __future__ import annotations

import hashlib
import http.client
import tarfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dlcourse.env import cache_dir


@dataclass(frozen=True)
class Resource:
    """A downloadable archive: ``filename``, ``size`` in bytes (None: unchecked), ``md5``, mirrors."""

    filename: str
    size: int | None
    md5: str
    urls: tuple[str, ...]


VOC2012_TRAINVAL = Resource(
    "VOCtrainval_11-May-2012.tar",
    1_999_639_040,
    "6cd6e144f989b92b3379bac3b3de84fd",
    (
        "https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
        "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
        "https://pjreddie.com/media/files/VOCtrainval_11-May-2012.tar",
    ),
)
"""VOC 2012 train+val (Everingham et al.); unpacks to ``VOCdevkit/VOC2012``."""

SBD = Resource(
    "benchmark.tgz",
    None,
    "82b4d87ceb2ed10f6038a1cba92111cb",
    (
        "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
        "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
    ),
)
"""The Semantic Boundaries Dataset (Hariharan et al., ICCV 2011); unpacks to
``benchmark_RELEASE/dataset`` with ``cls/<id>.mat`` masks and ``train.txt``/``val.txt``."""

CHUNK = 1 << 20


def md5sum(path: str | Path) -> str:
    """The MD5 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, part: Path, size: int | None, progress: bool, timeout: float) -> None:
    """Append ``url``'s bytes to ``part``, resuming from its current length."""
    from tqdm.auto import tqdm

    start = part.stat().st_size if part.exists() else 0
    if size is not None and start >= size:
        return
    request = urllib.request.Request(url, headers={"User-Agent": "dlcourse"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if start and response.status != 206:  # the server ignored Range: start again
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else size
        mode = "ab" if start else "wb"
        with open(part, mode) as out, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                           desc=part.name[:-5], disable=not progress) as bar:  # fmt: skip
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))


def download(
    resource: Resource,
    folder: str | Path | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
) -> Path:
    """Download ``resource`` into ``folder`` (default: the cache folder) and verify it.

    Mirrors are tried in order; a connection that breaks off is resumed up to
    ``retries`` times per mirror; a file whose size or MD5 is wrong is deleted and
    the next mirror tried. A verified file already there is returned at once.

    Returns:
        The path of the verified archive.

    Raises:
        RuntimeError: when no mirror delivered a correct file; the message lists
            what each mirror did and where to put a copy fetched by hand.
    """
    folder = Path(folder) if folder is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / resource.filename
    if target.is_file() and _verified(target, resource) is None:
        return target
    part = folder / (resource.filename + ".part")
    problems = []
    for url in resource.urls:
        for _ in range(retries):
            try:
                _fetch(url, part, resource.size, progress, timeout)
            except urllib.error.URLError as err:  # refused, unknown host, 404, ...
                problems.append(f"{url}: {err}")
                break  # this mirror does not answer; try the next one
            except (http.client.HTTPException, OSError) as err:  # cut off mid-transfer
                problems.append(f"{url}: interrupted ({type(err).__name__}); resuming")
                continue
            problem = _verified(part, resource)
            if problem is None:
                part.replace(target)
                return target
            if resource.size is not None and part.stat().st_size < resource.size:
                problems.append(f"{url}: {problem}")
                continue
            problems.append(f"{url}: {problem}")
            part.unlink()
            break
    raise RuntimeError(
        f"could not download {resource.filename}:\n  " + "\n  ".join(problems) + "\n"
        f"Download it by hand from one of {list(resource.urls)} and save it as {target} "
        f"(size {resource.size}, md5 {resource.md5}), or set DLCOURSE_CACHE to a folder "
        "that already holds it."
    )


def _verified(path: Path, resource: Resource) -> str | None:
    """None when ``path`` has the right size and MD5, else what is wrong."""
    size = path.stat().st_size
    if resource.size is not None and size != resource.size:
        return f"size {size} bytes, expected {resource.size}"
    found = md5sum(path)
    if found != resource.md5:
        return f"md5 {found}, expected {resource.md5} (corrupt file)"
    return None


def safe_extract(archive: str | Path, dest: str | Path) -> Path:
    """Unpack a tar archive into ``dest``, refusing members that would land outside it.

    Absolute paths, ``..`` components, links pointing out of ``dest`` and device
    files raise ``ValueError`` before anything is written. Where Python offers it,
    tarfile's own ``filter="data"`` is applied as well.
    """
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            where = (dest / member.name).resolve()
            if not where.is_relative_to(dest):
                raise ValueError(
                    f"archive {archive}: member {member.name!r} would be written outside {dest}"
                )
            if member.issym() or member.islnk():
                base = where.parent if member.issym() else dest
                if not (base / member.linkname).resolve().is_relative_to(dest):
                    raise ValueError(
                        f"archive {archive}: link {member.name!r} points outside {dest}"
                    )
            if member.isdev():
                raise ValueError(f"archive {archive}: member {member.name!r} is a device file")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # Python < 3.10.12 / 3.11.4: the checks above are the protection
            tar.extractall(dest, members=members)
    return dest


def _download_and_extract(resource: Resource, inner: str, root, progress: bool) -> Path:
    root = Path(root) if root is not None else cache_dir()
    out = root / inner
    if (out / ".complete").is_file():
        return out
    archive = download(resource, root, progress=progress)
    safe_extract(archive, root)
    if not out.is_dir():
        raise RuntimeError(f"{archive} did not contain {inner}; delete it and download again")
    (out / ".complete").write_text(resource.md5 + "\n")
    return out


def download_voc(root: str | Path | None = None, progress: bool = True) -> Path:
    """Download and unpack VOC 2012 trainval (2 GB) once; returns ``.../VOCdevkit/VOC2012``."""
    return _download_and_extract(VOC2012_TRAINVAL, "VOCdevkit/VOC2012", root, progress)


def download_sbd(root: str | Path | None = None, progress: bool = True) -> Path:
    """Download and unpack SBD (1.4 GB) once; returns ``.../benchmark_RELEASE/dataset``."""
    return _download_and_extract(SBD, "benchmark_RELEASE/dataset", root, progress)


def _read_ids(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _load_sbd_mat(path: Path):
    """The class label map stored in an SBD ``cls/<id>.mat`` file (needs scipy)."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError(
            "reading SBD's .mat masks needs scipy: pip install scipy (or use a ready "
            "SegmentationClassAug/ folder of PNG masks)"
        ) from None
    return loadmat(path)["GTcls"][0]["Segmentation"][0]


def prepare_train_aug(voc_root: str | Path, sbd_root: str | Path) -> list[str]:
    """Write the ``train_aug`` split (10,582 ids on the full data) into a VOC folder.

    ``train_aug`` = (SBD train + SBD val + VOC train) minus VOC val, the set DeepLab
    trains on. Its masks go to ``voc_root/SegmentationClassAug/<id>.png`` (grey PNGs
    of class indices: SBD's ``cls/*.mat`` converted, VOC's own mask where SBD has none)
    and its ids to ``ImageSets/Segmentation/train_aug.txt``.

    Args:
        voc_root: ``.../VOCdevkit/VOC2012`` (see :func:`download_voc`).
        sbd_root: ``.../benchmark_RELEASE/dataset`` (see :func:`download_sbd`).

    Returns:
        The ids of the split.
    """
    import numpy as np
    from PIL import Image

    voc_root, sbd_root = Path(voc_root), Path(sbd_root)
    splits = voc_root / "ImageSets" / "Segmentation"
    for needed in (
        splits / "train.txt",
        splits / "val.txt",
        sbd_root / "train.txt",
        sbd_root / "val.txt",
    ):
        if not needed.is_file():
            raise FileNotFoundError(
                f"prepare_train_aug: {needed} is missing; check voc_root and sbd_root"
            )
    val = set(_read_ids(splits / "val.txt"))
    sbd_ids = _read_ids(sbd_root / "train.txt") + _read_ids(sbd_root / "val.txt")
    ids = sorted(set(sbd_ids + _read_ids(splits / "train.txt")) - val)
    sbd = set(sbd_ids)
    out = voc_root / "SegmentationClassAug"
    out.mkdir(exist_ok=True)
    for item in ids:
        target = out / f"{item}.png"
        if target.is_file():
            continue
        if item in sbd:
            labels = np.asarray(_load_sbd_mat(sbd_root / "cls" / f"{item}.mat"), dtype=np.uint8)
            Image.fromarray(labels).save(target)
        else:
            with Image.open(voc_root / "SegmentationClass" / f"{item}.png") as mask:
                Image.fromarray(np.asarray(mask)).save(target)
    (splits / "train_aug.txt").write_text("".join(i + "\n" for i in ids))
    return ids


def clear_partial(folder: str | Path | None = None, names: Sequence[str] = ()) -> list[Path]:
    """Delete unfinished ``*.part`` downloads in ``folder`` (all, or only ``names``); returns them."""
    folder = Path(folder) if folder is not None else cache_dir()
    parts = [p for p in folder.glob("*.part") if not names or p.name[:-5] in names]
    for path in parts:
        path.unlink()
    return parts
