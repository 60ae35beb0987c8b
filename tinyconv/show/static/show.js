// tinyconv show: draw a digit, see every layer of the network respond.
//
// Served by `tinyconv show` / `tinyconv train --live`, the page asks the local server for its
// data (/api/model, /api/predict, /api/live). Exported by `tinyconv show --export`, it finds the
// same data in window.TINYCONV_DATA and needs no server. No library, no network.
//
// Arrays arrive as {shape, data}: base64 of little-endian float32 values (see network.py).
"use strict";

(() => {
  const EXPORTED = window.TINYCONV_DATA || null;
  const $ = (id) => document.getElementById(id);
  const state = {
    model: null,        // /api/model: layers, filters, strip, ...
    result: null,       // /api/predict: every layer's output for the current image
    live: false,        // a training run is being served
    follow: true,       // live: show the snapshot's test image (false once the learner draws)
    liveVersion: 0,     // the last state and snapshot seen (the server omits them if unchanged)
    snapshotId: 0,
    inFlight: false,    // one prediction request at a time ...
    again: false,       // ... and one more if the drawing changed meanwhile
    inputView: null,    // the input column's canvas and overlay, for receptive fields
  };

  // -- small helpers ----------------------------------------------------------------------

  function decode(array) {
    const text = atob(array.data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return { shape: array.shape, values: new Float32Array(bytes.buffer) };
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function si(n) {
    for (const [unit, scale] of [["G", 1e9], ["M", 1e6], ["K", 1e3]]) {
      if (Math.abs(n) >= scale) return (n / scale).toFixed(1) + unit;
    }
    return String(n);
  }

  function kb(n) {
    return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : (n / 1024).toFixed(1) + " KB";
  }

  function showError(message) {
    $("error").textContent = message || "";
    $("error").hidden = !message;
  }

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    const response = await fetch(path, options);
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(payload.error || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return payload;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // -- colours: viridis for activations >= 0, blue-white-red around zero otherwise ------------

  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

  function viridis(t) {
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(t));
    const f = t - i;
    return VIRIDIS[i].map((c, k) => c + f * (VIRIDIS[i + 1][k] - c));
  }

  function diverging(t) {  // t in [-1, 1]
    t = Math.min(1, Math.max(-1, t));
    const far = t < 0 ? [49, 99, 186] : [196, 33, 44];
    const a = Math.abs(t);
    return far.map((c) => 255 + a * (c - 255));
  }

  // one colour scale per column, so that its maps can be compared with each other
  function colourScale(values) {
    let low = Infinity, high = -Infinity;
    for (const v of values) { if (v < low) low = v; if (v > high) high = v; }
    if (low < 0) {
      const m = Math.max(-low, high) || 1;
      return (v) => diverging(v / m);
    }
    return (v) => viridis(high > 0 ? v / high : 0);
  }

  const grey = (v) => [255 * v, 255 * v, 255 * v];

  function paint(canvas, values, offset, height, width, colour, scale) {
    canvas.width = width;
    canvas.height = height;
    canvas.style.width = `${width * scale}px`;
    canvas.style.height = `${height * scale}px`;
    const context = canvas.getContext("2d");
    const image = context.createImageData(width, height);
    for (let i = 0; i < height * width; i++) {
      const c = colour(values[offset + i]);
      image.data[4 * i] = c[0];
      image.data[4 * i + 1] = c[1];
      image.data[4 * i + 2] = c[2];
      image.data[4 * i + 3] = 255;
    }
    context.putImageData(image, 0, 0);
  }

  // Screen pixels per value: a map is drawn twice its size, at least 40 pixels (to hover over)
  // and at most 64, so that pooling visibly shrinks the maps without hiding the small ones.
  const mapScale = (h, w) => {
    const side = Math.max(h, w);
    return Math.max(1, Math.min(16, Math.round(Math.min(64, Math.max(40, 2 * side)) / side)));
  };

  // -- the header, the strip, the filters ----------------------------------------------------

  function renderTitle(model) {
    const t = model.title || {};
    const parts = [];
    if (t.model) parts.push(`${t.model} on ${t.dataset}`);
    if (t.epochs !== undefined && t.epochs !== null) {
      parts.push(`${t.epochs} epoch${t.epochs === 1 ? "" : "s"}`);
    }
    if (t.test_accuracy !== undefined && t.test_accuracy !== null) {
      parts.push(`test accuracy ${(100 * t.test_accuracy).toFixed(1)} %`);
    }
    parts.push(`${model.totals.params.toLocaleString()} parameters`);
    parts.push(`${si(model.totals.macs)} MACs per image`);
    if (t.checkpoint) parts.push(t.checkpoint);
    $("title").textContent = parts.join(" · ");
  }

  function renderStrip(model) {
    const strip = $("strip");
    strip.replaceChildren();
    for (const item of model.strip) {
      const image = decode(item.image);
      const [, h, w] = image.shape;
      const box = element("div", "thumb");
      box.dataset.index = item.index;
      box.title = `test image #${item.index}, label ${model.classes[item.label]}`;
      const canvas = element("canvas");
      paint(canvas, image.values, 0, h, w, grey, 1);
      canvas.style.width = canvas.style.height = "";
      box.append(canvas, element("span", "", model.classes[item.label]));
      box.addEventListener("click", () => pickTestImage(item.index));
      strip.append(box);
    }
  }

  function markStrip(testIndex) {
    for (const box of $("strip").children) {
      box.classList.toggle("selected", Number(box.dataset.index) === testIndex);
    }
  }

  function renderFilters(filters, replaceFirstOnly) {
    const container = $("filters");
    if (!replaceFirstOnly) container.replaceChildren();
    filters.forEach((layer, n) => {
      const weights = decode(layer.weights);
      const [outs, ins, kh, kw] = weights.shape;
      const box = element("div", "filter-layer");
      box.dataset.layer = layer.name;
      const [allOut, allIn] = layer.shape;
      let heading = `${layer.name}: ${allOut} filters of ${allIn}×${kh}×${kw}`;
      if (outs < allOut || ins < allIn) heading += ` (showing ${outs} × ${ins} input channels)`;
      box.append(element("h4", "", heading));
      const grid = element("div", "filter-grid");
      let m = 0;  // one symmetric scale per layer: white is a zero weight
      for (const v of weights.values) m = Math.max(m, Math.abs(v));
      const scaleColour = (v) => diverging(m > 0 ? v / m : 0);
      const scale = Math.max(2, Math.floor(36 / Math.max(kh, kw)));
      for (let o = 0; o < outs; o++) {
        const filter = element("div", "filter");
        filter.title = `filter ${o}`;
        for (let c = 0; c < ins; c++) {
          const canvas = element("canvas");
          paint(canvas, weights.values, (o * ins + c) * kh * kw, kh, kw, scaleColour, scale);
          filter.append(canvas);
        }
        grid.append(filter);
      }
      box.append(grid);
      if (replaceFirstOnly && n === 0) {
        const old = container.querySelector(".filter-layer");
        if (old) old.replaceWith(box); else container.prepend(box);
      } else {
        container.append(box);
      }
    });
    if (!filters.length && !replaceFirstOnly) {
      container.append(element("p", "note", "This model has no 2-D convolution to draw."));
    }
  }

  // -- the columns -------------------------------------------------------------------------

  function column(title, meta) {
    const box = element("div", "column");
    const heading = element("h4");
    title.split(".").forEach((part, k) => {  // narrow columns break dotted names at the dots
      if (k > 0) heading.append(".", element("wbr"));
      heading.append(part);
    });
    box.append(heading);
    if (meta) box.append(element("div", "meta", meta));
    return box;
  }

  function layerMeta(info) {
    const shape = info.output_shape;
    const text = Array.isArray(shape[0]) ? shape.map((s) => s.slice(1).join("×")).join(", ")
      : shape.slice(1).join("×");
    return `${info.type} · ${text} · ${info.params.toLocaleString()} params · ` +
      `${si(info.macs)} MACs · ${kb(info.activation_bytes)}`;
  }

  function renderColumns(model, result) {
    const columns = $("columns");
    columns.replaceChildren();
    // the input, larger, with an overlay for receptive fields
    const input = decode(result.input);
    const [, H, W] = input.shape;
    const inputBox = column("input", `${input.shape.join("×")} · what the network sees`);
    const view = element("div", "input-view");
    const canvas = element("canvas");
    const scale = Math.max(1, Math.floor(128 / Math.max(H, W)));
    paint(canvas, input.values, 0, H, W, grey, scale);
    const overlay = element("canvas", "overlay");
    overlay.width = W * scale;
    overlay.height = H * scale;
    view.append(canvas, overlay);
    inputBox.append(view);
    inputBox.dataset.layer = "input";
    inputBox.classList.add("rendered");
    columns.append(inputBox);
    state.inputView = { overlay, scale, H, W };

    if (result.layers.length !== model.layers.length) {
      showError("the server sent outputs for a different set of layers; reload the page");
      return;
    }
    result.layers.forEach((layer, index) => {
      const info = model.layers[index];
      const box = column(info.name, layerMeta(info));
      box.dataset.layer = info.name;
      if (layer.note || !layer.output) {
        box.append(element("div", "note", layer.note || "not drawn"));
      } else if (layer.output.shape.length === 3) {
        renderMaps(box, info, decode(layer.output));
      } else {
        renderVector(box, info, decode(layer.output));
      }
      box.classList.add("rendered");
      columns.append(box);
    });
    if (result.probabilities) {
      const box = column("softmax", "probability of each class");
      box.dataset.layer = "softmax";
      const bars = element("div", "bars");
      result.probabilities.forEach((p, k) => {
        const label = element("span", k === result.predicted ? "top" : "", model.classes[k]);
        const barBox = element("div", "bar-box");
        const bar = element("div", "bar");
        bar.style.width = `${Math.max(1, 110 * p)}px`;
        barBox.append(bar);
        bars.append(label, barBox, element("span", "", `${(100 * p).toFixed(1)} %`));
      });
      box.append(bars);
      box.classList.add("rendered");
      columns.append(box);
    } else if (result.note) {
      const box = column("output", "");
      box.append(element("div", "note", result.note));
      columns.append(box);
    }
  }

  function renderMaps(box, info, maps) {
    const [count, h, w] = maps.shape;
    const total = info.output_shape[1];
    const colour = colourScale(maps.values);
    const grid = element("div", "maps");
    const perRow = count > 12 ? 4 : count > 4 ? 2 : 1;
    grid.style.gridTemplateColumns = `repeat(${perRow}, auto)`;
    const scale = mapScale(h, w);
    for (let c = 0; c < count; c++) {
      const canvas = element("canvas");
      paint(canvas, maps.values, c * h * w, h, w, colour, scale);
      canvas.addEventListener("mousemove", (event) => {
        const i = Math.min(h - 1, Math.floor(event.offsetY / scale));
        const j = Math.min(w - 1, Math.floor(event.offsetX / scale));
        showReceptiveField(info, c, i, j, maps.values[c * h * w + i * w + j]);
      });
      canvas.addEventListener("mouseleave", clearReceptiveField);
      grid.append(canvas);
    }
    box.append(grid);
    if (count < total) box.append(element("div", "meta", `first ${count} of ${total} maps`));
  }

  function renderVector(box, info, vector) {
    const [count] = vector.shape;
    const perRow = 10;
    const rows = Math.ceil(count / perRow);
    const padded = new Float32Array(rows * perRow);
    padded.set(vector.values);
    const colour = colourScale(vector.values);
    const holder = element("div", "vector");
    const canvas = element("canvas");
    paint(canvas, padded, 0, rows, perRow, (v) => colour(v), 9);
    canvas.addEventListener("mousemove", (event) => {
      const k = Math.floor(event.offsetY / 9) * perRow + Math.floor(event.offsetX / 9);
      if (k < count) showFullField(info, k, vector.values[k]);
    });
    canvas.addEventListener("mouseleave", clearReceptiveField);
    holder.append(canvas);
    box.append(holder);
    const total = info.output_shape[info.output_shape.length - 1];
    box.append(element("div", "meta", count < total ? `first ${count} of ${total} values`
      : `${count} values, 10 per row`));
  }

  // -- receptive fields --------------------------------------------------------------------

  function highlight(y0, x0, y1, x1) {
    const { overlay, scale } = state.inputView;
    const context = overlay.getContext("2d");
    context.clearRect(0, 0, overlay.width, overlay.height);
    context.fillStyle = "rgba(255, 140, 0, 0.28)";
    context.strokeStyle = "#ff8c00";
    context.lineWidth = 2;
    const rect = [x0 * scale, y0 * scale, (x1 - x0 + 1) * scale, (y1 - y0 + 1) * scale];
    context.fillRect(...rect);
    context.strokeRect(...rect);
  }

  function showReceptiveField(info, channel, i, j, value) {
    const where = `${info.name}, map ${channel}, pixel (${i}, ${j}) = ${value.toFixed(3)}`;
    const field = info.receptive_field;
    if (!field || !state.inputView) {
      $("hover-info").textContent = `${where}. Its receptive field is not known: this layer ` +
        "is not a convolution, a pooling or an elementwise layer after them.";
      return;
    }
    const { H, W } = state.inputView;
    const y0 = field.start[0] + i * field.jump[0], x0 = field.start[1] + j * field.jump[1];
    const y1 = y0 + field.size[0] - 1, x1 = x0 + field.size[1] - 1;
    const clip = (v, n) => Math.min(n - 1, Math.max(0, v));
    highlight(clip(y0, H), clip(x0, W), clip(y1, H), clip(x1, W));
    const padding = y0 < 0 || x0 < 0 || y1 >= H || x1 >= W ? " (partly over the padding)" : "";
    $("hover-info").textContent = `${where} sees input rows ${clip(y0, H)}–${clip(y1, H)}, ` +
      `columns ${clip(x0, W)}–${clip(x1, W)}: a ${field.size[0]}×${field.size[1]} receptive ` +
      `field${padding}; neighbouring pixels of this map are ${field.jump[0]} input pixels apart.`;
    state.hovered = info.name;
  }

  function showFullField(info, unit, value) {
    if (!state.inputView) return;
    const { H, W } = state.inputView;
    highlight(0, 0, H - 1, W - 1);
    $("hover-info").textContent = `${info.name}, value ${unit} = ${value.toFixed(3)}: a fully ` +
      "connected value depends on every input pixel.";
  }

  function clearReceptiveField() {
    if (!state.inputView) return;
    const { overlay } = state.inputView;
    overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  }

  // -- prediction ----------------------------------------------------------------------------

  function showResult(result) {
    state.result = result;
    renderColumns(state.model, result);
    const box = $("prediction");
    box.replaceChildren();
    if (result.predicted !== undefined) {
      const p = result.probabilities[result.predicted];
      box.append("Prediction:", element("span", "class", state.model.classes[result.predicted]),
        `${(100 * p).toFixed(1)} %`);
      box.dataset.predicted = String(result.predicted);
      if (result.label !== undefined) {
        box.append(element("div", "meta",
          `test image #${result.test_index}, labelled ${state.model.classes[result.label]}`));
      }
    } else {
      box.append(element("div", "note", result.note || "no prediction"));
    }
    markStrip(result.test_index);
    document.body.dataset.ready = "1";
  }

  async function predict(body) {
    if (EXPORTED) return;
    try {
      showResult(await api("/api/predict", body));
      showError("");
    } catch (error) {
      showError(`predict: ${error.message}`);
    }
  }

  async function pickTestImage(index) {
    if (EXPORTED) {
      $("draw-note").textContent = "This exported page holds one image; run tinyconv show to " +
        "pick others.";
      return;
    }
    clearPad();
    state.follow = true;
    $("follow").hidden = true;
    await predict({ test_index: index });
  }

  // -- the drawing pad -----------------------------------------------------------------------

  const pad = $("pad");
  const padContext = pad.getContext("2d");

  function clearPad() {
    padContext.fillStyle = "#000";
    padContext.fillRect(0, 0, pad.width, pad.height);
  }

  // The drawing as the network wants it: the box around the ink scaled so that its longer side
  // spans what the test images' digits span (model.ink_fraction), centred, averaged down to
  // H×W, brightest pixel 1.
  function drawingPixels() {
    const [, H, W] = state.model.image_shape;
    const ink = padContext.getImageData(0, 0, pad.width, pad.height).data;
    let top = pad.height, left = pad.width, bottom = -1, right = -1;
    for (let y = 0; y < pad.height; y++) {
      for (let x = 0; x < pad.width; x++) {
        if (ink[4 * (y * pad.width + x)] > 20) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    const small = element("canvas");
    small.width = W;
    small.height = H;
    const context = small.getContext("2d");
    context.fillStyle = "#000";
    context.fillRect(0, 0, W, H);
    if (bottom >= 0) {
      const boxW = right - left + 1, boxH = bottom - top + 1;
      const scale = (state.model.ink_fraction * Math.max(H, W)) / Math.max(boxW, boxH);
      context.imageSmoothingEnabled = true;
      context.imageSmoothingQuality = "high";
      context.drawImage(pad, left, top, boxW, boxH, (W - boxW * scale) / 2,
        (H - boxH * scale) / 2, boxW * scale, boxH * scale);
    }
    const data = context.getImageData(0, 0, W, H).data;
    let brightest = 0;
    for (let i = 0; i < H * W; i++) brightest = Math.max(brightest, data[4 * i]);
    const rows = [];
    for (let y = 0; y < H; y++) {
      const row = [];
      for (let x = 0; x < W; x++) {
        // 3 decimals: finer than the canvas's 8 bits, and a 224×224 drawing stays ~300 KB
        row.push(brightest > 0 ? Math.round(1000 * data[4 * (y * W + x)] / brightest) / 1000 : 0);
      }
      rows.push(row);
    }
    return rows;
  }

  async function predictDrawing() {
    if (state.inFlight) { state.again = true; return; }
    state.inFlight = true;
    document.body.dataset.drawing = "pending";  // for tests: wait for "done"
    try {
      do {
        state.again = false;
        await predict({ pixels: drawingPixels() });
      } while (state.again);
    } finally {
      state.inFlight = false;
      document.body.dataset.drawing = "done";
    }
  }

  function setupPad() {
    clearPad();
    let drawing = false, last = null;
    const point = (event) => {
      const rect = pad.getBoundingClientRect();
      return [(event.clientX - rect.left) * pad.width / rect.width,
        (event.clientY - rect.top) * pad.height / rect.height];
    };
    pad.addEventListener("pointerdown", (event) => {
      if (EXPORTED) return;
      drawing = true;
      last = point(event);
      pad.setPointerCapture(event.pointerId);
      padContext.fillStyle = "#fff";
      padContext.beginPath();
      padContext.arc(last[0], last[1], 11, 0, 2 * Math.PI);
      padContext.fill();
      if (state.live) { state.follow = false; $("follow").hidden = false; }
    });
    pad.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      const next = point(event);
      padContext.strokeStyle = "#fff";
      padContext.lineWidth = 22;
      padContext.lineCap = "round";
      padContext.beginPath();
      padContext.moveTo(...last);
      padContext.lineTo(...next);
      padContext.stroke();
      last = next;
      predictDrawing();  // the layers follow the pen (one request at a time)
    });
    const end = () => {
      if (!drawing) return;
      drawing = false;
      predictDrawing();
    };
    pad.addEventListener("pointerup", end);
    pad.addEventListener("pointercancel", end);
    $("clear").addEventListener("click", () => {
      clearPad();
      if (!EXPORTED) predictDrawing();
    });
  }

  // -- live training -------------------------------------------------------------------------

  function drawCurves(live) {
    const canvas = $("curves");
    const context = canvas.getContext("2d");
    const width = canvas.width, height = canvas.height, half = width / 2;
    context.clearRect(0, 0, width, height);
    context.font = "12px system-ui, sans-serif";
    const plot = (x0, title, points, xMax, yMax, colour, xLabel, format) => {
      const left = x0 + 44, right = x0 + half - 12, top = 22, bottom = height - 26;
      context.fillStyle = "#1d2330";
      context.fillText(title, left, 14);
      context.strokeStyle = "#d8dde6";
      context.strokeRect(left, top, right - left, bottom - top);
      context.fillStyle = "#667085";
      context.fillText(format(yMax), x0 + 2, top + 10);
      context.fillText(format(0), x0 + 2, bottom);
      context.fillText(xLabel, right - context.measureText(xLabel).width, height - 8);
      if (!points.length) return;
      context.strokeStyle = colour;
      context.fillStyle = colour;
      context.lineWidth = 1.5;
      context.beginPath();
      points.forEach(([x, y], k) => {
        const px = left + (right - left) * x / xMax;
        const py = bottom - (bottom - top) * Math.min(1, y / yMax);
        if (k === 0) context.moveTo(px, py); else context.lineTo(px, py);
      });
      context.stroke();
      if (points.length < 40) {
        for (const [x, y] of points) {
          const px = left + (right - left) * x / xMax;
          const py = bottom - (bottom - top) * Math.min(1, y / yMax);
          context.fillRect(px - 2, py - 2, 4, 4);
        }
      }
    };
    const losses = live.losses.map((loss, k) => [(k + 1) * live.loss_every, loss]);
    const lossMax = Math.max(0.1, ...live.losses.slice(0, 20), ...live.losses.slice(-50));
    const lastStep = losses.length ? losses[losses.length - 1][0] : 1;
    let average = null;  // an exponential moving average over the noisy per-step losses
    const smooth = losses.map(([x, y]) => [x, average = average === null ? y
      : 0.9 * average + 0.1 * y]);
    plot(0, "training loss (per step)", losses, lastStep, lossMax, "rgba(217, 72, 15, 0.3)",
      `step ${live.step}`, (v) => v.toFixed(2));
    plot(0, "training loss (per step)", smooth, lastStep, lossMax, "#d9480f",
      `step ${live.step}`, (v) => v.toFixed(2));
    const accuracy = [];
    for (const row of live.epochs_done) {
      accuracy.push([row.epoch, 100 * row.test_acc]);
    }
    plot(half, "test accuracy (per epoch, %)", accuracy, Math.max(1, live.epochs || 0,
      live.epoch), 100, "#1c7ed6", `epoch ${live.epoch}` + (live.epochs ? `/${live.epochs}` : ""),
    (v) => v.toFixed(0));
    canvas.dataset.points = String(live.losses.length);
    canvas.dataset.epochs = String(live.epochs_done.length);
  }

  function renderLive(live) {
    $("live").hidden = false;
    drawCurves(live);
    const last = live.epochs_done[live.epochs_done.length - 1];
    const words = { starting: "starting", training: "training", stopping: "stopping after this " +
      "epoch (saving the checkpoint)…", stopped: "stopped: the checkpoint is saved",
    finished: "finished: the checkpoint is saved" };
    let text = `${words[live.status] || live.status} · epoch ${live.epoch}` +
      (live.epochs ? `/${live.epochs}` : "") + ` · step ${live.step}`;
    if (live.losses.length) text += ` · loss ${live.losses[live.losses.length - 1].toFixed(3)}`;
    if (last) text += ` · test accuracy ${(100 * last.test_acc).toFixed(1)} %`;
    $("live-status").textContent = text;
    $("stop").disabled = live.status !== "training";
    if (live.snapshot && !live.snapshot.unchanged && state.model) {
      state.snapshotId = live.snapshot.id;
      renderFilters(live.snapshot.filters, true);
      if (state.follow) showResult(live.snapshot.result);
    }
  }

  async function pollLive() {
    let seen = false;
    for (;;) {
      try {
        const live = await api(`/api/live?since=${state.liveVersion}` +
          `&snapshot=${state.snapshotId}`);
        if (!live.live) return;
        seen = true;
        state.live = true;
        if (!live.unchanged) {
          state.liveVersion = live.version;
          renderLive(live);
          if (live.status === "finished" || live.status === "stopped") {
            $("live-status").textContent += " · the server stops with the training; run " +
              "`tinyconv show` to keep exploring the network.";
            return;
          }
        }
      } catch (error) {
        if (seen) {
          $("live-status").textContent = "the training server has stopped; run `tinyconv show` " +
            "to explore the trained network.";
          $("stop").disabled = true;
          return;
        }
      }
      await sleep(500);
    }
  }

  // -- start -----------------------------------------------------------------------------------

  async function loadModel() {
    for (;;) {
      try {
        return await api("/api/model");
      } catch (error) {
        if (error.status !== 503) throw error;  // 503: a live run is still loading its data
        $("title").textContent = error.message;
        await sleep(500);
      }
    }
  }

  function renderModel(model) {
    state.model = model;
    renderTitle(model);
    const digits = model.classes.every((name) => /^[0-9]$/.test(name));
    $("draw-panel").querySelector("h2").textContent = digits ? "Draw a digit" : "Draw an image";
    renderStrip(model);
    renderFilters(model.filters, false);
    $("skipped").textContent = model.skipped.length ? `Not drawn, since they change no value ` +
      `once trained: ${model.skipped.join(", ")}.` : "";
  }

  async function start() {
    setupPad();
    $("stop").addEventListener("click", async () => {
      $("stop").disabled = true;
      try { await api("/api/stop", {}); } catch (error) { showError(`stop: ${error.message}`); }
    });
    $("follow").addEventListener("click", () => {
      state.follow = true;
      $("follow").hidden = true;
      clearPad();
      if (state.result && state.result.test_index !== undefined) markStrip(state.result.test_index);
      state.liveVersion = state.snapshotId = 0;  // the next poll brings the latest snapshot
    });
    if (EXPORTED) {
      renderModel(EXPORTED.model);
      pad.classList.add("disabled");
      $("clear").hidden = true;
      $("draw-note").textContent = "A static export of one image: run tinyconv show to draw.";
      showResult(EXPORTED.result);
      return;
    }
    pollLive();
    try {
      renderModel(await loadModel());
      if (state.model.strip.length) await predict({ test_index: state.model.strip[0].index });
    } catch (error) {
      showError(`could not load the network: ${error.message}`);
    }
  }

  start();
})();
