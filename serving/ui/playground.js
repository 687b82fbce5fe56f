// zoo playground: every model this server serves, asked through its public REST API only.
//
// The page decides what to show from each model's metadata, never from its name: a generator
// answers "images"; an input of [H, W, 1] gets the drawing pad, [H, W, 3] the photo upload, [N] a
// form of N numbers, labelled with the names Triton's model configuration gives them. Classifiers
// with labels are asked through TF Serving's :classify, whose answer names the classes (a photo is
// sent as its file's bytes to the model's serving_image signature, which decodes it on the server,
// where the model has one); the drawing pad uses :predict, the API most clients call. The page opens on what a person came to do; the
// API it calls is shown last, folded.
"use strict";

const $ = (id) => document.getElementById(id);

/** An element with properties and children: el("p", {className: "error"}, "text"). */
function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** A refusal, or no answer at all; `message` is the server's own words when it gave any. */
class ServerError extends Error {}

// ---- requests, and their curl twins ----------------------------------------------------------

let currentAction = null;

/** One user step (a stroke, a photo, a button): the requests panel shows the latest one's requests. */
function newAction() {
  currentAction = { lines: [] };
  return currentAction;
}

function shellQuote(text) {
  return "'" + String(text).replaceAll("'", "'\\''") + "'";
}

function asCurl(method, path, body) {
  const url = shellQuote(location.origin + path);
  if (method === "GET") return `curl ${url}`;
  const data = body ? ` -H 'Content-Type: application/json' -d ${shellQuote(body)}` : "";
  return `curl -X POST ${url}${data}`;
}

function record(action, line) {
  if (action !== currentAction) return; // a later step has started: its requests are shown
  action.lines.push(line);
  $("curl").textContent = action.lines.join("\n\n");
}

/** The JSON answer of one request; a ServerError with the server's message if it refuses. */
async function call(action, method, path, body = "") {
  record(action, asCurl(method, path, body));
  const init = { method };
  if (method === "POST") {
    init.body = body;
    if (body) init.headers = { "Content-Type": "application/json" };
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ServerError(`no answer from the server (${error.message})`);
  }
  const text = await response.text();
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new ServerError(`HTTP ${response.status}: ${text.slice(0, 300)}`);
  }
  if (!response.ok) throw new ServerError(answer.error ?? `HTTP ${response.status}`);
  return answer;
}

const modelPath = (name) => `/v1/models/${encodeURIComponent(name)}`;

/** TF Serving's row format: one output's row is the value itself, several outputs' an object. */
function output(row, name) {
  return row !== null && typeof row === "object" && !Array.isArray(row) ? row[name] : row;
}

// ---- answers on screen -----------------------------------------------------------------------

/** A panel for one model's answers: a title, an error line, and a body to fill. Until the first
 * answer, and again after a Clear, the body shows `placeholder()`: what will appear there, and how. */
function panel(container, name, placeholder = () => []) {
  const body = el("div", { className: "body" });
  const error = el("p", { className: "error", hidden: true });
  const node = el("div", { className: "panel" }, el("h3", { textContent: name }), error, body);
  node.dataset.model = name;
  container.append(node);
  const waiting = () => el("div", { className: "placeholder" }, ...placeholder());
  body.append(waiting());
  return {
    node,
    body,
    show(...children) {
      error.hidden = true;
      body.replaceChildren(...children);
    },
    fail(message) {
      body.replaceChildren(); // never an old answer beside a new error
      error.textContent = message;
      error.hidden = false;
    },
    clear() {
      error.hidden = true;
      body.replaceChildren(waiting());
    },
  };
}

/** Horizontal bars for [label, score] pairs; the best one marked. */
function bars(pairs) {
  const best = Math.max(...pairs.map(([, score]) => score));
  return pairs.map(([label, score]) => {
    const fill = el("div", { className: "fill" });
    fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
    const row = el(
      "div",
      { className: score === best ? "bar best" : "bar" },
      el("span", { className: "label", textContent: label }),
      el("div", { className: "track" }, fill),
      el("span", { className: "value", textContent: score.toFixed(3) }),
    );
    row.dataset.label = label;
    row.dataset.score = String(score);
    return row;
  });
}

