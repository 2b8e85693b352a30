"""dlcourse.zoo: the lessons' model is trained once, then loaded from the cache."""

import torch


def test_lesson_model_trains_once_then_loads_from_the_cache(tmp_path, monkeypatch):
    from dlcourse import zoo

    monkeypatch.setenv("DLCOURSE_CACHE", str(tmp_path))
    cfg = zoo.lesson_config(fast=True).replace(
        steps=3, warmup_steps=0, eval_every=0, synthetic={"n_train": 4, "n_val": 2, "size": 32, "seed": 0},
        crop_size=32, batch_size=2, device="cpu",
    )  # fmt: skip
    first = zoo.lesson_model(cfg)
    assert not first.from_cache and zoo.checkpoint_path(cfg).is_file()
    again = zoo.lesson_model(cfg)
    assert again.from_cache and again.history["loss"] == first.history["loss"]
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key
    assert zoo.checkpoint_path(cfg.replace(steps=4)) != zoo.checkpoint_path(cfg)
    assert (zoo.lesson_config(fast=False).steps, zoo.lesson_config(fast=True).steps) == (300, 30)
