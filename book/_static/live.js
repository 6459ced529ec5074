/* Live panels of the web edition: the notebooks' sliders, run in the reader's browser.
 *
 * book/build.py puts a <div class="live-panel" data-live="NAME"> where a notebook's panel is, and
 * copies into _static/live/ the ONNX models exported from the shipped checkpoints (book/live.py),
 * their panels.json, and the pinned onnxruntime-web (book/vendor.py). This script finds the
 * panels, loads the runtime from the site itself (nothing from the network) and builds:
 *
 *   - a latent panel (digits_vae, digits_vae_2d, pokemon_vae): one range input per code
 *     dimension, "sample from the prior", "encode this image" (the test image's code m, computed
 *     at build time); every input event decodes the code and paints the picture as the notebook's
 *     panel draws it (same decoder, same rendering, pixel for pixel);
 *   - the completion explorer (pixel_lstm512_wd): cover the bottom of a held-out Pokémon and let
 *     the LSTM-512 draw the rest, reading the visible prefix in one call and then stepping one
 *     pixel at a time with its (h, c) state; a seed box makes a draw repeatable.
 *
 * Each panel keeps, for the tests and the benchmark, window.livePanels[NAME] with
 * .latencies (ms from an input event to the painted canvas) and .draws (pictures painted).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var BASE = new URL("live/", script.src).href;
  var panels = (window.livePanels = window.livePanels || {});
  var runtime = null, meta = null;

  function loadRuntime() {
    if (!runtime) {
      runtime = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = BASE + "ort/ort.wasm.min.js";
        s.onload = function () {
          ort.env.wasm.wasmPaths = BASE + "ort/";
          ort.env.wasm.numThreads = 1; // no cross-origin isolation on a plain static site
          ort.env.wasm.proxy = false;
          resolve(ort);
        };
        s.onerror = function () { reject(new Error("could not load " + s.src)); };
        document.head.appendChild(s);
      });
    }
    return runtime;
  }

  function loadMeta() {
    if (!meta) {
      meta = fetch(BASE + "models/panels.json").then(function (r) {
        if (!r.ok) throw new Error("could not load panels.json (" + r.status + ")");
        return r.json();
      });
    }
    return meta;
  }

  function session(file) {
    return loadRuntime().then(function (ort) {
      return ort.InferenceSession.create(BASE + "models/" + file, { executionProviders: ["wasm"] });
    });
  }

  // mulberry32: a small seeded generator, so a seed gives the same draw on every visit
  function rng(seed) {
    var a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // [0, 1] float -> byte, in float32 arithmetic like helpers.notebook.plot.to_png:
  // uint8(clip(x, 0, 1) * 255 + 0.5)
  var f = Math.fround;
  function toByte(v) {
    v = f(v);
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    return Math.floor(f(f(v * 255) + 0.5));
  }

  // rgb: floats (h * w * 3) in [0, 1]; each pixel a scale x scale block
  function paint(canvas, rgb, h, w, scale) {
    canvas.width = w * scale;
    canvas.height = h * scale;
    var ctx = canvas.getContext("2d");
    var img = ctx.createImageData(w * scale, h * scale), d = img.data;
    for (var y = 0; y < h * scale; y++) {
      for (var x = 0; x < w * scale; x++) {
        var s = ((Math.floor(y / scale) * w) + Math.floor(x / scale)) * 3, o = (y * w * scale + x) * 4;
        d[o] = toByte(rgb[s]); d[o + 1] = toByte(rgb[s + 1]); d[o + 2] = toByte(rgb[s + 2]); d[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function el(tag, attrs, parent) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    if (parent) parent.appendChild(e);
    return e;
  }

  function slider(parent, id, label, min, max, step, value, fmt) {
    var row = el("div", { class: "live-row" }, parent);
    el("label", { for: id, text: label }, row);
    var input = el("input", { type: "range", id: id, min: min, max: max, step: step, value: value }, row);
    var out = el("output", { for: id }, row);
    var show = function () { out.textContent = fmt(parseFloat(input.value)); };
    input.addEventListener("input", show);
    show();
    input.show = show;
    return input;
  }

  // Redraws one at a time; the latency of a paint is counted from the earliest input event it answers.
  function Scheduler(panel, work) {
    var pending = null, busy = false;
    panel.latencies = [];
    panel.draws = 0;
    panel.busy = false;
    function loop() {
      busy = panel.busy = true;
      var since = pending;
      pending = null;
      return Promise.resolve().then(work).then(function () { // .then: a throw inside work is caught too
        var stale = panel.root.querySelector(".live-error");
        if (stale) stale.remove(); // a redraw worked again
        panel.draws += 1;
        panel.root.dataset.draws = String(panel.draws);
        panel.root.dataset.state = "ready"; // after the first picture: a later failure is a redraw's
        if (since !== undefined && since !== null && since >= 0) panel.latencies.push(performance.now() - since);
        busy = panel.busy = false;
        if (pending !== null) return loop();
      }, function (err) {
        busy = panel.busy = false;
        panel.fail(err);
      });
    }
    return function (eventTime) {
      if (pending === null || pending < 0) pending = eventTime === undefined ? -1 : eventTime;
      if (!busy && panel.session) loop(); // before the model is loaded an input waits for the first draw
    };
  }

  function Panel(root, name) {
    this.root = root;
    this.name = name;
    panels[name] = this;
  }
  // one message per panel: a failure before the first picture means the panel cannot start; a
  // failed redraw later is said once, and the panel stays usable
  Panel.prototype.fail = function (err) {
    var started = this.root.dataset.state === "ready";
    if (!started) this.root.dataset.state = "error";
    var msg = this.root.querySelector(".live-error") || el("p", { class: "live-error", role: "status" }, this.root);
    var why = err && err.message ? err.message : String(err);
    if (started) {
      msg.textContent = "A redraw failed (" + why + "); move a slider to try again.";
      return;
    }
    msg.textContent = "The live panel could not start (" + why + "). " +
      (location.protocol === "file:" ? "Opened from a file, a page may not load its models: serve the book over HTTP " +
        "(for example python -m http.server -d build/book, then http://127.0.0.1:8000/). " : "") +
      "The notebook's static figures on this page stand in for it.";
  };

  // ---------------------------------------------------------------- latent sliders
  // The code is held exactly (a float32 per dimension, as the notebook's panel holds it); the range
  // inputs show it rounded to their step, and moving one replaces only that dimension.
  function LatentPanel(root, name, spec) {
    Panel.call(this, root, name);
    var self = this, latent = spec.latent, what = spec.what;
    this.spec = spec;
    this.scale = spec.side >= 20 ? 10 : 20; // as the notebook's panels: Pokémon 10, digits 20
    this.code = new Float32Array(latent);
    var body = el("div", { class: "live-body" }, root);
    var controls = el("div", { class: "live-controls" }, body);
    this.canvas = el("canvas", { class: "live-canvas", role: "img",
      "aria-label": (what === "sprite" ? "Pokémon" : "digit") + " decoded from the code the sliders set" }, body);
    this.sliders = [];
    for (var i = 0; i < latent; i++) {
      this.sliders.push(slider(controls, name + "-z" + i, spec.names ? spec.names[i] : "z[" + i + "]",
        -spec.limit, spec.limit, spec.step, 0, function (v) { return v.toFixed(2); }));
    }
    var buttons = el("div", { class: "live-buttons" }, controls);
    var prior = el("button", { type: "button", text: "sample from the prior" }, buttons);
    var row = el("div", { class: "live-row" }, controls);
    el("label", { for: name + "-image", text: "test " + what + " #" }, row);
    this.image = el("input", { type: "number", id: name + "-image", min: 0, max: spec.codes.length - 1, step: 1,
      value: spec.encoded }, row);
    var encode = el("button", { type: "button", text: "encode this " + what }, row);
    var draw = Scheduler(this, function () { return self.decode(); });
    this.sliders.forEach(function (s, i) {
      s.addEventListener("input", function (e) { self.code[i] = parseFloat(s.value); draw(e.timeStamp); });
    });
    var gen = rng(1);
    prior.addEventListener("click", function (e) {
      self.setCode(self.sliders.map(function () { // Box-Muller, z ~ N(0, I)
        return Math.sqrt(-2 * Math.log(1 - gen())) * Math.cos(2 * Math.PI * gen());
      }));
      draw(e.timeStamp);
    });
    encode.addEventListener("click", function (e) {
      var k = Math.max(0, Math.min(spec.codes.length - 1, parseInt(self.image.value, 10) || 0));
      self.image.value = k;
      self.setCode(spec.codes[k]);
      draw(e.timeStamp);
    });
    this.setCode(spec.codes[spec.encoded]);
    this.ready = session(spec.file).then(function (s) { self.session = s; draw(); });
    this.ready.catch(function (err) { self.fail(err); });
  }
  LatentPanel.prototype = Object.create(Panel.prototype);
  // set every dimension at once; values beyond the range are clipped, as the notebook's set_latent does
  LatentPanel.prototype.setCode = function (z) {
    var lim = this.spec.limit, code = this.code;
    this.sliders.forEach(function (s, i) {
      code[i] = Math.max(-lim, Math.min(lim, z[i]));
      s.value = code[i];
      s.show();
    });
  };
  LatentPanel.prototype.z = function () { return Float32Array.from(this.code); };
  LatentPanel.prototype.decode = function () {
    var self = this, side = this.spec.side;
    var z = new ort.Tensor("float32", this.z(), [1, this.spec.latent]);
    return this.session.run({ z: z }).then(function (out) {
      paint(self.canvas, out.picture.data, side, side, self.scale);
    });
  };

  // ---------------------------------------------------------------- completion explorer
  var COVER = [0.62, 0.68, 0.80], GAP = 0.82, SAMPLES = 4;

  // The course's sprites are not redistributed (DATA.md), so the page holds none: it opens on
  // sprites the LSTM draws itself, and completes held-out sprites once the reader loads the course's
  // pixel_color.txt from their own disk (the file `make lab` downloads into data/pokemon/).
  var OWN = 16, OWN_SEED = 20161;
  function CompletionPanel(root, name, spec) {
    Panel.call(this, root, name);
    var self = this;
    this.spec = spec;
    this.scale = 8;
    this.timings = [];
    this.drawsOfSeed = 0;
    this.sprites = null;
    this.source = "own";
    var controls = el("div", { class: "live-controls live-wide" }, root);
    this.index = slider(controls, name + "-index", "sprite #", 0, OWN - 1, 1, 10,
      function (v) { return String(v); });
    this.cover = slider(controls, name + "-cover", "covered", 0, 1, 0.05, 0.5,
      function (v) { return Math.round(100 * v) + "%"; });
    this.temperature = slider(controls, name + "-temperature", "temperature", 0.1, 2, 0.05, 1,
      function (v) { return v.toFixed(2); });
    var row = el("div", { class: "live-row" }, controls);
    el("label", { for: name + "-seed", text: "seed" }, row);
    this.seed = el("input", { type: "number", id: name + "-seed", min: 0, step: 1, value: 0 }, row);
    var resample = el("button", { type: "button", text: "resample" }, row);
    var load = el("div", { class: "live-row" }, controls);
    el("label", { for: name + "-file", text: "held-out sprites" }, load);
    this.file = el("input", { type: "file", id: name + "-file", accept: ".txt,text/plain" }, load);
    el("span", { class: "live-hint", text: "the course's pixel_color.txt, from your disk (make lab puts it in data/pokemon/)" }, load);
    this.canvas = el("canvas", { class: "live-canvas", role: "img",
      "aria-label": "a sprite, what the model sees, and four completions" }, root);
    this.caption = el("p", { class: "live-caption" }, root);
    var draw = Scheduler(this, function () { return self.show(); });
    [this.index, this.cover, this.temperature].forEach(function (s) {
      s.addEventListener("input", function (e) { draw(e.timeStamp); });
    });
    this.seed.addEventListener("input", function (e) { self.drawsOfSeed = 0; draw(e.timeStamp); });
    resample.addEventListener("click", function (e) { self.drawsOfSeed += 1; draw(e.timeStamp); });
    this.file.addEventListener("change", function (e) {
      var f = self.file.files[0], stamp = e.timeStamp;
      if (!f) return;
      f.text().then(function (text) {
        self.useSprites(text);
        draw(stamp);
      }).catch(function (err) { self.note(err.message); });
    });
    this.ready = session(spec.file).then(function (s) {
      self.session = s;
      var blank = new Array(spec.side * spec.side).fill(0);
      return self.complete({ sprite: blank, cover: 1, temperature: 1, seed: OWN_SEED, samples: OWN });
    }).then(function (own) {
      if (!self.sprites) self.sprites = own.map(function (a) { return Array.from(a); });
      draw();
    });
    this.ready.catch(function (err) { self.fail(err); });
  }
  CompletionPanel.prototype = Object.create(Panel.prototype);
  // the course file's last rows, the notebooks' test split; anything else is refused with a reason
  CompletionPanel.prototype.useSprites = function (text) {
    var spec = this.spec, rows = text.split(/\r?\n/).filter(function (r) { return r.trim(); });
    var n = spec.side * spec.side, K = spec.colours;
    var sprites = rows.map(function (r) { return r.trim().split(/\s+/).map(Number); });
    var ok = rows.length === spec.rows && sprites.every(function (s) {
      return s.length === n && s.every(function (v) { return Number.isInteger(v) && v >= 0 && v < K; });
    });
    if (!ok) {
      throw new Error("this is not the course's pixel_color.txt: expected " + spec.rows + " lines of " + n +
        " colour indices 0.." + (K - 1) + ", got " + rows.length + " lines");
    }
    this.sprites = sprites.slice(spec.test[0], spec.test[1]);
    this.source = "held-out";
    this.index.max = this.sprites.length - 1;
    this.index.value = Math.min(10, this.sprites.length - 1);
    this.index.show();
    var stale = this.root.querySelector(".live-error");
    if (stale) stale.remove();
  };
  CompletionPanel.prototype.note = function (text) {
    var msg = this.root.querySelector(".live-error") || el("p", { class: "live-error", role: "status" }, this.root);
    msg.textContent = text;
  };

  CompletionPanel.prototype.settings = function () {
    return { index: parseInt(this.index.value, 10), cover: parseFloat(this.cover.value),
      temperature: parseFloat(this.temperature.value), seed: Math.max(0, parseInt(this.seed.value, 10) || 0),
      draws: this.drawsOfSeed };
  };

  // The cached loop of notebook 02 (PixelLSTM._fill): the visible prefix in one call, then one
  // step per hidden pixel with the returned (h, c). Returns `samples` Int32Arrays of side*side colours.
  CompletionPanel.prototype.complete = function (o) {
    var spec = this.spec, sess = this.session, side = spec.side, n = side * side, K = spec.colours;
    var B = o.samples || SAMPLES, H = spec.hidden, sprite = o.sprite || this.sprites[o.index];
    var known = Math.round((1 - o.cover) * n);
    var draw = rng(o.seed * 100003 + (o.draws || 0));
    var imgs = [], prev = new BigInt64Array(B);
    for (var b = 0; b < B; b++) imgs.push(Int32Array.from(sprite));
    var zeros = new Float32Array(B * H);
    var h = new ort.Tensor("float32", zeros, [1, B, H]), c = new ort.Tensor("float32", zeros.slice(), [1, B, H]);
    var t0 = Date.now();
    function pick(logits, off) { // one colour from softmax(logits / T), or the argmax
      var best = 0, i;
      if (o.greedy) {
        for (i = 1; i < K; i++) if (logits[off + i] > logits[off + best]) best = i;
        return best;
      }
      var m = -Infinity, p = new Float64Array(K), total = 0;
      for (i = 0; i < K; i++) m = Math.max(m, logits[off + i] / o.temperature);
      for (i = 0; i < K; i++) { p[i] = Math.exp(logits[off + i] / o.temperature - m); total += p[i]; }
      var u = draw() * total;
      for (i = 0; i < K - 1; i++) { u -= p[i]; if (u < 0) return i; }
      return K - 1;
    }
    var steps = Promise.resolve();
    if (known > 0) {
      var tokens = new BigInt64Array(B * known);
      for (b = 0; b < B; b++) {
        tokens[b * known] = BigInt(spec.start);
        for (var t = 1; t < known; t++) tokens[b * known + t] = BigInt(sprite[t - 1]);
        prev[b] = BigInt(sprite[known - 1]);
      }
      steps = sess.run({ tokens: new ort.Tensor("int64", tokens, [B, known]),
        t0: new ort.Tensor("int64", BigInt64Array.from([0n]), [1]), h: h, c: c }).then(function (r) {
        h = r.h_out; c = r.c_out;
      });
    } else {
      prev.fill(BigInt(spec.start));
    }
    var self = this;
    function step(t) {
      if (t >= n) return Promise.resolve();
      return sess.run({ tokens: new ort.Tensor("int64", prev.slice(), [B, 1]),
        t0: new ort.Tensor("int64", BigInt64Array.from([BigInt(t)]), [1]), h: h, c: c }).then(function (r) {
        h = r.h_out; c = r.c_out;
        var lg = r.logits.data;
        for (var b = 0; b < B; b++) {
          var x = pick(lg, b * K);
          imgs[b][t] = x;
          prev[b] = BigInt(x);
        }
        return step(t + 1);
      });
    }
    return steps.then(function () { return step(known); }).then(function () {
      self.timings.push(Date.now() - t0);
      return imgs;
    });
  };

  CompletionPanel.prototype.show = function () {
    var self = this, o = this.settings(), spec = this.spec, side = spec.side, n = side * side;
    return this.complete(o).then(function (imgs) {
      var sprite = self.sprites[o.index], known = Math.round((1 - o.cover) * n);
      var all = [sprite, sprite].concat(imgs), cols = all.length, w = cols * (side + 1) - 1;
      var rgb = new Float32Array(side * w * 3).fill(GAP);
      all.forEach(function (img, k) {
        for (var p = 0; p < n; p++) {
          var y = Math.floor(p / side), x = k * (side + 1) + (p % side), o3 = (y * w + x) * 3;
          var colour = spec.colormap[img[p]];
          for (var ch = 0; ch < 3; ch++) {
            rgb[o3 + ch] = k === 1 && p >= known ? COVER[ch] : f(colour[ch] / 255);
          }
        }
      });
      paint(self.canvas, rgb, side, w, self.scale);
      self.last = { settings: o, completions: imgs.map(function (a) { return Array.from(a); }) };
      self.caption.textContent = (self.source === "held-out" ? "held-out sprite " + o.index + ": real"
        : "the LSTM's own drawing " + o.index + " (load the course's file for held-out sprites)") + " | visible " + Math.round(100 * (1 - o.cover)) +
        "% | " + imgs.length + " completions at temperature " + o.temperature + " (seed " + o.seed + ", draw " + o.draws + ")";
    });
  };

  // ---------------------------------------------------------------- start
  function start() {
    var roots = document.querySelectorAll(".live-panel[data-live]");
    if (!roots.length) return;
    loadMeta().then(function (m) {
      roots.forEach(function (root) {
        var name = root.dataset.live;
        root.dataset.state = "starting";
        var panel = m.vae[name] ? new LatentPanel(root, name, m.vae[name])
          : m.lstm.name === name ? new CompletionPanel(root, name, m.lstm) : null;
        if (!panel) { new Panel(root, name).fail("no model called " + name); }
      });
    }, function (err) {
      roots.forEach(function (root) { new Panel(root, root.dataset.live).fail(err); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
