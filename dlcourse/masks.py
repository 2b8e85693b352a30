"""Your own masks, inspected before training: every problem named with its fix.

A folder of your own data (``images/``, ``masks/``, ``classes.json``, the layout of
:class:`dlcourse.data.FolderDataset`) fails in a few typical ways, most of them
silently: a training run on 0/255 masks ignores every object pixel (255 is void),
an RGB mask read as grey turns colours into meaningless numbers, a mask one pixel
smaller than its photo shifts every label. :func:`inspect_masks` reads every file
once and reports each of these, with the files it concerns and what to do;
:func:`remap_masks` writes fixed copies.

Used in: 10.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from dlcourse.files import IMAGE_SUFFIXES, colors_to_labels, load_classes
from dlcourse.voc import VOC_PALETTE, VOID_INDEX

INDEX_MODES = ("P", "L", "I", "I;16")


@dataclass(frozen=True)
class Problem:
    """One kind of problem: what it is, which files show it (at most 10 named), the fix."""

    kind: str
    message: str
    fix: str
    files: tuple[str, ...] = ()


@dataclass
class MaskReport:
    """What :func:`inspect_masks` found in a folder."""

    root: Path
    num_classes: int
    pairs: int
    problems: list[Problem] = field(default_factory=list)
    pixels: np.ndarray | None = None  # per class, over readable index masks
    void_pixels: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing would stop or mislead training."""
        return not self.problems

    @property
    def void_share(self) -> float:
        """Fraction of all counted mask pixels that are void."""
        total = int(self.pixels.sum()) + self.void_pixels if self.pixels is not None else 0
        return self.void_pixels / total if total else 0.0

    def class_weights(self) -> np.ndarray:
        """Median-frequency balancing weights (Eigen & Fergus, ICCV 2015): median / frequency.

        A class that never occurs gets weight 0 (it cannot be learnt from this data).
        """
        freq = self.pixels / max(int(self.pixels.sum()), 1)
        present = freq > 0
        weights = np.zeros_like(freq, dtype=np.float64)
        weights[present] = np.median(freq[present]) / freq[present]
        return weights

    def kinds(self) -> list[str]:
        return [p.kind for p in self.problems]

    def _repr_markdown_(self) -> str:
        lines = [f"**{self.root.name}**: {self.pairs} image/mask pairs, {self.num_classes} classes"]
        if self.ok:
            lines.append("\nNo problems found.")
        for p in self.problems:
            named = ", ".join(p.files[:5]) + (" ..." if len(p.files) > 5 else "")
            lines.append(f"\n- **{p.kind}**: {p.message}" + (f" ({named})" if named else ""))
            lines.append(f"  *Fix:* {p.fix}")
        if self.pixels is not None and self.pixels.sum():
            share = ", ".join(f"{100 * c / self.pixels.sum():.1f}%" for c in self.pixels)
            weights = ", ".join(f"{w:.2f}" for w in self.class_weights())
            lines.append(f"\nClass shares: {share}; void {100 * self.void_share:.1f}% of pixels.")
            lines.append(f"Suggested class weights (median frequency): {weights}.")
        return "\n".join(lines)


