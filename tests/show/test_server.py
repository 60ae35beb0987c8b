"""The JSON API the page uses (tinyconv.show.server), over real HTTP on 127.0.0.1, and the live
training callback behind ``tinyconv train --live``."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time

import numpy as np
import pytest

from tinyconv.show.live import LiveTraining
from tinyconv.show.server import MAX_BODY_BYTES, ShowApp, start_server
from tinyconv.training import TrainConfig, fit


def request(server, method: str, path: str, body=None, headers=None):
    """``(status, parsed JSON or raw bytes)`` of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = ({"Content-Type": "application/json"} if method == "POST" else {}) | (headers or {})
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    if response.getheader("Content-Type", "").startswith("application/json"):
        return response.status, json.loads(payload)
    return response.status, payload


def decode(array: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(array["data"]), dtype="<f4").reshape(array["shape"])


def test_page_and_its_files(show_server):
    status, page = request(show_server, "GET", "/")
    assert status == 200 and b'<canvas id="pad"' in page
    for name in ("show.js", "show.css"):
        status, body = request(show_server, "GET", f"/static/{name}")
        assert status == 200 and len(body) > 1000
        assert b"http://" not in body and b"https://" not in body  # no CDN: works offline
    assert b"http://" not in page and b"https://" not in page
    status, body = request(show_server, "GET", "/static/../server.py")
    assert status == 404 and "no static file" in body["error"]


def test_model_route_describes_the_network(show_server, network):
    status, model = request(show_server, "GET", "/api/model")
    assert status == 200
    assert model["image_shape"] == [1, 32, 32] and len(model["classes"]) == 10
    assert [layer["name"] for layer in model["layers"]] == \
        [layer["name"] for layer in network.describe()["layers"]]
    assert model["title"]["model"] == "lenet5" and model["title"]["epochs"] == 1


def test_predict_a_drawing_equals_the_network_run(show_server, network):
    drawing = np.zeros((32, 32))
    drawing[4:28, 14:18] = 1.0  # a "1"
    status, result = request(show_server, "POST", "/api/predict",
                             {"pixels": drawing.tolist()})
    assert status == 200
    expected = network.run(network.to_pixels(drawing[None]))
    assert result["predicted"] == expected["predicted"]
    for got, want in zip(result["layers"], expected["layers"], strict=True):
        assert np.array_equal(decode(got["output"]), decode(want["output"]))
    shapes = [decode(layer["output"]).shape for layer in result["layers"]]
    assert shapes[:6] == [(6, 28, 28)] * 2 + [(6, 14, 14)] + [(16, 10, 10)] * 2 + [(16, 5, 5)]
    assert shapes[6:] == [(120,), (120,), (84,), (84,), (10,)]
    assert abs(sum(result["probabilities"]) - 1) < 1e-9


def test_predict_a_test_image(show_server, network):
    status, result = request(show_server, "POST", "/api/predict", {"test_index": 11})
    assert status == 200 and result["test_index"] == 11
    assert result["label"] == int(network.test_labels[11])


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    ([1, 2], 400, "expected a JSON object"),
    ({}, 400, 'exactly one of "pixels" or "test_index"'),
    ({"pixels": [[0]], "test_index": 1}, 400, "exactly one"),
    ({"pixels": [[0.5] * 64] * 64}, 400, "expected 32 rows of 32 numbers"),
    ({"pixels": [[0.5] * 32] * 31 + [["a"] * 32]}, 400, "ragged or hold something other"),
    ({"pixels": [[-0.5] * 32] * 32}, 400, "finite number in [0, 1]"),
    (b'{"pixels": [' + b",".join([b"[" + b",".join([b"NaN"] * 32) + b"]"] * 32) + b"]}", 400,
     "finite"),
    ({"test_index": 10_000}, 400, "test_index: expected an int from 0 to 358"),
])
def test_bad_predict_requests_get_a_4xx_with_a_message(show_server, body, status, message):
    code, payload = request(show_server, "POST", "/api/predict", body)
    assert code == status
    assert message in payload["error"]


def test_oversized_body_is_refused_before_reading_it(show_server):
    connection = http.client.HTTPConnection("127.0.0.1", show_server.port, timeout=10)
    connection.putrequest("POST", "/api/predict")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    connection.endheaders()  # no body sent: the server must answer from the header alone
    response = connection.getresponse()
    assert response.status == 413
    assert "limit is 1,048,576" in json.loads(response.read())["error"]
    connection.close()


@pytest.mark.parametrize("host", ["evil.example.com", "127.0.0.1", "localhost:1",
                                  "127.0.0.1.nip.io:{port}"])
def test_unexpected_host_header_is_rejected(show_server, host):
    status, payload = request(show_server, "GET", "/api/model",
                              headers={"Host": host.format(port=show_server.port)})
    assert status == 403 and "unexpected Host header" in payload["error"]
    status, _ = request(show_server, "GET", "/api/model",
                        headers={"Host": f"localhost:{show_server.port}"})
    assert status == 200