/** Faint rows where the bars will be, labelled when the labels are known before the answer. */
function ghostBars(labels) {
  return labels.map((label) =>
    el(
      "div",
      { className: "ghost" },
      el("span", { className: "label", textContent: label }),
      el("div", { className: "track" }),
      el("span", { className: "value", textContent: "–" }),
    ),
  );
}

/** A placeholder: one line saying what to do, then the bars to come. */
const waitingFor = (text, labels) => () => [el("p", { textContent: text }), ...ghostBars(labels)];

const topK = (pairs, k) => [...pairs].sort((a, b) => b[1] - a[1]).slice(0, k);

function failWith(target, error) {
  if (!(error instanceof ServerError)) throw error;
  target.fail(error.message);
}

// ---- the models table ------------------------------------------------------------------------

const describeTensor = (t) => `${t.name} ${t.datatype} [${t.shape.join(", ")}]`;

function versionsCell(status) {
  return status.model_version_status
    .map((s) => `${s.version} ${s.state}${s.status.error_message ? ` (${s.status.error_message})` : ""}`)
    .join(", ");
}

function tableRow(name, status, meta) {
  const cells = [
    name,
    versionsCell(status),
    meta.inputs.map(describeTensor).join(", "),
    meta.outputs.map(describeTensor).join(", "),
    meta.platform,
  ].map((text) => el("td", { textContent: text }));
  const row = el("tr", {}, ...cells);
  row.dataset.model = name;
  return row;
}

/** The names of a table's columns, from Triton's model configuration (`zoo export` writes them as the
 * parameter feature_names, a JSON list); null when it names none. */
async function featureNames(action, name, count) {
  let config;
  try {
    config = await call(action, "GET", `/v2/models/${encodeURIComponent(name)}/config`);
  } catch (error) {
    if (!(error instanceof ServerError)) throw error;
    return null; // a model without a configuration still gets its form, with numbered fields
  }
  let names = null;
  try {
    names = JSON.parse(config.parameters?.feature_names?.string_value ?? "null");
  } catch {
    return null; // a hand-written config.pbtxt's parameter that is not a JSON list
  }
  return Array.isArray(names) && names.length === count ? names.map(String) : null;
}

/** Every model with its status and metadata (a table's also with its feature names); one that cannot
 * be described is shown as refused. */
async function describeModels() {
  const action = newAction();
  const wanted = new URLSearchParams(location.search).get("model");
  const problems = [];
  let names;
  if (wanted !== null) {
    names = [wanted];
  } else {
    const index = await call(action, "POST", "/v2/repository/index");
    names = [...new Set(index.map((entry) => entry.name))];
  }
  const models = [];
  const rows = $("model-table").tBodies[0];
  for (const name of names) {
    try {
      const status = await call(action, "GET", modelPath(name));
      const meta = await call(action, "GET", `/v2/models/${encodeURIComponent(name)}`);
      rows.append(tableRow(name, status, meta));
      const model = { name, meta, features: null, takesBytes: false };
      if (kindOf(meta) === "table") {
        model.features = await featureNames(action, name, meta.inputs[0].shape[1]);
      }
      if (kindOf(meta) === "photos") model.takesBytes = await takesImageBytes(action, name);
      models.push(model);
    } catch (error) {
      if (!(error instanceof ServerError)) throw error;
      problems.push(`${name}: ${error.message}`);
    }
  }
  if (problems.length) {
    $("models-error").textContent = problems.join("\n");
    $("models-error").hidden = false;
  }
  return models;
}

function kindOf(meta) {
  const outputs = meta.outputs.map((t) => t.name);
  const dims = meta.inputs[0].shape.slice(1);
  if (outputs.includes("images")) return "generator";
  if (dims.length === 3 && dims[2] === 1) return "digits";
  if (dims.length === 3 && dims[2] === 3) return "photos";
  if (dims.length === 1) return "table";
  return null;
}

// ---- draw a digit ----------------------------------------------------------------------------

