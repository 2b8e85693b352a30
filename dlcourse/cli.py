"""The training command line: ``python -m dlcourse.train --preset fast --out runs/fast``.

It reads settings in this order, each over the last: a preset (``--preset``), a JSON
file (``--config``), the flags ``--data`` and ``--model``, then ``--set KEY=VALUE``.
It builds the datasets and the model the settings describe (:mod:`dlcourse.recipe`),
starts the process group when ``torchrun`` launched it, and calls
:func:`dlcourse.train.fit`. A user's mistake ends in one ``error: ...`` line and exit
code 2, never a traceback.

Used in: 07, 10 (and the README's "Training from the command line").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist

from dlcourse.checkpoint import CHECKPOINT_NAME
from dlcourse.config import (
    PRESET_SUMMARIES,
    PRESETS,
    load_config,
    parse_overrides,
    read_config_file,
)
from dlcourse.recipe import build_datasets, build_model_for
from dlcourse.train import fit, rank_and_world


def _one_line(error: BaseException) -> str:
    """The message of ``error`` as one line; a DataLoader worker's traceback is cut away."""
    text = str(error).strip()
    if "Original Traceback" in text:  # re-raised from a worker: keep the original last line
        text = text.splitlines()[-1].split(": ", 1)[-1]
    if isinstance(error, KeyError | FileNotFoundError) and text[:1] in "'\"" and text[-1:] in "'\"":
        text = text[1:-1]
    return " ".join(text.split())


def _parser():
    import argparse

    presets = "\n".join(f"  {name:<6} {line}" for name, line in PRESET_SUMMARIES.items())
    parser = argparse.ArgumentParser(
        prog="python -m dlcourse.train",
        description="Train a DeepLab model (dlcourse).",
        epilog=f"presets:\n{presets}\n\nexample: python -m dlcourse.train --preset colab "
        "--data ~/data/VOCdevkit/VOC2012 --out runs/colab --set weights_backbone=null",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast",
                        help="starting settings (see below; default: fast)")  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="folder for checkpoints")
    parser.add_argument("--data", help="VOC-layout folder (holding JPEGImages/), or 'synthetic'")
    parser.add_argument("--model", help="a name from dlcourse.models.list_models()")
    parser.add_argument("--resume", type=Path, help="checkpoint to continue from")
    parser.add_argument("--config", type=Path, help="JSON file of settings over the preset")
    parser.add_argument("--set", nargs="*", default=[], action="extend", metavar="KEY=VALUE",
                        help="settings over everything else, e.g. steps=500 amp=bf16 "
                        "weights_backbone=null")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _run(args) -> int:
    from dlcourse.env import seed_everything

    settings = load_config(args.preset).to_dict()
    if args.config is not None:  # the file's settings (or its own preset) win over --preset
        settings.update(read_config_file(args.config))
    flags = {"data": args.data, "model": args.model}
    settings.update({k: v for k, v in flags.items() if v is not None})
    cfg = load_config(settings, parse_overrides(args.set))
    if args.resume is not None and not Path(args.resume).is_file():
        raise FileNotFoundError(f"--resume {args.resume}: no such checkpoint; pass the "
                                f"{CHECKPOINT_NAME} a run wrote under its --out folder")  # fmt: skip

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        cuda = torch.cuda.is_available() and cfg.device != "cpu"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    seed_everything(cfg.seed)
    train_set, val_set = build_datasets(cfg, args.out)
    model = build_model_for(cfg)
    history = fit(model, train_set, cfg, val_set=val_set, out_dir=args.out, resume=args.resume,
                  progress=not args.no_progress)  # fmt: skip
    if rank_and_world()[0] == 0:
        final = history["eval"][-1] if history["eval"] else {}
        print(f"done: {history['step'][-1] if history['step'] else 0} steps, "
              f"last loss {history['loss'][-1]:.4f}, "
              f"val mIoU {final.get('miou', float('nan')):.4f}, "
              f"checkpoint {args.out / CHECKPOINT_NAME}")  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dlcourse.train --preset fast --out runs/fast``; see ``--help``.

    A mistake of the user's (a missing folder or split, an unknown setting, weights
    that cannot be downloaded, a bad mask value, a diverging loss) prints one
    ``error: ...`` line that says what to do, and returns 2; no traceback.
    """
    import sys

    from dlcourse.weights import WeightsUnavailable

    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError, WeightsUnavailable,
            FloatingPointError) as error:  # fmt: skip
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