def _pairs(root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    for sub in ("images", "masks"):
        if not (root / sub).is_dir():
            raise FileNotFoundError(
                f"inspect_masks(root={str(root)!r}): no {sub}/ folder; "
                "expected images/ and masks/ inside root (the FolderDataset layout)"
            )
    images = {p.stem: p for p in sorted((root / "images").iterdir())
              if p.suffix.lower() in IMAGE_SUFFIXES}  # fmt: skip
    masks = {p.stem: p for p in sorted((root / "masks").iterdir()) if p.suffix.lower() == ".png"}
    return images, masks


def _classes(root: Path, num_classes: int | None, classes_file: str):
    path = root / classes_file
    if path.is_file():
        spec = load_classes(path)
        if num_classes is not None and num_classes != len(spec["names"]):
            raise ValueError(
                f"inspect_masks(num_classes={num_classes}): {path} lists "
                f"{len(spec['names'])} classes; leave num_classes out or fix the file"
            )
        return len(spec["names"]), spec["colors"], spec["void"], True
    if num_classes is None:
        raise ValueError(
            f"inspect_masks: {path} does not exist, so give num_classes= "
            "(or write the file with dlcourse.files.write_classes)"
        )
    return num_classes, VOC_PALETTE[:num_classes], VOID_INDEX, False


def inspect_masks(root: str | Path, num_classes: int | None = None,
                  classes_file: str = "classes.json") -> MaskReport:  # fmt: skip
    """Read every mask of a ``FolderDataset`` folder and report what would go wrong.

    Checks: images without masks and masks without images; unreadable files; RGB-coded
    masks (need the class colours, or conversion to index PNGs); binary masks saved as
    0/255 (255 means void here: the object would be ignored); values that are neither a
    class nor void; masks whose size differs from their image's. It also counts the
    pixels of each class and of void, for :meth:`MaskReport.class_weights`.

    Args:
        root: the folder holding ``images/`` and ``masks/``.
        num_classes: number of classes when there is no classes file.
        classes_file: the classes file inside ``root`` (its ``void`` value is used).
    """
    root = Path(root).expanduser()
    images, masks = _pairs(root)
    k, colors, void, has_file = _classes(root, num_classes, classes_file)
    report = MaskReport(root=root, num_classes=k, pairs=len(images.keys() & masks.keys()),
                        pixels=np.zeros(k, dtype=np.int64))  # fmt: skip
    found: dict[str, list[str]] = {}

    def note(kind: str, name: str) -> None:
        found.setdefault(kind, []).append(name)

    for name in sorted(images.keys() ^ masks.keys()):
        note("unpaired", name)
    for name in sorted(images.keys() & masks.keys()):
        try:
            with Image.open(masks[name]) as img:
                mode, mask = img.mode, np.asarray(img)
            with Image.open(images[name]) as img:
                image_size = img.size[::-1]
        except OSError:
            note("unreadable", name)
            continue
        if mask.shape[:2] != tuple(image_size):
            note("size mismatch", name)
        if mode in ("RGB", "RGBA"):
            if not has_file:
                note("rgb masks", name)
                continue
            try:
                mask = colors_to_labels(mask[..., :3], colors, masks[name], void)
            except ValueError:
                note("unknown colours", name)
                continue
        elif mode not in INDEX_MODES:
            note("unreadable", name)
            continue
        values = np.unique(mask)
        if k <= 255 and set(values.tolist()) == {0, 255} and void == VOID_INDEX:
            note("binary 0/255", name)
            continue
        bad = values[(values >= k) & (values != void)]
        if bad.size:
            note("values beyond classes", f"{name} {bad[:5].tolist()}")
        counted = mask[(mask < k) & (mask >= 0)]
        report.pixels += np.bincount(counted.reshape(-1), minlength=k)[:k]
        report.void_pixels += int((mask == void).sum())
    report.problems = [_problem(kind, names, k, void) for kind, names in found.items()]
    if report.pixels.sum() and report.void_share > 0.25:
        report.problems.append(Problem(
            "much void", f"{100 * report.void_share:.0f}% of mask pixels are void and teach nothing",
            "check that void marks only borders or unknown pixels, not whole classes"))  # fmt: skip
    return report


def _problem(kind: str, names: list[str], k: int, void: int) -> Problem:
    files = tuple(names[:10])
    text = {
        "unpaired": ("these names have an image or a mask but not both",
                     "give every images/<name> a masks/<name>.png, or remove the extra file"),
        "unreadable": ("these masks cannot be read as images",
                       "re-export them as PNG (palette or grey-scale)"),
        "size mismatch": ("these masks differ in size from their image",
                          "export the mask at the image's exact size; never resize masks "
                          "with interpolation (use nearest neighbour)"),
        "rgb masks": ("these masks are RGB colours, and there is no classes file to map them",
                      "write classes.json with each class's colour (dlcourse.files.write_classes), "
                      "or convert them with remap_masks"),
        "unknown colours": ("these RGB masks hold colours that no class in classes.json has",
                            "add the colours to classes.json or repaint them"),
        "binary 0/255": ("these masks hold only 0 and 255: here 255 is void, so every object "
                         "pixel would be ignored",
                         "map 255 to class 1: remap_masks(root, out, {255: 1})"),
        "values beyond classes": (f"these masks hold values that are neither classes 0..{k - 1} "
                                  f"nor void {void}",
                                  "fix the class list (classes.json) or map the values with "
                                  "remap_masks"),
    }[kind]  # fmt: skip
    return Problem(kind, f"{len(names)} file(s): {text[0]}", text[1], files)


def remap_masks(root: str | Path, out: str | Path, mapping: dict[int, int] | None = None,
                classes_file: str = "classes.json") -> Path:  # fmt: skip
    """Write a fixed copy of a folder: masks as palette PNGs of class indices.

    RGB masks are mapped through the classes file's colours; then each value ``v`` in
    ``mapping`` becomes ``mapping[v]``. Images and the classes file are copied (hard
    links where possible). Returns ``out``.
    """
    import shutil

    root, out = Path(root).expanduser(), Path(out).expanduser()
    if out.resolve() == root.resolve():
        raise ValueError(f"remap_masks(out={str(out)!r}): write to a new folder, not over root")
    images, masks = _pairs(root)
    spec = load_classes(root / classes_file) if (root / classes_file).is_file() else None
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    if spec is not None:
        shutil.copy2(root / classes_file, out / classes_file)
    palette = (spec["colors"] if spec is not None else VOC_PALETTE).astype(np.uint8)
    flat = np.zeros((256, 3), dtype=np.uint8)
    flat[: len(palette)] = palette[:256]
    for path in images.values():
        shutil.copy2(path, out / "images" / path.name)
    for name, path in masks.items():
        with Image.open(path) as img:
            mode, mask = img.mode, np.asarray(img)
        if mode in ("RGB", "RGBA"):
            if spec is None:
                raise ValueError(f"remap_masks: {path} is RGB and {root / classes_file} is missing")
            mask = colors_to_labels(mask[..., :3], spec["colors"], path, spec["void"])
        source = mask.astype(np.int64)
        mask = source.copy()
        for old, new in (mapping or {}).items():  # each value read from the original mask
            mask[source == old] = new
        if mask.min() < 0 or mask.max() > 255:
            raise ValueError(f"remap_masks: {path} maps to values outside 0..255")
        fixed = Image.fromarray(mask.astype(np.uint8))  # mode "L"; putpalette makes it "P"
        fixed.putpalette(flat.reshape(-1).tolist())
        fixed.save(out / "masks" / f"{name}.png")
    return out