/** The ink's bounding box in a canvas (white on black), or null when nothing is drawn. */
function inkBox(canvas) {
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let left = width, right = -1, top = height, bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4] > 0) {
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
  }
  return right < 0 ? null : { left, top, width: right - left + 1, height: bottom - top + 1 };
}

function canvasOf(width, height) {
  return Object.assign(document.createElement("canvas"), { width, height });
}

/** The drawing as MNIST's digits were made: its ink scaled into a 20x20 box (of 28) and
 * centred by its centre of mass. Returns 0-255 grey levels, row by row, or null if empty. */
function digitPixels(pad, height, width) {
  const box = inkBox(pad);
  if (box === null) return null;
  const scale = (Math.min(height, width) * 20) / 28 / Math.max(box.width, box.height);
  const fitted = canvasOf(width, height);
  const ctx = fitted.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = "high";
  const w = box.width * scale, h = box.height * scale;
  ctx.drawImage(pad, box.left, box.top, box.width, box.height, (width - w) / 2, (height - h) / 2, w, h);
  const grey = Array.from(ctx.getImageData(0, 0, width, height).data.filter((_, i) => i % 4 === 0));
  let mass = 0, sumX = 0, sumY = 0;
  grey.forEach((v, i) => {
    mass += v;
    sumX += v * (i % width);
    sumY += v * Math.floor(i / width);
  });
  const dx = Math.round((width - 1) / 2 - sumX / mass);
  const dy = Math.round((height - 1) / 2 - sumY / mass);
  const shifted = new Array(width * height).fill(0);
  grey.forEach((v, i) => {
    const x = (i % width) + dx, y = Math.floor(i / width) + dy;
    if (x >= 0 && x < width && y >= 0 && y < height) shifted[y * width + x] = v;
  });
  return shifted;
}

/** Grey levels (or RGB triples) into a canvas, to show what is sent. */
function paint(canvas, values, channels) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < canvas.width * canvas.height; i++) {
    for (let c = 0; c < 3; c++) image.data[i * 4 + c] = values[i * channels + (channels === 3 ? c : 0)];
    image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

/** Rows of [H][W][C] nested lists, as TF Serving's "instances" take an image. */
function nested(values, height, width, channels) {
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = [];
    for (let x = 0; x < width; x++) {
      const start = (y * width + x) * channels;
      row.push(values.slice(start, start + channels));
    }
    rows.push(row);
  }
  return rows;
}

function setUpDigits(models) {
  const pad = $("pad");
  const ctx = pad.getContext("2d", { willReadFrequently: true }); // read back at every change
  const blank = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
  };
  blank();
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#fff";
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = 20;

  const panels = models.map((model) => {
    const classes = model.meta.outputs.find((t) => t.name === "probabilities").shape[1];
    const labels = Array.from({ length: classes }, (_, i) => String(i));
    const text = `Draw a digit in the pad: ${model.name}'s probability of each digit shows here.`;
    return { model, view: panel($("digit-answers"), model.name, waitingFor(text, labels)) };
  });
  const [height, width] = models[0].meta.inputs[0].shape.slice(1, 3);
  let drawing = 0; // bumped by every change of the pad
  let cleared = 0; // the drawing number of the last Clear: answers older than it are not shown
  let busy = false;

  async function update() {
    busy = true;
    const version = drawing;
    const pixels = digitPixels(pad, height, width);
    if (pixels !== null) {
      paint($("pixels"), pixels, 1);
      const action = newAction();
      await Promise.all(panels.map((p) => ask(p, pixels, version, action)));
    }
    busy = false;
    if (drawing !== version && drawing !== cleared) requestAnimationFrame(update);
  }

  async function ask({ model, view }, pixels, version, action) {
    const [h, w] = model.meta.inputs[0].shape.slice(1, 3);
    const sent = h === height && w === width ? pixels : digitPixels(pad, h, w);
    const body = JSON.stringify({ instances: [nested(sent, h, w, 1)] });
    try {
      const answer = await call(action, "POST", `${modelPath(model.name)}:predict`, body);
      if (version <= cleared) return;
      const probabilities = output(answer.predictions[0], "probabilities");
      view.show(...bars(probabilities.map((p, i) => [String(i), p])));
    } catch (error) {
      if (version > cleared) failWith(view, error);
    }
    view.node.classList.toggle("pending", version !== drawing);
  }

  function changed() {
    drawing += 1;
    panels.forEach((p) => p.view.node.classList.add("pending"));
    if (!busy) requestAnimationFrame(update);
  }

  let last = null;
  const point = (event) => {
    const r = pad.getBoundingClientRect();
    return [((event.clientX - r.left) * pad.width) / r.width, ((event.clientY - r.top) * pad.height) / r.height];
  };
  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    $("pad-hint").hidden = true;
    pad.setPointerCapture(event.pointerId);
    last = point(event);
    ctx.beginPath();
    ctx.arc(last[0], last[1], ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
    changed();
  });
  pad.addEventListener("pointermove", (event) => {
    if (last === null) return;
    const next = point(event);
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...next);
    ctx.stroke();
    last = next;
    changed();
  });
  for (const end of ["pointerup", "pointercancel"]) pad.addEventListener(end, () => (last = null));
  $("clear").addEventListener("click", () => {
    blank();
    $("pad-hint").hidden = false;
    ctx.fillStyle = "#fff";
    drawing += 1;
    cleared = drawing;
    paint($("pixels"), new Array(height * width).fill(0), 1);
    panels.forEach((p) => {
      p.view.clear();
      p.view.node.classList.remove("pending");
    });
  });
}

