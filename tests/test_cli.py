"""The training command line on VOC folders: presets on official splits, and plain errors.

Every user error must end in one ``error: ...`` line and exit code 2, never a traceback.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlcourse import cli, weights
from dlcourse.checkpoint import load_checkpoint
from dlcourse.viz import VOC_PALETTE

ROOT = Path(__file__).resolve().parent.parent
VOC_SUBSET = ROOT.parent / "shared" / "data" / "voc2012-subset"
OFFICIAL_SPLITS = ("train", "val", "trainval")
# small enough for a 2-core CPU; everything else (model, splits, weights) is the preset's
SMALL = ["steps=2", "warmup_steps=0", "batch_size=2", "crop_size=65", "val_subset=2", "num_workers=0",
         "eval_every=0", "checkpoint_every=0", "amp=off", "channels_last=false"]  # fmt: skip


def _palette_png(path: Path, labels: np.ndarray) -> None:
    png = Image.fromarray(labels.astype(np.uint8), mode="P")
    flat = np.zeros((256, 3), np.uint8)
    flat[:21] = VOC_PALETTE
    png.putpalette(flat.reshape(-1).tolist())
    png.save(path)


def make_voc(root: Path, n_train: int = 4, n_val: int = 3, bad_value: int | None = None) -> Path:
    """A VOC 2012 folder as the official archive lays it out: only train, val and trainval."""
    rng = np.random.default_rng(0)
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    ids = [f"2007_{i:06d}" for i in range(n_train + n_val)]
    for item in ids:
        h, w = rng.integers(70, 90, size=2)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            root / "JPEGImages" / f"{item}.jpg"
        )
        labels = np.zeros((h, w), np.uint8)
        labels[h // 4 : h // 2, w // 4 : w // 2] = rng.integers(1, 21)
        labels[h // 4, w // 4 : w // 2] = 255
        if bad_value is not None:
            labels[0, 0] = bad_value
        _palette_png(root / "SegmentationClass" / f"{item}.png", labels)
    splits = {"train": ids[:n_train], "val": ids[n_train:], "trainval": ids}
    for name, members in splits.items():
        (root / "ImageSets" / "Segmentation" / f"{name}.txt").write_text("\n".join(members) + "\n")
    return root


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlcourse.train", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)  # fmt: skip


def assert_one_error_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("name", ["colab", "full"])
def test_presets_train_two_steps_on_official_splits(tmp_path, name, capsys):
    voc = make_voc(tmp_path / "VOC2012")
    out = tmp_path / "run"
    code = cli.main(["--preset", name, "--data", str(voc), "--out", str(out), "--no-progress",
                   "--set", "weights_backbone=null", *SMALL])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "done: 2 steps" in capsys.readouterr().out
    state = load_checkpoint(out / "last.pt")
    cfg = state["config"]
    assert state["step"] == 2 and cfg["weights_backbone"] is None
    assert (cfg["train_split"], cfg["val_split"]) == ("train", "val")
    assert (
        cfg["model"] == {"colab": "deeplabv3plus_resnet50", "full": "deeplabv3plus_resnet101"}[name]
    )


@pytest.mark.skipif(
    not VOC_SUBSET.is_dir(),
    reason="optional real photos: ../shared/data/voc2012-subset is not beside the project",
)
def test_colab_preset_on_real_voc_photos_laid_out_as_the_official_archive(tmp_path, capsys):
    voc = tmp_path / "VOC2012"
    shutil.copytree(VOC_SUBSET / "JPEGImages", voc / "JPEGImages")
    shutil.copytree(VOC_SUBSET / "SegmentationClass", voc / "SegmentationClass")
    splits = VOC_SUBSET / "ImageSets" / "Segmentation"
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    ids = (splits / "trainval.txt").read_text().split()
    # only the official names: train, val, trainval (the subset's ids are all from train)
    for split, members in {"train": ids[:8], "val": ids[8:12], "trainval": ids[:12]}.items():
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(members) + "\n")
    code = cli.main(["--preset", "colab", "--data", str(voc), "--out", str(tmp_path / "run"),
                   "--no-progress", "--set", "weights_backbone=null", *SMALL])  # fmt: skip
    assert code == 0, capsys.readouterr().err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_colab_preset_fails_with_one_line_naming_the_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path / "cache"))
    url = f"http://127.0.0.1:{closed_port()}/models/resnet50-0676ba61.pth"
    monkeypatch.setitem(weights.WEIGHTS, "resnet50", url)
    voc = make_voc(tmp_path / "VOC2012")
    code = cli.main(["--preset", "colab", "--data", str(voc), "--out", str(tmp_path / "run"),
                   "--no-progress", "--set", *SMALL])  # fmt: skip
    assert code == 2
    assert_one_error_line(capsys, "resnet50-0676ba61.pth", url, "weights_backbone=null")


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    voc = make_voc(tmp_path / "VOC2012")
    out = str(tmp_path / "run")
    cases = [
        (["--preset", "colab", "--out", out], "--data"),
        (["--preset", "colab", "--data", str(tmp_path / "nowhere"), "--out", out], "JPEGImages"),
        (["--preset", "full", "--data", str(voc), "--out", out, "--set", "train_split=train_aug"],
         "prepare_train_aug"),
        (["--preset", "fast", "--out", out, "--set", "stepz=3"], "unknown setting"),
        (["--preset", "fast", "--out", out, "--set", "steps=-1"], "steps"),
        (["--preset", "fast", "--out", out, "--resume", str(tmp_path / "no.pt")], "no such checkpoint"),
        (["--preset", "fast", "--out", out, "--config", str(tmp_path / "none.json")], "none.json"),
        (["--preset", "fast", "--out", out, "--set", "model=deeplabv9"], "unknown model"),
        (["--preset", "colab", "--data", str(voc), "--out", out, "--set", "val_subset=50",
          "weights_backbone=null"], "subset"),
    ]  # fmt: skip
    for args, needle in cases:
        assert cli.main([*args, "--no-progress"]) == 2, args
        assert_one_error_line(capsys, needle)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_bad_mask_value_is_one_line_even_from_a_worker(tmp_path, capsys, workers):
    voc = make_voc(tmp_path / "VOC2012", bad_value=40)
    code = cli.main(["--preset", "colab", "--data", str(voc), "--out", str(tmp_path / "run"),
                   "--no-progress", "--set", "weights_backbone=null", *SMALL,
                   f"num_workers={workers}"])  # fmt: skip
    assert code == 2
    assert_one_error_line(capsys, "40")


def test_no_traceback_from_the_real_command(tmp_path):
    result = run_cli("--preset", "colab", "--data", str(tmp_path / "missing"), "--out",
                     str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing" in lines[0]


def test_help_gives_each_preset_in_one_line():
    result = run_cli("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for name in ("fast", "colab", "full"):
        (line,) = [line for line in lines if line.startswith(f"  {name} ")]
        assert "needs" in line and ("min" in line or "hours" in line or "not yet measured" in line)


def test_command_line_trains_writes_and_resumes(tmp_path, capsys):
    tiny = ['synthetic={"n_train": 4, "n_val": 2, "size": 32, "seed": 0}', "crop_size=32",
            "batch_size=2", "warmup_steps=0", "eval_every=0", "checkpoint_every=0"]  # fmt: skip
    out = tmp_path / "run"
    first = ["--preset", "fast", "--out", str(out), "--no-progress", "--set", "steps=2", *tiny]
    assert cli.main(first) == 0
    assert "done: 2 steps" in capsys.readouterr().out
    state = load_checkpoint(out / "last.pt")
    assert state["step"] == 2 and state["config"]["model"] == "deeplabv3_resnet18"
    assert (out / "synthetic" / "ImageSets" / "Segmentation" / "train.txt").is_file()
    args = ["--out", str(out), "--resume", str(out / "last.pt"), "--no-progress"]
    assert cli.main([*args, "--set", "steps=3", *tiny]) == 0
    assert load_checkpoint(out / "last.pt")["step"] == 3
    assert cli.main(["--preset", "colab", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "error: TrainConfig.data is empty: pass --data" in capsys.readouterr().err


def test_command_line_help_names_the_presets():
    result = run_cli("--help")
    assert result.returncode == 0 and "--preset {colab,fast,full}" in result.stdout
