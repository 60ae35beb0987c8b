"""The command-line side: ``tinyconv show`` and ``tinyconv train --live``.

``tinyconv/__main__.py`` adds these arguments to its parser and calls :func:`run_show` and
:func:`fit_live`; everything heavier (the model, the server) is imported only when they run.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any

__all__ = ["add_live_arguments", "add_show_command", "find_checkpoint", "fit_live", "run_show"]

FINISHED_GRACE_SECONDS = 1.5  # the live server outlives training by this much: the page, which
#                               polls twice a second, sees "finished" before it stops


def _port(text: str) -> int:
    """``--port``: a whole number from 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:  # the words argparse uses for type=int
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: a whole number from 0 (a free "
                                         f"port) to 65535")
    return port


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=_port, default=0,
                        help="port on 127.0.0.1 (default: a free one, printed)")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open a browser; just print the address")


def add_live_arguments(train: argparse.ArgumentParser) -> None:
    """``--live`` (with ``--port`` and ``--no-browser``) for ``tinyconv train``."""
    train.add_argument("--live", action="store_true",
                       help="serve a page on 127.0.0.1 with the learning curves, the first "
                            "layer's filters and one test image's activations as the network "
                            "learns, and a stop button")
    _add_server_arguments(train)


def add_show_command(commands: Any) -> argparse.ArgumentParser:
    """The ``tinyconv show`` sub-command."""
    show = commands.add_parser(
        "show", help="an interactive page of every layer of a trained network at work",
        description="Serve a page on 127.0.0.1 where you draw a digit and see every layer of "
                    "the network respond: feature maps, filters, per-layer parameters, MACs and "
                    "memory, receptive fields. With --export, write one self-contained HTML "
                    "file instead.")
    show.add_argument("checkpoint", nargs="?", default=None, metavar="CHECKPOINT",
                      help="a checkpoint.npz written by tinyconv train (default: the newest "
                           "under runs/; if there is none, LeNet-5 is trained on the digits "
                           "first)")
    _add_server_arguments(show)
    show.add_argument("--export", default=None, metavar="PAGE.html",
                      help="write a self-contained static page (data inlined, no network) for "
                           "one test image, and exit")
    show.add_argument("--image", type=int, default=None, metavar="N",
                      help="with --export: the test image to show (default: 0)")
    return show


def find_checkpoint(root: str | Path = "runs") -> Path | None:
    """The most recently written ``<root>/*/checkpoint.npz``, or None."""
    candidates = list(Path(root).glob("*/checkpoint.npz"))
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def _open_browser(url: str) -> None:
    # in a thread: some browsers block the caller until they have started
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()


def run_show(args: argparse.Namespace) -> int:
    """``tinyconv show``: returns the exit status."""
    from tinyconv.show.network import model_from_checkpoint
    from tinyconv.show.page import export_html
    from tinyconv.show.server import ShowApp, ShowServer

    if args.image is not None and not args.export:
        print("tinyconv show: error: --image N goes with --export (the page itself has a strip "
              "of test images to pick from)", file=sys.stderr)
        return 2
    image = 0 if args.image is None else args.image
    checkpoint = args.checkpoint or find_checkpoint()
    if checkpoint is None:
        from tinyconv.training import TrainConfig, fit

        config = TrainConfig()
        print(f"tinyconv show: no checkpoint under runs/ yet: training {config.model} on "
              f"{config.dataset} first (as tinyconv train does)", flush=True)
        fit(config)
        checkpoint = Path(config.out) / "checkpoint.npz"
    try:
        _, network = model_from_checkpoint(str(checkpoint))
        if args.export:
            try:
                network.check_test_index(image)
            except ValueError:
                raise ValueError(f"--image {image}: the test images are numbered 0 to "
                                 f"{len(network.test_images) - 1}") from None
            path = export_html(network, args.export, image)
            print(f"tinyconv show: wrote {path} (test image #{image}; opens offline)")
            return 0
        server = ShowServer(ShowApp(network), args.port)
    except (ValueError, OSError) as error:  # tc.LoadError is a ValueError
        print(f"tinyconv show: error: {error}", file=sys.stderr)
        return 2
    print(f"tinyconv show: {checkpoint} at {server.url} (Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        _open_browser(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\ntinyconv show: stopped", flush=True)
    finally:
        server.server_close()
    return 0


def fit_live(config: Any, resume: str | None = None, port: int = 0,
             open_browser: bool = True) -> dict:
    """``tinyconv train --live``: :func:`~tinyconv.training.fit` with a :class:`LiveTraining`
    callback, its page served until training ends (or Ctrl-C, which is re-raised)."""
    from tinyconv.show.live import LiveTraining
    from tinyconv.show.server import ShowApp, start_server
    from tinyconv.training import fit

    live = LiveTraining(epochs=config.epochs, title={
        "model": config.model, "dataset": config.dataset,
        "checkpoint": str(Path(config.out) / "checkpoint.npz")})
    server, thread = start_server(ShowApp(live=live), port)
    print(f"tinyconv train --live: watch at {server.url}", flush=True)
    if open_browser:
        _open_browser(server.url)
    interrupted = False
    try:
        return fit(config, resume=resume, callbacks=[live])
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if not interrupted:
            time.sleep(FINISHED_GRACE_SECONDS)
        server.shutdown()
        server.server_close()
        thread.join()
        print("tinyconv train --live: the page's server has stopped", flush=True)
