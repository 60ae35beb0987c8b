"""The pages in a real browser: headless Chromium driven by Selenium (skipped, with the reason,
where Chromium is not installed). Each test saves a screenshot in the ``artifacts`` folder."""

from __future__ import annotations

import threading
import time

import pytest

from tinyconv.show.live import LiveTraining
from tinyconv.show.page import export_html
from tinyconv.show.server import ShowApp, start_server
from tinyconv.training import TrainConfig, fit

pytest.importorskip("selenium", reason="needs selenium (pip install tinyconv[test])")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def wait(driver, condition, seconds: float = 20, message: str = ""):
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(
        lambda d: condition(d), message)


def rendered_layers(driver) -> list[str]:
    # one script, not one call per element: the live page re-renders the columns meanwhile
    return driver.execute_script(
        "return [...document.querySelectorAll('#columns .column.rendered')]"
        ".map(box => box.dataset.layer)")


def overlay_is_lit(driver) -> bool:
    """Whether the input column's overlay has a drawn (non-transparent) pixel."""
    return driver.execute_script("""
        const c = document.querySelector('.input-view canvas.overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
        return false;""")


def test_draw_a_digit_and_every_layer_responds(browser, show_server, network, artifacts):
    browser.get(show_server.url)
    wait(browser, lambda d: d.execute_script("return document.body.dataset.ready === '1'"),
         message="the first test image was never shown")
    layers = [layer["name"] for layer in network.describe()["layers"]]
    assert rendered_layers(browser) == ["input", *layers, "softmax"]
    first = browser.find_element(By.ID, "prediction").text
    assert "test image #" in first

    pad = browser.find_element(By.ID, "pad")
    # a "7": a bar along the top, then a stroke down to the lower left (offsets from the centre)
    ActionChains(browser).move_to_element_with_offset(pad, -70, -90).click_and_hold() \
        .move_by_offset(60, 0).move_by_offset(70, 0).move_by_offset(-40, 80) \
        .move_by_offset(-40, 90).release().perform()
    wait(browser, lambda d: d.execute_script("return document.body.dataset.drawing") == "done"
         and "test image #" not in d.find_element(By.ID, "prediction").text,
         message="the drawing's prediction never replaced the test image's")
    prediction = browser.find_element(By.ID, "prediction")
    predicted = prediction.get_attribute("data-predicted")
    assert predicted in [str(k) for k in range(10)]
    assert "Prediction:" in prediction.text and network.classes[int(predicted)] in prediction.text
    assert rendered_layers(browser) == ["input", *layers, "softmax"]
    assert len(browser.find_elements(By.CSS_SELECTOR, ".column .maps canvas")) == \
        6 + 6 + 6 + 16 + 16 + 16
    assert not browser.find_element(By.ID, "error").is_displayed()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#filters .filter")) == 6 + 16

    # hover over a pixel of conv2's map 0: its 14×14 receptive field lights up in the input
    conv2 = browser.find_element(By.CSS_SELECTOR, '[data-layer="features.conv2"] .maps canvas')
    ActionChains(browser).move_to_element_with_offset(conv2, 5, 5).perform()
    wait(browser, lambda d: "14×14 receptive field" in d.find_element(By.ID, "hover-info").text)
    assert overlay_is_lit(browser)
    browser.save_screenshot(str(artifacts / "show.png"))

    # picking a test image from the strip
    browser.find_elements(By.CSS_SELECTOR, "#strip .thumb")[3].click()
    wait(browser, lambda d: "test image #" in d.find_element(By.ID, "prediction").text)


def test_live_page_curve_grows_and_stop_saves(browser, tmp_path, artifacts):
    live = LiveTraining(snapshot_seconds=0.2, epochs=30, title={"model": "lenet5",
                                                                "dataset": "digits"})
    server, thread = start_server(ShowApp(live=live))

    class Pace:  # a digits epoch takes 0.3 s here: slow it down so that the page can watch
        def on_batch_end(self, model, loss):
            time.sleep(0.02)

    history: dict = {}
    config = TrainConfig(epochs=30, out=str(tmp_path), progress=False)
    trainer = threading.Thread(target=lambda: history.update(
        fit(config, log=lambda line: None, callbacks=[live, Pace()])))
    try:
        trainer.start()
        browser.get(server.url)
        curves = browser.find_element(By.ID, "curves")
        wait(browser, lambda d: int(curves.get_attribute("data-points") or 0) > 0,
             message="the live page never drew the loss curve")
        points = int(curves.get_attribute("data-points"))
        wait(browser, lambda d: int(curves.get_attribute("data-points")) > points + 5,
             message="the loss curve did not grow")
        wait(browser, lambda d: int(curves.get_attribute("data-epochs") or 0) >= 1, 30)
        assert browser.find_element(By.ID, "live").is_displayed()
        assert "training" in browser.find_element(By.ID, "live-status").text
        assert rendered_layers(browser)[0] == "input"  # the snapshot's test image, every layer
        assert len(rendered_layers(browser)) == 13
        browser.save_screenshot(str(artifacts / "live.png"))
        browser.find_element(By.ID, "stop").click()
        trainer.join(timeout=60)
        assert not trainer.is_alive() and len(history["train_loss"]) < 30
        assert (tmp_path / "checkpoint.npz").exists()
        wait(browser, lambda d: "stopped" in d.find_element(By.ID, "live-status").text)
    finally:
        live.request_stop()
        trainer.join(timeout=60)
        server.shutdown()
        server.server_close()


def test_exported_page_renders_offline(browser, network, tmp_path, artifacts):
    path = export_html(network, tmp_path / "page.html", test_index=4)
    browser.set_network_conditions(offline=True, latency=0, download_throughput=0,
                                   upload_throughput=0)
    try:
        browser.get(path.as_uri())
        wait(browser, lambda d: d.execute_script("return document.body.dataset.ready === '1'"),
             message="the exported page did not render")
        layers = [layer["name"] for layer in network.describe()["layers"]]
        assert rendered_layers(browser) == ["input", *layers, "softmax"]
        text = browser.find_element(By.ID, "prediction").text
        assert "Prediction:" in text and "test image #4" in text
        failed = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert failed == []  # nothing was fetched: everything is inline
        browser.save_screenshot(str(artifacts / "export.png"))
    finally:
        browser.delete_network_conditions()
