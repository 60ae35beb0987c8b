"""``tinyconv show``: an interactive page of every layer of a trained network at work.

- :class:`Network` computes what the page draws (layers with their costs, outputs for one image,
  filters, receptive fields) as JSON-ready dicts;
- :func:`start_server` serves the page on 127.0.0.1 (standard library only, see
  :mod:`tinyconv.show.server`);
- :class:`LiveTraining` is the ``fit(callbacks=[...])`` hook of ``tinyconv train --live``;
- :func:`export_html` writes one self-contained HTML file for a report.

From Python::

    import tinyconv.show as show
    config, network = show.model_from_checkpoint("runs/lenet5-digits/checkpoint.npz")
    show.export_html(network, "page.html", test_index=3)
"""

from tinyconv.show.live import LiveTraining
from tinyconv.show.network import Network, model_from_checkpoint
from tinyconv.show.page import export_html
from tinyconv.show.server import ShowApp, ShowServer, start_server

__all__ = ["LiveTraining", "Network", "ShowApp", "ShowServer", "export_html",
           "model_from_checkpoint", "start_server"]