// ---- classify a photo ------------------------------------------------------------------------

const IMAGE_SIGNATURE = "serving_image"; // an image model's signature that takes files' bytes
const IMAGE_INPUT = "image_bytes"; // its one input

/** Whether the model's TF Serving metadata lists serving_image (zoo's image exports do). */
async function takesImageBytes(action, name) {
  const meta = await call(action, "GET", `${modelPath(name)}/metadata`);
  return IMAGE_SIGNATURE in meta.metadata.signature_def.signature_def;
}

/** The whole image resized to height x width, as serving_image resizes it: 0-255 RGB, row by row. */
function photoPixels(bitmap, height, width) {
  const canvas = canvasOf(width, height);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  return Array.from(rgba.filter((_, i) => i % 4 !== 3));
}

/** A file's bytes in base64, as TF Serving's JSON carries bytes ({"b64": ...}). */
function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(new ServerError(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

/** Classifiers go through :classify, whose answer carries the export's labels; `example` is the
 * model's one input's value, or serving_image's when `signature` names it. */
async function classify(action, model, example, signature = "") {
  const input = signature ? IMAGE_INPUT : model.meta.inputs[0].name;
  const request = { examples: [{ [input]: example }] };
  if (signature) request.signature_name = signature;
  const answer = await call(action, "POST", `${modelPath(model.name)}:classify`, JSON.stringify(request));
  return answer.results[0];
}

const TOP_PHOTO_CLASSES = 5;

function setUpPhotos(models) {
  const panels = models.map((model) => {
    const text = `Choose a photo: ${model.name}'s ${TOP_PHOTO_CLASSES} likeliest classes show here.`;
    const rows = new Array(TOP_PHOTO_CLASSES).fill(""); // which classes, only the answer says
    return { model, view: panel($("photo-answers"), model.name, waitingFor(text, rows)) };
  });
  let chosen = 0;
  $("photo").addEventListener("change", async (event) => {
    const ticket = ++chosen;
    const file = event.target.files[0];
    panels.forEach((p) => p.view.clear());
    if (!file) return;
    // The preview is the browser's; a model with serving_image gets the file itself, and the
    // server's own answer (a 400 naming why, for a file that is no image) either way.
    const bitmap = await createImageBitmap(file).catch(() => null);
    const bytes = await base64Of(file);
    const action = newAction();
    $("photo-sent").hidden = !bitmap;
    const preview = $("photo-pixels");
    if (bitmap) paint(preview, photoPixels(bitmap, preview.height, preview.width), 3);
    await Promise.all(
      panels.map(async ({ model, view }) => {
        const [h, w] = model.meta.inputs[0].shape.slice(1, 3);
        try {
          if (!model.takesBytes && !bitmap) throw new ServerError(`${file.name} is not an image this browser can read`);
          const scores = model.takesBytes
            ? await classify(action, model, { b64: bytes }, IMAGE_SIGNATURE)
            : await classify(action, model, photoPixels(bitmap, h, w));
          if (ticket === chosen) view.show(...bars(topK(scores, TOP_PHOTO_CLASSES)));
        } catch (error) {
          if (ticket === chosen) failWith(view, error);
        }
      }),
    );
  });
}

// ---- the GAN ---------------------------------------------------------------------------------

/** A seeded stream of standard normal numbers (mulberry32, then Box-Muller). */
function normals(seed) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    const u = 1 - uniform(), v = uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

const rounded = (x) => Math.round(x * 1e4) / 1e4; // a shorter request, the same digits

/** Spherical interpolation: the path between two normal vectors keeps a typical length. */
function slerp(a, b, t) {
  const norm = (v) => Math.hypot(...v);
  const cos = a.reduce((s, x, i) => s + x * b[i], 0) / (norm(a) * norm(b));
  const omega = Math.acos(Math.max(-1, Math.min(1, cos)));
  if (omega < 1e-6) return a.map((x, i) => rounded(x + (b[i] - x) * t));
  const s = Math.sin(omega);
  return a.map((x, i) => rounded((Math.sin((1 - t) * omega) * x + Math.sin(t * omega) * b[i]) / s));
}

/** Generated pixels in [0, 1] (the generators' sigmoid) drawn into a canvas at (left, top). */
function drawGenerated(ctx, image, left, top) {
  const height = image.length, width = image[0].length;
  const data = ctx.createImageData(width, height);
  image.forEach((row, y) =>
    row.forEach((pixel, x) => {
      const v = Math.round(Math.max(0, Math.min(1, pixel[0])) * 255);
      data.data.set([v, v, v, 255], (y * width + x) * 4);
    }),
  );
  ctx.putImageData(data, left, top);
}

const GRID = 4;

function setUpGenerator(model) {
  const view = panel($("generator-panels"), model.name, () => [
    el("p", { textContent: `${model.name} is drawing ${GRID * GRID} images from random z…` }),
  ]);
  const latent = model.meta.inputs[0].shape[1];
  const [, height, width] = model.meta.outputs.find((t) => t.name === "images").shape;
  const seed = el("input", { type: "number", value: "1", min: "0", step: "1" });
  const again = el("button", { type: "button", textContent: "New z" });
  const grid = el("canvas", { className: "grid", width: GRID * width, height: GRID * height });
  const slider = el("input", { type: "range", min: "0", max: "100", value: "0" });
  const walk = el("canvas", { className: "walk", width, height });
  const controls = el("div", { className: "controls" }, el("label", {}, "seed ", seed), again);
  view.node.insertBefore(controls, view.body);
  const layout = el(
    "div",
    { className: "generator" },
    grid,
    el("div", {}, walk, el("div", {}, slider), el("small", { textContent: "first z → last z" })),
  );
  let zs = [];
  let ticket = 0;
  let walking = false;
  let walkWanted = null;

  async function draw() {
    const mine = ++ticket;
    const next = normals(Number(seed.value) || 0);
    zs = Array.from({ length: GRID * GRID }, () => Array.from({ length: latent }, () => rounded(next())));
    const action = newAction();
    const body = JSON.stringify({ instances: zs });
    grid.dataset.state = "pending";
    try {
      const answer = await call(action, "POST", `${modelPath(model.name)}:predict`, body);
      if (mine !== ticket) return;
      view.show(layout);
      const ctx = grid.getContext("2d");
      answer.predictions.forEach((row, i) =>
        drawGenerated(ctx, output(row, "images"), (i % GRID) * width, Math.floor(i / GRID) * height),
      );
      grid.dataset.state = "drawn";
      await walkTo(Number(slider.value) / 100, action);
    } catch (error) {
      if (mine === ticket) failWith(view, error);
    }
  }

  /** Draw the point at `t` of the walk; while one is being drawn, only the latest `t` waits. */
  async function walkTo(t, action = null) {
    walkWanted = t;
    if (walking) return;
    walking = true;
    while (walkWanted !== null) {
      const at = walkWanted;
      walkWanted = null;
      const z = slerp(zs[0], zs[zs.length - 1], at);
      const sending = action ?? newAction(); // with the grid's requests when the grid asked
      action = null;
      try {
        const body = JSON.stringify({ instances: [z] });
        const answer = await call(sending, "POST", `${modelPath(model.name)}:predict`, body);
        drawGenerated(walk.getContext("2d"), output(answer.predictions[0], "images"), 0, 0);
      } catch (error) {
        failWith(view, error);
        break;
      }
    }
    walking = false;
  }

  seed.addEventListener("change", draw);
  again.addEventListener("click", () => {
    seed.value = String(Math.floor(Math.random() * 1e6));
    draw();
  });
  slider.addEventListener("input", () => walkTo(Number(slider.value) / 100));
  draw();
}

// ---- tabular models --------------------------------------------------------------------------

function setUpTable(model) {
  const count = model.meta.inputs[0].shape[1];
  const names = model.features ?? Array.from({ length: count }, (_, i) => `feature ${i + 1}`);
  const classifier = model.meta.outputs.some((t) => t.name === "probabilities");
  const verb = classifier ? "Classify" : "Predict";
  const view = panel($("table-panels"), model.name, () => [
    el("p", { textContent: `Press ${verb}: ${classifier ? "each class's probability" : "its prediction"} shows here.` }),
  ]);
  const fields = names.map(() => el("input", { type: "number", value: "0", step: "any" }));
  const ask = el("button", { type: "submit", textContent: verb });
  const form = el(
    "form",
    {},
    el("div", { className: "features" }, ...fields.map((f, i) => el("label", {}, names[i], f))),
    ask,
  );
  view.node.insertBefore(form, view.body);
  let ticket = 0;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const mine = ++ticket;
    view.clear();
    const values = fields.map((f) => Number(f.value));
    const action = newAction();
    try {
      if (classifier) {
        const scores = await classify(action, model, values);
        if (mine !== ticket) return;
        const [best] = topK(scores, 1);
        view.show(el("p", { className: "result", textContent: `→ ${best[0]}` }), ...bars(scores));
      } else {
        const body = JSON.stringify({ instances: [values] });
        const answer = await call(action, "POST", `${modelPath(model.name)}:predict`, body);
        if (mine !== ticket) return;
        const value = [output(answer.predictions[0], "predictions")].flat(Infinity);
        view.show(el("p", { className: "result", textContent: `→ ${value.map((v) => v.toFixed(4)).join(", ")}` }));
      }
    } catch (error) {
      if (mine === ticket) failWith(view, error);
    }
  });
}

// ---- start -----------------------------------------------------------------------------------

async function main() {
  let models;
  try {
    models = await describeModels();
  } catch (error) {
    if (!(error instanceof ServerError)) throw error;
    $("models-error").textContent = error.message;
    $("models-error").hidden = false;
    return;
  }
  const kinds = { digits: [], photos: [], generator: [], table: [] };
  for (const model of models) kinds[kindOf(model.meta)]?.push(model);
  const sections = { digits: "digits", photos: "photos", generator: "generators", table: "tables" };
  for (const [kind, section] of Object.entries(sections)) $(section).hidden = kinds[kind].length === 0;
  for (const link of document.querySelectorAll("#contents a")) link.hidden = $(link.hash.slice(1)).hidden;
  document.querySelector('#contents a[href="#api"]').addEventListener("click", () => ($("api").open = true));
  if (kinds.digits.length) setUpDigits(kinds.digits);
  if (kinds.photos.length) setUpPhotos(kinds.photos);
  kinds.generator.forEach(setUpGenerator);
  kinds.table.forEach(setUpTable);
  document.body.dataset.ready = "true";
}

main();
