// digitnet drawing page, whole numbers: write on a wide canvas (or pick an image), upload it to
// /read/<model>, show the number, its confidence, and each digit's box over the ink with its label
// and confidence. The model is the one picked for the single digit (app.js fills the list).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const pad = $("number-pad");
  const ctx = pad.getContext("2d");
  const boxes = $("number-boxes");
  const boxCtx = boxes.getContext("2d");
  const section = $("number");
  const textEl = $("number-text");
  const confidenceEl = $("number-confidence");
  const digitsEl = $("number-digits");
  const errorEl = $("number-error");
  const fileInput = $("number-file");
  const BRUSH = Math.round(pad.height / 11);  // as the single-digit pad: a tenth of a digit's height
  const percent = (p) => `${(100 * p).toFixed(1)} %`;

  let stroke = null;
  let hasInk = false;
  let seq = 0;
  let shown = null;   // how the uploaded image sits on the pad: {scale, x, y}; null for a drawing

  function clear() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    boxCtx.clearRect(0, 0, boxes.width, boxes.height);
    Object.assign(ctx, {strokeStyle: "#000", fillStyle: "#000", lineWidth: BRUSH,
                        lineCap: "round", lineJoin: "round"});
    hasInk = false;
    shown = null;
  }

  function toCanvas(event) {
    const rect = pad.getBoundingClientRect();
    return {x: (event.clientX - rect.left) * (pad.width / rect.width),
            y: (event.clientY - rect.top) * (pad.height / rect.height)};
  }

  pad.addEventListener("pointerdown", (event) => {
    if (shown) clear();            // drawing over an uploaded image starts afresh
    pad.setPointerCapture(event.pointerId);
    stroke = {id: event.pointerId, ...toCanvas(event)};
    ctx.beginPath();
    ctx.arc(stroke.x, stroke.y, BRUSH / 2, 0, 2 * Math.PI);
    ctx.fill();
    hasInk = true;
    event.preventDefault();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!stroke || event.pointerId !== stroke.id) return;
    const at = toCanvas(event);
    ctx.beginPath();
    ctx.moveTo(stroke.x, stroke.y);
    ctx.lineTo(at.x, at.y);
    ctx.stroke();
    Object.assign(stroke, at);
  });
  const end = (event) => { if (stroke && event.pointerId === stroke.id) stroke = null; };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);

  function model() {
    return $("model").value || null;
  }

  async function read(body, type, place) {
    const mine = ++seq;
    section.dataset.state = "busy";
    errorEl.textContent = "";
    const name = model();
    const url = name ? `read/${encodeURIComponent(name)}` : "read";
    try {
      const response = await fetch(url, {method: "POST", body, headers: {"Content-Type": type}});
      const answer = await response.json();
      if (mine !== seq) return;
      if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
      show(answer, place);
    } catch (error) {
      if (mine !== seq) return;
      section.dataset.state = "error";
      errorEl.textContent = `Could not read it: ${error.message}`;
    } finally {
      if (mine === seq) section.dataset.seq = String(mine);
    }
  }

  function show(answer, place) {
    const reading = answer.readings[0];
    textEl.textContent = reading.text || "?";
    confidenceEl.textContent = reading.sure
      ? `${percent(reading.confidence)} sure (model ${answer.model_name} v${answer.model_version})`
      : `Not sure: ${percent(reading.confidence)}. Try writing it again, larger or clearer.`;
    section.dataset.sure = String(reading.sure);
    digitsEl.replaceChildren(...reading.digits.map((d) => {
      const item = document.createElement("li");
      item.textContent = `${d.label}: ${percent(d.confidence)}`;
      return item;
    }));
    boxCtx.clearRect(0, 0, boxes.width, boxes.height);
    boxCtx.lineWidth = 3;
    boxCtx.font = "bold 22px system-ui, sans-serif";
    for (const d of reading.digits) {
      const x = place.x + d.box.x * place.scale;
      const y = place.y + d.box.y * place.scale;
      boxCtx.strokeStyle = boxCtx.fillStyle = d.confidence >= (answer.confidence_threshold ?? 0)
        ? "#1d4ed8" : "#b91c1c";
      boxCtx.strokeRect(x, y, d.box.width * place.scale, d.box.height * place.scale);
      boxCtx.fillText(`${d.label} ${Math.round(100 * d.confidence)}%`, x, Math.max(20, y - 4));
    }
    section.dataset.state = "done";
  }

  $("read").addEventListener("click", () => {
    if (!hasInk) {
      errorEl.textContent = "Write a number first.";
      return;
    }
    boxCtx.clearRect(0, 0, boxes.width, boxes.height);
    pad.toBlob((blob) => read(blob, "image/png", {scale: 1, x: 0, y: 0}), "image/png");
  });
  $("clear-number").addEventListener("click", () => {
    clear();
    textEl.textContent = "?";
    confidenceEl.textContent = "Write a number to start.";
    digitsEl.replaceChildren();
    errorEl.textContent = "";
    section.dataset.state = "idle";
  });

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    if (!file) return;
    const image = new Image();
    // The image is shown fitted into the pad; its boxes, in its own pixels, are placed the same way.
    image.onload = () => {
      clear();
      const scale = Math.min(pad.width / image.naturalWidth, pad.height / image.naturalHeight);
      shown = {scale, x: (pad.width - image.naturalWidth * scale) / 2,
               y: (pad.height - image.naturalHeight * scale) / 2};
      ctx.drawImage(image, shown.x, shown.y, image.naturalWidth * scale, image.naturalHeight * scale);
      URL.revokeObjectURL(image.src);
      hasInk = true;
      read(file, file.type || "image/png", shown);
    };
    image.src = URL.createObjectURL(file);
  });

  clear();
})();
