// digitnet drawing page: pick a model, draw on a canvas with Pointer Events, upload it as a PNG
// to /predict/<model>, show the label, a bar per class and the image the model saw (28x28 for
// MNIST models, 8x8 for the digits model: whatever the model's bundle says). No framework, no build.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const result = $("result");
  const digitEl = $("digit");
  const confidenceEl = $("confidence");
  const errorEl = $("error");
  const barsEl = $("bars");
  const seen = $("seen");
  const seenCtx = seen.getContext("2d");
  const autoBox = $("auto");
  const fileInput = $("file");
  const dropZone = $("drop-zone");
  const dropHint = $("drop-hint");
  const modelSelect = $("model");

  // Relative URLs: the page works wherever the service is mounted.
  const predictUrl = (model) => `predict/${encodeURIComponent(model)}?return_input=1`;
  // A thick round brush, about a tenth of the pad: shrunk to MNIST's 20 px box it gives MNIST's
  // 2-3 px strokes.
  const BRUSH = Math.round(pad.width / 11);
  const INK = "#000";
  const PAPER = "#fff";

  let hasInk = false;
  let stroke = null;            // {id, x, y} of the pointer drawing now, or null
  let seq = 0;                  // number of the latest prediction request
  let inFlight = null;          // AbortController of the request in flight
  let uploadedFile = null;      // a picked/dropped file stays the thing predicted until drawn over
  let models = {};              // name -> the model's entry in GET /models
  let model = null;             // the entry of the model picked

  // ---- the pad ---------------------------------------------------------------------------

  function clearPad() {
    ctx.fillStyle = PAPER;      // opaque white, so the PNG has no transparency to guess about
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineWidth = BRUSH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    hasInk = false;
    uploadedFile = null;
  }

  // Page (CSS) pixels to canvas pixels: the canvas is scaled by CSS to fit the viewport.
  function toCanvas(event) {
    const rect = pad.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left) * (pad.width / rect.width),
      y: (event.clientY - rect.top) * (pad.height / rect.height),
    };
  }

  function dot(p) {
    ctx.beginPath();
    ctx.arc(p.x, p.y, BRUSH / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function segment(from, to) {
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  }

  pad.addEventListener("pointerdown", (event) => {
    // One stroke at a time (a palm or second finger is ignored); mouse: main button only.
    if (stroke || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);   // keep the stroke when the pen leaves the pad
    uploadedFile = null;                      // drawing over a picked image: predict the drawing
    const p = toCanvas(event);
    stroke = { id: event.pointerId, ...p };
    dot(p);
    hasInk = true;
  });

  pad.addEventListener("pointermove", (event) => {
    if (!stroke || event.pointerId !== stroke.id) return;
    // Coalesced events hold the points the browser merged between frames: smoother fast strokes.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const p = toCanvas(e);
      segment(stroke, p);
      stroke.x = p.x;
      stroke.y = p.y;
    }
  });

  function endStroke(event) {
    if (!stroke || event.pointerId !== stroke.id) return;
    stroke = null;
    if (event.type === "pointerup" && autoBox.checked) predict();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("contextmenu", (event) => event.preventDefault()); // long-press on touch

  // ---- images from files -----------------------------------------------------------------

  async function showFile(file) {
    // Draw the image on the pad, fitted and centred, so the user sees what is being read.
    clearPad();
    try {
      const bitmap = await createImageBitmap(file);
      const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
      const w = bitmap.width * scale;
      const h = bitmap.height * scale;
      ctx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
      bitmap.close();
    } catch {
      // The browser cannot show it (e.g. an unusual format): the server may still read it.
    }
    hasInk = true;
    uploadedFile = file;
  }

  async function useFile(file) {
    if (!file) return;
    await showFile(file);
    predict();
  }

  fileInput.addEventListener("change", () => {
    useFile(fileInput.files[0]);
    fileInput.value = "";   // picking the same file again fires change again
  });

  let dragDepth = 0;        // dragenter/leave fire for children too: count to know when it left
  function setDragging(on) {
    dropZone.classList.toggle("dragging", on);
    dropHint.hidden = !on;
  }
  dropZone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    dragDepth += 1;
    setDragging(true);
  });
  dropZone.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) setDragging(false);
  });
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dragDepth = 0;
    setDragging(false);
    useFile(event.dataTransfer.files[0]);
  });
  // A file dropped just beside the pad must not make the browser navigate away to it.
  for (const type of ["dragover", "drop"]) {
    document.addEventListener(type, (event) => event.preventDefault());
  }

  // ---- prediction ------------------------------------------------------------------------

  function padPng() {
    return new Promise((resolve, reject) => {
      pad.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("could not encode the drawing"))),
        "image/png");
    });
  }

  // The button stays enabled while busy: disabling it would throw keyboard focus to the page,
  // and a second press simply replaces the request in flight.
  function setState(state) {
    result.dataset.state = state;   // also read by the browser test
    result.setAttribute("aria-busy", String(state === "busy"));
  }

  async function predict() {
    errorEl.textContent = "";
    if (!hasInk) {
      showError("Draw a digit first (or pick an image file).");
      return;
    }
    if (!model) {
      showError("No model to ask: the service has none loaded.");
      return;
    }
    if (inFlight) inFlight.abort();   // only the newest drawing matters
    const controller = new AbortController();
    inFlight = controller;
    const mine = ++seq;
    result.dataset.seq = String(mine);
    setState("busy");
    try {
      const body = new FormData();
      const image = uploadedFile || await padPng();
      body.append("file", image, uploadedFile ? uploadedFile.name : "drawing.png");
      const response = await fetch(predictUrl(model.model_name),
        { method: "POST", body, signal: controller.signal });
      const data = await response.json().catch(() => null);
      if (mine !== seq) return;
      if (!response.ok) {
        const why = data && data.error ? data.error : `${response.status} ${response.statusText}`;
        throw new Error(why);
      }
      render(data);
      result.dataset.shownSeq = String(mine);
      setState("done");
    } catch (error) {
      if (error.name === "AbortError" || mine !== seq) return;
      showError(`Could not read the digit: ${error.message}`);
      result.dataset.shownSeq = String(mine);
    } finally {
      if (inFlight === controller) inFlight = null;
    }
  }

  function showError(message) {
    errorEl.textContent = message;
    setState("error");
  }

  // ---- the answer ------------------------------------------------------------------------

  // One bar per class of the model, in the order of its outputs.
  let barRows = [];
  function buildBars(classes) {
    barsEl.replaceChildren();
    barRows = classes.map((label) => {
      const li = document.createElement("li");
      li.dataset.digit = String(label);
      li.innerHTML =
        '<span class="d"></span>' +
        '<span class="track" aria-hidden="true"><span class="fill"></span></span>' +
        '<span class="pct">–</span>';
      li.querySelector(".d").textContent = String(label);
      barsEl.append(li);
      return { li, label, fill: li.querySelector(".fill"), pct: li.querySelector(".pct") };
    });
  }

  // One decimal, so 99.8% is not shown as a certain 100%; "100%" and "0%" only when they are.
  function percent(p) {
    return `${(100 * p).toFixed(1).replace(/\.0$/, "")}%`;
  }

  function render(data) {
    const prediction = data.predictions[0];
    const probabilities = prediction.probabilities;
    const label = prediction.label;
    const best = prediction.confidence ?? Math.max(...probabilities);
    // Below the model's threshold (answers above it were 99.5% right on held-out data) the
    // answer is a guess: say so, and invite a clearer drawing.
    // An image of several digits is never sure: the service says so and how many it found.
    const threshold = data.confidence_threshold;
    // A model taught to refuse what is not a digit says so; older servers send no `digit`.
    const notDigit = prediction.digit === false;
    const unsure = notDigit || prediction.sure === false || (threshold != null && best < threshold);

    digitEl.textContent = notDigit ? "?" : String(label);
    confidenceEl.textContent = notDigit
      ? "That does not look like a digit."
      : prediction.digits_found
        ? `Not sure: ${prediction.digits_found} digits found. Read them as a number below.`
        : unsure
          ? `Not sure: ${percent(best)}. Try writing it again, larger or clearer.`
          : `${percent(best)} sure`;
    result.dataset.unsure = String(unsure);
    result.dataset.digit = String(!notDigit);
    barRows.forEach((row, i) => {
      const p = probabilities[i] ?? 0;
      row.fill.style.width = `${(100 * p).toFixed(2)}%`;
      row.pct.textContent = percent(p);
      row.li.classList.toggle("top", row.label === label);
      row.li.dataset.probability = String(p);
    });

    const input = prediction.input;
    if (input) drawSeen(input);
    showModel(data.model_name, data.model_version);
  }

  // The model's input, rows of values in its range (ink high), drawn pixel for pixel as grey
  // levels: 28x28 of 0-255 for MNIST models, 8x8 of 0-16 for the digits model.
  function drawSeen(rows) {
    const height = rows.length;
    const width = rows[0].length;
    const [low, high] = model.input.range;
    const image = seenCtx.createImageData(width, height);
    rows.flat().forEach((v, i) => {
      const g = Math.max(0, Math.min(255, Math.round((255 * (v - low)) / (high - low))));
      image.data.set([g, g, g, 255], 4 * i);
    });
    sizeSeen(width, height);
    seenCtx.putImageData(image, 0, 0);
    seen.setAttribute("aria-label",
      `The ${width} by ${height} pixel image the network was given: your digit, centred, light on black`);
  }

  function sizeSeen(width, height) {
    if (seen.width !== width || seen.height !== height) { seen.width = width; seen.height = height; }
    $("seen-size").textContent = `${width}×${height}`;
  }

  function resetAnswer() {
    if (inFlight) inFlight.abort();
    seq += 1;                       // an answer still on its way is now stale
    result.dataset.seq = String(seq);
    digitEl.textContent = "?";
    confidenceEl.textContent = "Draw a digit to start.";
    delete result.dataset.unsure;
    delete result.dataset.digit;
    errorEl.textContent = "";
    barRows.forEach((row) => {
      row.fill.style.width = "0";
      row.pct.textContent = "–";
      row.li.classList.remove("top");
      delete row.li.dataset.probability;
    });
    seenCtx.clearRect(0, 0, seen.width, seen.height);
    seen.setAttribute("aria-label",
      `The ${seen.width} by ${seen.height} pixel image the network was given: none yet`);
    setState("idle");
  }

  // ---- the model's name and version ------------------------------------------------------

  let shownModel = "";
  // Called with every answer: a new version deployed while the page is open shows at once.
  function showModel(name, version) {
    if (name === undefined || `${name} ${version}` === shownModel) return;
    shownModel = `${name} ${version}`;
    $("model-name").textContent = `${name}, version ${version}`;
  }

  // On load, from GET /models: {"default_model", "models": [{"model_name", "default_version",
  // "input": {"image_shape", "range", ...}, "classes", "versions": [{version, metrics}]}]}.
  async function loadModels() {
    try {
      const response = await fetch("models");
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      // Models that read images (a bundle may name no image recipe) and have a version loaded.
      const usable = data.models.filter((m) => m.default_version != null && m.input.preprocessing);
      models = Object.fromEntries(usable.map((m) => [m.model_name, m]));
      modelSelect.replaceChildren(...usable.map((m) => new Option(m.model_name, m.model_name)));
      if (!usable.length) {
        $("model-name").textContent = `${data.default_model}, no version loaded yet`;
        return;
      }
      pickModel(models[data.default_model] ? data.default_model : usable[0].model_name);
    } catch {
      $("model-name").textContent = "not reachable";
    }
  }

  // The bars, the preview's size and the model line follow the model picked.
  function pickModel(name) {
    model = models[name];
    modelSelect.value = name;
    resetAnswer();
    buildBars(model.classes);
    const [height, width] = model.input.image_shape;
    sizeSeen(width, height);
    $("model-input").textContent = `reads ${width}×${height} images`;
    shownModel = "";
    showModel(model.model_name, model.default_version);
    const current = model.versions.find((v) => v.version === model.default_version);
    const accuracy = current && current.metrics ? current.metrics.test_accuracy : undefined;
    if (typeof accuracy === "number") {
      $("model-name").textContent += ` (test accuracy ${(100 * accuracy).toFixed(1)}%)`;
    }
  }

  // ---- wiring ----------------------------------------------------------------------------

  $("predict").addEventListener("click", predict);
  $("clear").addEventListener("click", () => {
    clearPad();
    resetAnswer();
  });
  modelSelect.addEventListener("change", () => {
    pickModel(modelSelect.value);
    if (hasInk) predict();      // the same drawing, read by the other model
  });

  clearPad();
  loadModels();
})();
