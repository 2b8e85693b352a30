"""dlcourse.config: the presets' recipes, config files, overrides, and errors that name the setting."""

import json
from pathlib import Path

import pytest
from test_train import tiny_config

from dlcourse.config import PRESETS, load_config, parse_overrides, preset

ROOT = Path(__file__).resolve().parent.parent


def test_presets_hold_the_published_recipe():
    full = preset("full")
    assert (full.train_split, full.crop_size, full.batch_size, full.steps) == (
        "train",  # every VOC 2012 download has it; train_aug is one --set away
        513,
        16,
        30000,
    )
    assert full.lr == 0.007 and full.poly_power == 0.9
    assert full.weights_backbone == "imagenet" and not full.freeze_bn and full.sync_bn
    assert (full.val_split, full.val_subset) == ("val", None)
    colab = preset("colab")
    assert (colab.crop_size, colab.batch_size, colab.amp) == (321, 8, "auto")
    assert (colab.train_split, colab.val_split, colab.val_subset) == (
        "train",
        "val",
        ["random", 300, 0],
    )
    assert colab.weights_backbone == "imagenet" and colab.freeze_bn == "pretrained"
    fast = preset("fast")
    # offline, and on whatever device there is (a GPU when present)
    assert fast.data == "synthetic" and fast.device is None and fast.weights_backbone is None
    # make_synthetic's advice: no rescaling, and the crop is the whole picture (flips only)
    assert fast.scale_range == (1.0, 1.0) and fast.crop_size == fast.synthetic["size"]
    assert set(PRESETS) == {"fast", "colab", "full"}


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"preset": "colab", "steps": 300, "data": "/data/voc"}))
    cfg = load_config(path, parse_overrides(["lr=0.02", 'model_kwargs={"output_stride": 8}']))
    assert (cfg.steps, cfg.lr, cfg.crop_size, cfg.data) == (300, 0.02, 321, "/data/voc")
    assert cfg.model_kwargs == {"output_stride": 8}
    assert parse_overrides(["amp=bf16", "val_subset=null"]) == {"amp": "bf16", "val_subset": None}
    assert load_config(cfg.to_dict()) == cfg
    assert cfg.replace(steps=500).steps == 500


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": 0}, "steps"),
        ({"amp": "fp8"}, "amp"),
        ({"warmup_steps": 10, "steps": 10}, "warmup_steps"),
        ({"lr": -1.0}, "lr"),
        ({"scale_range": (2.0, 0.5)}, "scale_range"),
        ({"stepz": 3}, "unknown setting"),
    ],
)
def test_bad_settings_name_themselves(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**changes)


def test_bad_config_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{steps: 3")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["steps"])
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_shipped_config_files_load():
    files = sorted((ROOT / "configs").glob("*.json"))
    assert files, "configs/ holds example settings"
    for path in files:
        cfg = load_config(path)
        assert cfg.data, f"{path.name} names its data folder"
