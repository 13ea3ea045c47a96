// digitnet drawing page: draw on a canvas with Pointer Events, upload it as a PNG to /predict,
// show the label, a bar per digit and the 28x28 image the model saw. No framework, no build.
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

  // Relative URLs: the page works wherever the service is mounted.
  const PREDICT_URL = "predict?return_input=1";
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
      const response = await fetch(PREDICT_URL, { method: "POST", body, signal: controller.signal });
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

  const barRows = [];
  function buildBars() {
    for (let d = 0; d < 10; d++) {
      const li = document.createElement("li");
      li.dataset.digit = String(d);
      li.innerHTML =
        `<span class="d">${d}</span>` +
        '<span class="track" aria-hidden="true"><span class="fill"></span></span>' +
        '<span class="pct">–</span>';
      barsEl.append(li);
      barRows.push({ li, fill: li.querySelector(".fill"), pct: li.querySelector(".pct") });
    }
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
    const threshold = data.confidence_threshold;
    const unsure = threshold != null && best < threshold;

    digitEl.textContent = String(label);
    confidenceEl.textContent = unsure
      ? `Not sure: ${percent(best)}. Try writing it again, larger or clearer.`
      : `${percent(best)} sure`;
    result.dataset.unsure = String(unsure);
    barRows.forEach((row, d) => {
      const p = probabilities[d] ?? 0;
      row.fill.style.width = `${(100 * p).toFixed(2)}%`;
      row.pct.textContent = percent(p);
      row.li.classList.toggle("top", d === Number(label));
      row.li.dataset.probability = String(p);
    });

    const input = prediction.input;
    if (input) drawSeen(input);
    showModel(data.model_name, data.model_version);
  }

  // The model's input, 28 rows of 28 grey levels (ink high), drawn pixel for pixel.
  function drawSeen(rows) {
    const size = rows.length;
    const flat = rows.flat();
    // Accept 0-1 floats as well as 0-255 levels.
    const scale = Math.max(...flat) <= 1 ? 255 : 1;
    const image = seenCtx.createImageData(size, size);
    flat.forEach((v, i) => {
      const g = Math.max(0, Math.min(255, Math.round(v * scale)));
      image.data.set([g, g, g, 255], 4 * i);
    });
    if (seen.width !== size) { seen.width = size; seen.height = size; }
    seenCtx.putImageData(image, 0, 0);
    seen.setAttribute("aria-label",
      `The ${size} by ${size} pixel image the network was given: your digit, centred, light on black`);
  }

  function resetAnswer() {
    if (inFlight) inFlight.abort();
    seq += 1;                       // an answer still on its way is now stale
    result.dataset.seq = String(seq);
    digitEl.textContent = "?";
    confidenceEl.textContent = "Draw a digit to start.";
    delete result.dataset.unsure;
    errorEl.textContent = "";
    barRows.forEach((row) => {
      row.fill.style.width = "0";
      row.pct.textContent = "–";
      row.li.classList.remove("top");
      delete row.li.dataset.probability;
    });
    seenCtx.clearRect(0, 0, seen.width, seen.height);
    seen.setAttribute("aria-label", "The 28 by 28 pixel image the network was given: none yet");
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

  // On load, from GET /models: {"model_name", "default_version", "versions": [{version, metrics}]}.
  async function loadModelInfo() {
    try {
      const response = await fetch("models");
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      if (data.default_version == null) {
        $("model-name").textContent = `${data.model_name}, no version loaded yet`;
        return;
      }
      showModel(data.model_name, data.default_version);
      const current = (data.versions || []).find((v) => v.version === data.default_version);
      const accuracy = current && current.metrics ? current.metrics.test_accuracy : undefined;
      if (typeof accuracy === "number") {
        $("model-name").textContent += ` (test accuracy ${(100 * accuracy).toFixed(1)}%)`;
      }
    } catch {
      $("model-name").textContent = "not reachable";
    }
  }

  // ---- wiring ----------------------------------------------------------------------------

  $("predict").addEventListener("click", predict);
  $("clear").addEventListener("click", () => {
    clearPad();
    resetAnswer();
  });

  buildBars();
  clearPad();
  loadModelInfo();
})();
