"""``tinyconv train --live``: the training loop publishes, the page polls.

:class:`LiveTraining` is a callback for :func:`tinyconv.training.fit`. After every step it
records the loss and, at most every ``snapshot_seconds``, a snapshot: the first layer's filters
and every layer's output for one test image (less often when a snapshot is slow for a big model:
at most 5% of the time goes to them). The server's threads only *read* what was
published, under a lock held for a dict copy, so the training loop never waits on the browser.

One thing runs in the training thread on the page's behalf: a digit the learner draws during
training. tinyconv's gradient mode (``no_grad``) is global, not per thread, so a forward pass in
a server thread could switch off the gradients of a training step running at the same time.
The server therefore queues the request; the training loop runs it between two steps (one small
forward pass, a millisecond for LeNet-5) and the server thread waits for the answer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from tinyconv.show.network import Network

__all__ = ["LiveTraining"]

MAX_CURVE_POINTS = 2000  # the loss curve keeps every step until then, then every other one


class LiveTraining:
    """Publishes a training run for the page (see the module docstring).

    Args:
        snapshot_seconds: least time between two snapshots of filters and activations.
        epochs: the number of epochs the run will train (shown as "epoch 3/10").
        title: facts for the page's header (model, data set...).
        request_timeout: seconds a page request waits for the training loop to run it.
    """

    def __init__(self, snapshot_seconds: float = 0.5, epochs: int | None = None,
                 title: dict | None = None, request_timeout: float = 30.0):
        self.snapshot_seconds = snapshot_seconds
        self.epochs = epochs
        self.request_timeout = request_timeout
        self.title = dict(title or {})
        self.network: Network | None = None
        self.stop_training = False  # read by fit() after every epoch
        self._lock = threading.Lock()  # guards the published state
        self._model_lock = threading.Lock()  # the model, while no training thread runs
        self._requests: queue.Queue[tuple[Callable[[], Any], Future]] = queue.Queue()
        self._running = False  # True between on_train_begin and on_train_end
        self._test_index = 0
        self._last_snapshot = 0.0  # when the last snapshot was taken (time.monotonic())
        self._snapshot_cost = 0.0  # how long it took
        self._state: dict[str, Any] = {
            "live": True, "status": "starting", "version": 0, "step": 0, "epoch": 0,
            "epochs": None, "losses": [], "loss_every": 1, "epochs_done": [], "snapshot": None}
        self._pending_losses: list[float] = []

    # -- called by fit() in the training thread -----------------------------------------------

    def on_train_begin(self, model: Any, test_set: Any, classes: Any, history: dict) -> None:
        images, labels = test_set.tensors
        self.network = Network(model, images.cpu().numpy(), labels.cpu().numpy(), classes,
                               self.title)
        with self._lock:
            self._running = True
            self._state.update(status="training", epochs=self.epochs,
                               epochs_done=_epoch_rows(history), epoch=len(history["train_loss"]))
        self._snapshot(model, force=True)

    def on_batch_end(self, model: Any, loss: float) -> None:
        with self._lock:
            state = self._state
            state["step"] += 1
            self._pending_losses.append(float(loss))
            if len(self._pending_losses) >= state["loss_every"]:  # one point per loss_every steps
                state["losses"].append(float(np.mean(self._pending_losses)))
                self._pending_losses.clear()
                if len(state["losses"]) >= MAX_CURVE_POINTS:  # halve the resolution, keep it all
                    pairs = state["losses"]
                    state["losses"] = [(a + b) / 2 for a, b in zip(pairs[::2], pairs[1::2],
                                                                   strict=False)]
                    state["loss_every"] *= 2
            state["version"] += 1
        self._serve_requests()
        self._snapshot(model)

    def on_epoch_end(self, model: Any, epoch: int, history: dict) -> None:
        with self._lock:
            self._state.update(epoch=epoch, epochs_done=_epoch_rows(history))
            self._state["version"] += 1
        self._serve_requests()
        self._snapshot(model, force=True)

    def on_train_end(self, model: Any, history: dict) -> None:
        with self._lock:
            self._running = False
            self._state["status"] = "stopped" if self.stop_training else "finished"
            self._state["version"] += 1
        self._serve_requests()  # anything still queued, then refuse (see call_model)

    # -- called by the server's threads ---------------------------------------------------------

    def state(self, since: int = 0, snapshot_since: int = 0) -> dict:
        """The run's state; ``{"version": v, "unchanged": true}`` when nothing changed since
        version ``since``, and the snapshot as ``{"id": i, "unchanged": true}`` when the page
        already has snapshot ``snapshot_since`` (the page polls with what it last saw)."""
        with self._lock:
            if since and since == self._state["version"]:
                return {"live": True, "version": since, "unchanged": True}
            state = dict(self._state, losses=list(self._state["losses"]),
                         epochs_done=list(self._state["epochs_done"]))
        snapshot = state["snapshot"]
        if snapshot is not None and snapshot_since and snapshot["id"] == snapshot_since:
            state["snapshot"] = {"id": snapshot_since, "unchanged": True}
        return state

    def request_stop(self) -> None:
        """Stop after the current epoch, once its checkpoint is saved."""
        self.stop_training = True
        with self._lock:
            if self._state["status"] == "training":
                self._state["status"] = "stopping"
            self._state["version"] += 1

    def follow_test_image(self, index: int) -> None:
        """Snapshots show test image ``index`` from now on."""
        with self._lock:
            self._test_index = index
            self._last_snapshot = 0.0  # the next step takes a snapshot of it

    def call_model(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` in the training thread between two steps and return its result."""
        future: Future = Future()
        with self._lock:  # on_train_end flips _running under this lock, then drains the queue
            running = self._running
            if running:
                self._requests.put((function, future))
        if not running:  # before or after training, no other thread uses the model
            with self._model_lock:
                return function()
        return future.result(timeout=self.request_timeout)

    # -- helpers (training thread) ----------------------------------------------------------------

    def _serve_requests(self) -> None:
        while True:
            try:
                function, future = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(function())
            except Exception as error:  # the page shows it; training goes on
                future.set_exception(error)

    def _snapshot(self, model: Any, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            index = self._test_index
            interval = max(self.snapshot_seconds, 20 * self._snapshot_cost)
            if not (force or now - self._last_snapshot >= interval) or self.network is None:
                return
        network = self.network
        snapshot = {"filters": network.filters(first_only=True),
                    "result": network.run_test_image(index)}
        with self._lock:
            self._last_snapshot = time.monotonic()
            self._snapshot_cost = self._last_snapshot - now
            previous = self._state["snapshot"]
            snapshot.update(id=previous["id"] + 1 if previous else 1, step=self._state["step"])
            self._state["snapshot"] = snapshot
            self._state["version"] += 1


def _epoch_rows(history: dict) -> list[dict]:
    """The per-epoch history as rows ``{"epoch", "train_loss", "train_acc", ...}``."""
    keys = ("train_loss", "train_acc", "test_loss", "test_acc")
    return [{"epoch": i + 1, **{key: float(history[key][i]) for key in keys}}
            for i in range(len(history["train_loss"]))]
