"""The local web server behind ``tinyconv show`` and ``tinyconv train --live``.

Why the standard library (``http.server`` + ``threading``) and not a web framework: the page
needs five small JSON routes and three static files, on one machine, for one person. A framework
would add a dependency (and its own dependencies) to a teaching library for no gain, and
``ThreadingHTTPServer`` answers each request in its own thread, so a slow browser never blocks
another request, nor the training loop.

Safety: the server binds to 127.0.0.1 only (nothing outside the machine can reach it, and no
data leaves it), and it answers only requests whose ``Host`` header names that address or
``localhost`` with its own port: a web page elsewhere cannot use DNS rebinding to read it. A POST
must say ``Content-Type: application/json`` and, if it has an ``Origin``, come from this server:
another site open in the browser cannot stop a training run with a plain form. Request bodies
are limited to :data:`MAX_BODY_BYTES`.

Routes (all JSON except the page and its files)::

    GET  /                  the page (index.html)
    GET  /static/<file>     its script and style sheet
    GET  /api/model         Network.describe(): layers, filters, test-image strip
    POST /api/predict       {"pixels": H rows of W numbers in [0, 1]} or {"test_index": i}
                            -> Network.run(): every layer's output, softmax, prediction
    GET  /api/live?since=V&snapshot=S
                            the training run's state ({"live": false} for tinyconv show),
                            without what the page already has (version V, snapshot S)
    POST /api/stop          ask the training run to stop after the current epoch
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tinyconv.show.page import STATIC_FILES, read_static

__all__ = ["MAX_BODY_BYTES", "RequestError", "ShowApp", "ShowServer", "start_server"]

MAX_BODY_BYTES = 1 << 20  # 1 MiB: a 32×32 drawing as JSON numbers takes about 10 KB


class RequestError(Exception):
    """A request the server refuses: an HTTP status and a message for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ShowApp:
    """What the routes answer, without HTTP. ``network`` is a :class:`~.network.Network` (or
    None while a live run is still building its model).

    The model is used by one thread at a time: :meth:`call_model` runs a function under a lock.
    A live run replaces it (see ``LiveTraining.call_model``) so that the training thread itself
    runs the page's requests between two steps, since tinyconv's gradient mode is global.
    """

    def __init__(self, network: Any = None, live: Any = None):
        self.network = network
        self.live = live
        self._lock = threading.Lock()

    def call_model(self, function: Callable[[], Any]) -> Any:
        if self.live is None:
            with self._lock:
                return function()
        try:
            return self.live.call_model(function)
        except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError since 3.11
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE,
                               "the training loop did not get to this request in time (a long "
                               "evaluation?); retry") from None

    def current_network(self) -> Any:
        network = self.live.network if self.live is not None else self.network
        if network is None:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE,
                               "the network is still being built (data loading); retry shortly")
        return network

    def model(self) -> dict:
        network = self.current_network()
        return self.call_model(network.describe)

    def predict(self, body: Any) -> dict:
        network = self.current_network()
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST,
                               'predict: expected a JSON object {"pixels": [...]} or '
                               '{"test_index": i}')
        keys = set(body) & {"pixels", "test_index"}
        if len(keys) != 1 or set(body) - keys:
            raise RequestError(HTTPStatus.BAD_REQUEST,
                               f'predict: expected exactly one of "pixels" or "test_index", got '
                               f"keys {sorted(body)}")
        try:  # the request is checked here; the model runs below, where errors are bugs (500)
            if "test_index" in body:
                index = network.check_test_index(body["test_index"])
            else:
                image = network.to_pixels(network.check_drawing(body["pixels"]))
        except ValueError as error:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"predict: {error}") from None
        if "test_index" in body:
            if self.live is not None:
                self.live.follow_test_image(index)
            return self.call_model(lambda: network.run_test_image(index))
        return self.call_model(lambda: network.run(image))

    def live_state(self, since: int = 0, snapshot_since: int = 0) -> dict:
        if self.live is None:
            return {"live": False}
        return self.live.state(since, snapshot_since)

    def stop(self) -> dict:
        if self.live is None:
            raise RequestError(HTTPStatus.NOT_FOUND, "stop: no training run is being served "
                                                     "(this is tinyconv show)")
        self.live.request_stop()
        return {"stopping": True}


class ShowServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` on 127.0.0.1 serving a :class:`ShowApp`."""

    daemon_threads = True  # a browser keeping a connection open never delays shutdown
    allow_reuse_address = True

    def __init__(self, app: ShowApp, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def allowed_hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}


class _Handler(BaseHTTPRequestHandler):
    server: ShowServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request log would bury the training's own output

    def do_GET(self) -> None:  # the name http.server calls
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        try:
            self._check_host()
            if method == "POST":
                self._check_post()
            url = urlsplit(self.path)
            route = (method, url.path)
            app = self.server.app
            if route == ("GET", "/") or route == ("GET", "/index.html"):
                return self._send(HTTPStatus.OK, read_static("index.html"), "text/html")
            if method == "GET" and url.path.startswith("/static/"):
                name = url.path[len("/static/"):]
                if name not in STATIC_FILES:
                    raise RequestError(HTTPStatus.NOT_FOUND, f"no static file {name!r}")
                return self._send(HTTPStatus.OK, read_static(name), STATIC_FILES[name])
            if route == ("GET", "/api/model"):
                return self._send_json(app.model())
            if route == ("POST", "/api/predict"):
                return self._send_json(app.predict(self._read_json()))
            if route == ("GET", "/api/live"):
                return self._send_json(app.live_state(_query_int(url.query, "since"),
                                                      _query_int(url.query, "snapshot")))
            if route == ("POST", "/api/stop"):
                self._read_body()
                return self._send_json(app.stop())
            known = {"/", "/index.html", "/api/model", "/api/predict", "/api/live", "/api/stop"}
            if url.path in known:
                raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED,
                                   f"{method} is not allowed on {url.path}")
            raise RequestError(HTTPStatus.NOT_FOUND, f"no route {url.path}")
        except RequestError as error:
            self.close_connection = True  # a body may be left unread: never reuse the socket
            self._send_json({"error": str(error)}, error.status)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        except Exception as error:  # a bug: the page shows it, the server keeps serving
            self._send_json({"error": f"{type(error).__name__}: {error}"},
                            HTTPStatus.INTERNAL_SERVER_ERROR)

    def _check_host(self) -> None:
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts():
            raise RequestError(HTTPStatus.FORBIDDEN,
                               f"unexpected Host header {host!r}: this server answers only "
                               f"{' or '.join(sorted(self.server.allowed_hosts()))}")

    def _check_post(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc not in self.server.allowed_hosts():
            raise RequestError(HTTPStatus.FORBIDDEN,
                               f"a POST from another site ({origin}) is not accepted")
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            self.close_connection = True  # the body is not read
            raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                               f"a POST must send Content-Type: application/json, got "
                               f"{content_type or 'none'!r}")

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise RequestError(HTTPStatus.BAD_REQUEST, "Content-Length is not a number") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"request body of {length:,} bytes; the limit is "
                               f"{MAX_BODY_BYTES:,}")
        return self.rfile.read(length) if length > 0 else b""

    def _read_json(self) -> Any:
        body = self._read_body()
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RequestError(HTTPStatus.BAD_REQUEST,
                               f"the request body is not valid JSON ({error})") from None

    def _send_json(self, payload: Any, status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _query_int(query: str, name: str) -> int:
    """``name=N`` from a query string (0 when absent or not a number)."""
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == name and value.isdigit():
            return int(value)
    return 0


def start_server(app: ShowApp, port: int = 0) -> tuple[ShowServer, threading.Thread]:
    """Serve ``app`` on 127.0.0.1:``port`` (0: a free port) from a background thread; stop it
    with ``server.shutdown(); server.server_close()``."""
    server = ShowServer(app, port)
    thread = threading.Thread(target=server.serve_forever, name="tinyconv-show", daemon=True)
    thread.start()
    return server, thread