def test_posts_from_forms_or_other_sites_are_refused(show_server):
    body = {"test_index": 0}
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        status, payload = request(show_server, "POST", "/api/predict", b"{}",
                                  headers={"Content-Type": content_type})
        assert status == 415 and "Content-Type: application/json" in payload["error"]
    status, payload = request(show_server, "POST", "/api/predict", body,
                              headers={"Origin": "http://evil.example.com"})
    assert status == 403 and "another site" in payload["error"]
    own = {"Origin": f"http://127.0.0.1:{show_server.port}"}
    assert request(show_server, "POST", "/api/predict", body, headers=own)[0] == 200


def test_routes_and_methods(show_server):
    assert request(show_server, "GET", "/api/nothing")[0] == 404
    assert request(show_server, "GET", "/api/predict")[0] == 405
    assert request(show_server, "POST", "/api/model")[0] == 405
    assert request(show_server, "GET", "/api/live") == (200, {"live": False})
    status, payload = request(show_server, "POST", "/api/stop", {})
    assert status == 404 and "no training run" in payload["error"]


def test_server_binds_to_loopback_only(show_server):
    assert show_server.server_address[0] == "127.0.0.1"


class Pace:
    """Slows training down so that a test can watch it (a digits epoch takes 0.3 s)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_batch_end(self, model, loss):
        time.sleep(self.seconds)


def test_live_training_publishes_serves_drawings_and_stops(tmp_path):
    live = LiveTraining(snapshot_seconds=0.0, epochs=20)
    server, thread = start_server(ShowApp(live=live))
    try:
        assert request(server, "GET", "/api/model")[0] == 503  # no network before training
        config = TrainConfig(epochs=20, out=str(tmp_path), progress=False)
        history: dict = {}
        trainer = threading.Thread(target=lambda: history.update(
            fit(config, log=lambda line: None, callbacks=[live, Pace(0.01)])))
        trainer.start()
        deadline = time.monotonic() + 60
        while request(server, "GET", "/api/live")[1].get("step", 0) < 5:
            assert time.monotonic() < deadline and trainer.is_alive()
            time.sleep(0.05)
        first = request(server, "GET", "/api/live")[1]
        assert first["status"] == "training" and first["epochs"] == 20
        assert first["snapshot"]["filters"][0]["shape"] == [6, 1, 5, 5]
        # a drawing during training: run by the training thread between two steps
        status, result = request(server, "POST", "/api/predict",
                                 {"pixels": np.eye(32).tolist()})
        assert status == 200 and len(result["probabilities"]) == 10
        status, model = request(server, "GET", "/api/model")
        assert status == 200 and len(model["layers"]) == 11
        while len(request(server, "GET", "/api/live")[1]["losses"]) <= len(first["losses"]):
            assert time.monotonic() < deadline, "the loss curve did not grow"  # it grows
            time.sleep(0.05)
        assert request(server, "POST", "/api/stop", {}) == (200, {"stopping": True})
        trainer.join(timeout=60)
        assert not trainer.is_alive()
        final = request(server, "GET", "/api/live")[1]
        assert final["status"] == "stopped"
        assert 1 <= len(history["train_loss"]) < 20  # stopped early ...
        assert (tmp_path / "checkpoint.npz").exists()  # ... after saving
        assert len(final["epochs_done"]) == len(history["train_loss"])
        # the page polls with the version it has: nothing changed, nothing re-sent
        assert request(server, "GET", f"/api/live?since={final['version']}")[1] == \
            {"live": True, "version": final["version"], "unchanged": True}
        # ... and a snapshot the page already has is not sent again
        snapshot = final["snapshot"]["id"]
        assert snapshot > 1 and final["snapshot"]["result"]["predicted"] in range(10)
        assert request(server, "GET", f"/api/live?snapshot={snapshot}")[1]["snapshot"] == \
            {"id": snapshot, "unchanged": True}
        # after training the page still gets answers (from the server's own thread)
        assert request(server, "POST", "/api/predict", {"test_index": 0})[0] == 200
    finally:
        live.request_stop()
        server.shutdown()
        server.server_close()


def test_a_request_the_training_loop_never_reaches_gets_a_503(network):
    import tinyconv as tc

    live = LiveTraining(request_timeout=0.2)
    test_set = tc.data.TensorDataset(tc.tensor(network.test_images[:4]),
                                     tc.tensor(network.test_labels[:4]))
    live.on_train_begin(network.model, test_set, network.classes,
                        {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []})
    server, thread = start_server(ShowApp(live=live))
    try:  # training "runs" (on_train_begin was called) but no step ever serves the queue
        status, payload = request(server, "POST", "/api/predict", {"test_index": 1})
        assert status == 503 and "did not get to this request in time" in payload["error"]
        live.on_train_end(network.model, {})
        assert request(server, "POST", "/api/predict", {"test_index": 1})[0] == 200
    finally:
        server.shutdown()
        server.server_close()
