// lookalike page: upload / drop / snap photos, draw face boxes, show ranked look-alikes.
// Plain JavaScript, no dependencies; talks only to this server.
"use strict";

// A drop zone and its file chooser: the files chosen or dropped go to send(files). The page's
// other sections (group.js) wire theirs with the same function.
function wireDropZone(drop, file, send) {
  file.addEventListener("change", () => {
    send(file.files);
    file.value = "";
  });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (ev) => {
    ev.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "dragend"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    send(ev.dataTransfer ? ev.dataTransfer.files : []);
  });
}
window.LookalikeDrop = wireDropZone;

(function () {
  const $ = (id) => document.getElementById(id);
  const els = {
    file: $("file"), drop: $("drop"), known: $("known"), status: $("status"), error: $("error"),
    result: $("result"), photo: $("photo"), boxes: $("boxes"), caption: $("caption"),
    answerTitle: $("answer-title"), none: $("none"), ranking: $("ranking"),
    photos: $("photos"), verdict: $("verdict"), verdictTitle: $("verdict-title"),
    verdictVotes: $("verdict-votes"), verdictNone: $("verdict-none"),
    verdictRanking: $("verdict-ranking"),
    camStart: $("cam-start"), camVideo: $("cam-video"), camSnap: $("cam-snap"),
    camStop: $("cam-stop"), cardDownload: $("card-download"),
    modePredict: $("mode-predict"), modeCompare: $("mode-compare"), input: $("input"),
    compare: $("compare"), fileA: $("file-a"), fileB: $("file-b"), photoA: $("photo-a"),
    photoB: $("photo-b"), boxA: $("box-a"), boxB: $("box-b"),
    compareStatus: $("compare-status"), compareError: $("compare-error"),
    compareResult: $("compare-result"), compareTitle: $("compare-title"),
    compareDetail: $("compare-detail"), compareScale: $("compare-scale"),
    scaleSame: $("scale-same"), scaleMark: $("scale-mark"), scaleThreshold: $("scale-threshold"),
    compareDownload: $("compare-download"),
    why: $("why"), compareWhy: $("compare-why"), fileMore: $("file-more"),
    moreCount: $("more-count"), compareMany: $("compare-many"), manyTitle: $("many-title"),
    manyRanking: $("many-ranking"), manyWhy: $("many-why"),
  };
  const state = { info: null, items: [], current: 0, face: 0, urls: [], stream: null, busy: false };

  // -- helpers ------------------------------------------------------------------------------
  function pct(p) {
    const v = 100 * p;
    return v >= 0.1 ? v.toFixed(1) + " %" : "<0.1 %";
  }

  // People's names as shown (the server's `name`; the same rule for vote keys): folder names
  // underscores become spaces. `person` stays the key.
  function shown(person) {
    return String(person).replace(/_/g, " ").split(/\s+/).filter(Boolean).join(" ") || person;
  }

  function nameOf(m) {
    return m.name || shown(m.person);
  }

  function mb(n) {
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = false;
    els.status.textContent = "";
  }

  function clearError() {
    els.error.hidden = true;
    els.error.textContent = "";
  }

  function setBusy(on, message) {
    state.busy = on;
    document.body.classList.toggle("busy", on);
    els.status.textContent = message || "";
  }

  // -- talking to the server ----------------------------------------------------------------
  async function loadInfo() {
    try {
      const r = await fetch("/api/info");
      state.info = await r.json();
      const n = state.info.people;
      els.known.textContent = `Knows ${n} ${n === 1 ? "person" : "people"}. ` +
        `Photos up to ${mb(state.info.max_bytes)}.`;
    } catch (e) {
      els.known.textContent = "The server is not answering.";
    }
  }

  async function send(files) {
    clearError();
    files = Array.from(files || []);
    if (!files.length) return;
    if (state.busy) return;
    const limit = state.info ? state.info.max_bytes : 10 * 1024 * 1024;
    const maxPhotos = state.info ? state.info.max_photos : 8;
    if (files.length > maxPhotos) {
      showError(`Choose at most ${maxPhotos} photos at once.`);
      return;
    }
    for (const f of files) {
      if (f.size > limit) {
        showError(`${f.name} is ${mb(f.size)}, more than the ${mb(limit)} allowed; ` +
          "choose a smaller photo.");
        return;
      }
    }
    const form = new FormData();
    for (const f of files) form.append("photo", f, f.name || "photo.jpg");
    const url = files.length === 1 ? "/api/predict?top=5&why=3" : "/api/verdict?top=5";
    setBusy(true, files.length === 1 ? "Looking at the photo…" : `Looking at ${files.length} photos…`);
    let body;
    try {
      const r = await fetch(url, { method: "POST", body: form });
      try {
        body = await r.json();
      } catch (e) {
        body = { error: "bad_answer", detail: `The server answered ${r.status} without JSON.` };
      }
      if (!r.ok) {
        setBusy(false);
        showError(body.detail || `The server answered ${r.status}.`);
        return;
      }
    } catch (e) {
      setBusy(false);
      showError("The server could not be reached: " + e.message);
      return;
    }
    setBusy(false);
    for (const u of state.urls) URL.revokeObjectURL(u);
    state.urls = files.map((f) => URL.createObjectURL(f));
    state.files = files;
    if (files.length === 1) {
      state.items = [{ url: state.urls[0], result: body }];
      showVerdict(null, body.threshold);
    } else {
      state.items = body.photos.map((p, i) => ({ url: state.urls[i], result: p }));
      showVerdict(body.verdict, body.threshold);
    }
    state.threshold = body.threshold;
    els.result.hidden = false;
    renderPhotoList();
    const first = state.items.findIndex((it) => it.result.faces.length > 0);
    showPhoto(first < 0 ? 0 : first);
  }

  // -- rendering ----------------------------------------------------------------------------
  function renderRanking(ol, ranking) {
    ol.textContent = "";
    ranking.forEach((m, k) => {
      const li = el("li", "match" + (k === 0 ? " first" : ""));
      li.dataset.person = m.person;
      li.dataset.probability = String(m.probability);
      if (m.thumb) {
        const img = el("img", "thumb");
        img.src = m.thumb;
        img.alt = `Closest photo of ${nameOf(m)}`;
        img.loading = "lazy";
        img.width = 56;
        img.height = 56;
        li.append(img);
      } else {
        li.append(el("span", "thumb placeholder"));
      }
      const text = el("div", "match-text");
      const head = el("div", "match-head");
      head.append(el("span", "person", nameOf(m)), el("span", "pct", pct(m.probability)));
      const track = el("div", "bar");
      track.setAttribute("role", "img");
      track.setAttribute("aria-label", `${nameOf(m)}: ${pct(m.probability)}`);
      const fill = el("div", "fill");
      fill.style.width = Math.max(0.5, 100 * m.probability).toFixed(2) + "%";
      track.append(fill);
      text.append(head, track);
      if (typeof m.similarity === "number") {
        text.append(el("small", "muted sim", `similarity to closest photo ${m.similarity.toFixed(2)}`));
      }
      li.append(text);
      if (m.why && ol === els.ranking) { // predict?why=K: tap a match to see why
        li.classList.add("has-why");
        li.tabIndex = 0;
        li.title = "Why? Show which parts of the face make the likeness";
        const showIt = () => showWhy(m);
        li.addEventListener("click", showIt);
        li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") showIt(); });
      }
      ol.append(li);
    });
  }

  function showWhy(m) {
    Array.from(els.ranking.children).forEach((li) =>
      li.classList.toggle("why-shown", !!m && li.dataset.person === m.person));
    if (!m || !m.why) { els.why.hidden = true; els.why.textContent = ""; return; }
    window.LookalikeWhy.render(els.why, m.why, ["This face", `${nameOf(m)} (closest photo)`]);
  }

  function noneText(bestSim, threshold) {
    const detail = typeof bestSim === "number" && typeof threshold === "number"
      ? ` (best similarity ${bestSim.toFixed(2)}, below ${threshold.toFixed(2)})` : "";
    return "None of these: the face is not close enough to anyone's photos to be the same " +
      `person${detail}. The bars say whom it resembles most.`;
  }

  function showVerdict(v, threshold) {
    if (!v) {
      els.verdict.hidden = true;
      return;
    }
    els.verdict.hidden = false;
    els.verdictTitle.textContent = `Together (${v.photos_used} of ${v.photos} photos with a face): ${nameOf(v)}`;
    els.verdictVotes.textContent = Object.entries(v.votes)
      .map(([p, n]) => `${n} of ${v.photos_used} say ${shown(p)}`).join(", ");
    els.verdictNone.hidden = !v.unknown;
    els.verdictNone.textContent = v.unknown
      ? "None of these: most photos are not close enough to anyone's photos. The bars say whom they resemble most."
      : "";
    renderRanking(els.verdictRanking, v.ranking);
  }

  function renderPhotoList() {
    els.photos.textContent = "";
    els.photos.hidden = state.items.length < 2;
    state.items.forEach((it, i) => {
      const b = el("button", "photo-tab");
      b.type = "button";
      const img = el("img");
      img.src = it.url;
      img.alt = "";
      const r = it.result;
      const label = r.error ? r.error : (r.faces.length ? nameOf(r.faces[0].ranking[0]) : "no face");
      b.append(img, el("span", "photo-tab-label", `${i + 1}. ${label}`));
      b.setAttribute("aria-label", `Photo ${i + 1} (${r.photo}): ${label}`);
      b.addEventListener("click", () => showPhoto(i));
      els.photos.append(b);
    });
  }

  function showPhoto(i) {
    state.current = i;
    Array.from(els.photos.children).forEach((b, k) => b.setAttribute("aria-pressed", String(k === i)));
    const it = state.items[i];
    els.photo.src = it.url;
    els.photo.alt = `Photo ${it.result.photo}`;
    const r = it.result;
    els.boxes.textContent = "";
    const [W, H] = r.image_size || [1, 1];
    r.faces.forEach((f, k) => {
      const [x, y, w, h] = f.box;
      const b = el("button", "box");
      b.type = "button";
      b.style.left = (100 * x / W).toFixed(3) + "%";
      b.style.top = (100 * y / H).toFixed(3) + "%";
      b.style.width = (100 * w / W).toFixed(3) + "%";
      b.style.height = (100 * h / H).toFixed(3) + "%";
      b.append(el("span", "box-label", String(k + 1)));
      b.setAttribute("aria-label", `Face ${k + 1} of ${r.faces.length}: looks most like ${nameOf(f.ranking[0])}`);
      b.addEventListener("click", () => selectFace(k, true));
      b.addEventListener("keydown", (ev) => {
        if (ev.key === "ArrowRight" || ev.key === "ArrowDown") { selectFace((k + 1) % r.faces.length, true); ev.preventDefault(); }
        if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") { selectFace((k - 1 + r.faces.length) % r.faces.length, true); ev.preventDefault(); }
      });
      els.boxes.append(b);
    });
    if (r.faces.length) {
      els.caption.textContent = r.faces.length > 1
        ? `${r.faces.length} faces: choose a box (click, or Tab and arrow keys).`
        : "One face.";
      selectFace(0, false);
    } else {
      els.caption.textContent = "";
      els.answerTitle.textContent = r.error || "No face found in this photo.";
      els.none.hidden = true;
      els.ranking.textContent = "";
    }
  }

  function selectFace(k, focus) {
    const r = state.items[state.current].result;
    state.face = k;
    const f = r.faces[k];
    Array.from(els.boxes.children).forEach((b, j) => {
      b.classList.toggle("selected", j === k);
      b.setAttribute("aria-pressed", String(j === k));
      if (j === k && focus) b.focus();
    });
    const who = nameOf(f.ranking[0]);
    const prefix = r.faces.length > 1 ? `Face ${k + 1}: ` : "";
    els.answerTitle.textContent = f.unknown
      ? `${prefix}none of these (closest: ${who})`
      : (r.faces.length > 1 ? `Face ${k + 1} looks most like ${who}` : `Looks most like ${who}`);
    els.none.hidden = !f.unknown;
    els.none.textContent = f.unknown ? noneText(f.best_similarity, state.threshold) : "";
    renderRanking(els.ranking, f.ranking);
    showWhy(f.ranking[0]);
  }

  // -- pictures to download (drawn by the server: the same cards as the CLI's --card) -------
  async function download(url, form, filename, onError) {
    let r;
    try {
      r = await fetch(url, { method: "POST", body: form });
    } catch (e) {
      onError("The server could not be reached: " + e.message);
      return;
    }
    if (!r.ok) {
      let body = {};
      try { body = await r.json(); } catch (e) { /* not JSON */ }
      onError(body.detail || `The server answered ${r.status}.`);
      return;
    }
    const blob = await r.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  els.cardDownload.addEventListener("click", async () => {
    const file = (state.files || [])[state.current];
    if (!file) return;
    const form = new FormData();
    form.append("photo", file, file.name || "photo.jpg");
    const stem = (file.name || "photo").replace(/\.[^.]*$/, "");
    els.cardDownload.disabled = true;
    els.status.textContent = "Drawing the picture…";
    await download(`/api/card?face=${state.face}&top=5`, form, `lookalike-${stem}.png`, showError);
    els.status.textContent = "";
    els.cardDownload.disabled = false;
  });

  // -- compare two photos -------------------------------------------------------------------
  const pair = { a: null, b: null, more: [], urls: {}, answer: null };

  function setMode(compare) {
    els.modePredict.setAttribute("aria-selected", String(!compare));
    els.modeCompare.setAttribute("aria-selected", String(compare));
    els.input.hidden = compare;
    els.result.hidden = compare || !state.items.length;
    els.compare.hidden = !compare;
  }
  els.modePredict.addEventListener("click", () => setMode(false));
  els.modeCompare.addEventListener("click", () => setMode(true));

  function compareError(message) {
    els.compareError.textContent = message;
    els.compareError.hidden = !message;
    if (message) els.compareStatus.textContent = "";
  }

  function drawBox(holder, img, face) {
    holder.textContent = "";
    if (!face || !face.image_size) return;
    const [W, H] = face.image_size;
    const [x, y, w, h] = face.box;
    const b = el("div", "box selected");
    b.style.left = (100 * x / W).toFixed(3) + "%";
    b.style.top = (100 * y / H).toFixed(3) + "%";
    b.style.width = (100 * w / W).toFixed(3) + "%";
    b.style.height = (100 * h / H).toFixed(3) + "%";
    holder.append(b);
  }

  function pick(side, file) {
    if (!file) return;
    pair[side] = file;
    if (pair.urls[side]) URL.revokeObjectURL(pair.urls[side]);
    pair.urls[side] = URL.createObjectURL(file);
    const img = side === "a" ? els.photoA : els.photoB;
    img.src = pair.urls[side];
    img.alt = `Photo ${side.toUpperCase()}: ${file.name}`;
    img.hidden = false;
    (side === "a" ? els.boxA : els.boxB).textContent = "";
    els.compareResult.hidden = true;
    els.compareMany.hidden = true;
    if (pair.a && pair.b) runCompare();
  }

  function pairForm() {
    const form = new FormData();
    form.append("photo", pair.a, pair.a.name || "a.jpg");
    form.append("photo", pair.b, pair.b.name || "b.jpg");
    return form;
  }

  // -- one face against several photos ("mom or dad?") ----------------------------------------
  async function runMany() {
    compareError("");
    els.compareResult.hidden = true;
    els.compareStatus.textContent = `Comparing face A with ${1 + pair.more.length} photos…`;
    const form = pairForm();
    pair.more.forEach((f, i) => form.append("photo", f, f.name || `photo-${i + 3}.jpg`));
    const body = await comparePost("/api/compare/many?why=1", form);
    if (!body) return;
    els.compareStatus.textContent = "";
    els.manyTitle.textContent = `${body.photo} looks most like ${body.most_alike}`;
    els.manyRanking.textContent = "";
    body.candidates.forEach((c, k) => {
      const li = el("li", "match has-why" + (k === 0 ? " first" : ""));
      li.dataset.photo = c.photo;
      li.tabIndex = 0;
      const text = el("div", "match-text");
      const head = el("div", "match-head");
      head.append(el("span", "person", c.photo), el("span", "pct", pct(c.probability)));
      const track = el("div", "bar");
      const fill = el("div", "fill");
      fill.style.width = Math.max(0.5, 100 * c.probability).toFixed(2) + "%";
      track.append(fill);
      const same = typeof c.same_person_probability === "number"
        ? ` · same person ${pct(c.same_person_probability)}` : "";
      text.append(head, track, el("small", "muted sim", `similarity ${c.similarity.toFixed(2)}${same}`));
      li.append(text);
      const showIt = () => {
        Array.from(els.manyRanking.children).forEach((x) => x.classList.toggle("why-shown", x === li));
        window.LookalikeWhy.render(els.manyWhy, c.why, ["Face A", c.photo]);
      };
      li.addEventListener("click", showIt);
      li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") showIt(); });
      els.manyRanking.append(li);
      if (k === 0) showIt();
    });
    els.compareMany.hidden = false;
  }

  els.fileMore.addEventListener("change", () => {
    pair.more = Array.from(els.fileMore.files || []).slice(0, 6);
    els.fileMore.value = "";
    els.moreCount.textContent = pair.more.length ? `${pair.more.length} more photo(s)` : "";
    if (pair.a && pair.b) runCompare();
  });

  // POST a compare form; its JSON answer, or null after saying what went wrong.
  async function comparePost(url, form) {
    let r, body;
    try {
      r = await fetch(url, { method: "POST", body: form });
      try { body = await r.json(); } catch (e) { body = { detail: `The server answered ${r.status} without JSON.` }; }
    } catch (e) {
      compareError("The server could not be reached: " + e.message);
      return null;
    }
    if (!r.ok) {
      compareError(body.detail || `The server answered ${r.status}.`);
      return null;
    }
    return body;
  }

  async function runCompare() {
    if (pair.more.length) return runMany();
    els.compareMany.hidden = true;
    compareError("");
    els.compareStatus.textContent = "Comparing the two faces…";
    const body = await comparePost("/api/compare?why=1", pairForm());
    if (!body) return;
    els.compareStatus.textContent = "";
    pair.answer = body;
    drawBox(els.boxA, els.photoA, body.faces[0]);
    drawBox(els.boxB, els.photoB, body.faces[1]);
    els.compareTitle.textContent = body.same_person ? "Same person" : "Not the same person";
    els.compareTitle.className = body.same_person ? "same" : "different";
    const prob = typeof body.probability === "number"
      ? ` · probability of the same person ${pct(body.probability)}` : "";
    els.compareDetail.textContent = `Similarity ${body.similarity.toFixed(2)} ` +
      `(the same person from ${body.threshold.toFixed(2)})${prob}.`;
    const clamp = (v) => Math.min(1, Math.max(0, v));
    els.scaleSame.style.left = (100 * clamp(body.threshold)).toFixed(2) + "%";
    els.scaleThreshold.style.left = (100 * clamp(body.threshold)).toFixed(2) + "%";
    els.scaleMark.style.left = (100 * clamp(body.similarity)).toFixed(2) + "%";
    els.scaleMark.style.background = body.same_person ? "#2e8b57" : "#c44e52";
    els.compareScale.setAttribute("aria-label",
      `Similarity ${body.similarity.toFixed(2)} on a scale from 0 to 1; threshold ${body.threshold.toFixed(2)}`);
    els.compareResult.hidden = false;
    window.LookalikeWhy.render(els.compareWhy, body.why, ["Face A", "Face B"]);
  }

  els.fileA.addEventListener("change", () => { pick("a", els.fileA.files[0]); els.fileA.value = ""; });
  els.fileB.addEventListener("change", () => { pick("b", els.fileB.files[0]); els.fileB.value = ""; });
  [["a", $("drop-a")], ["b", $("drop-b")]].forEach(([side, zone]) => {
    ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (ev) => {
      ev.preventDefault();
      zone.classList.add("over");
    }));
    ["dragleave", "dragend"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      zone.classList.remove("over");
      pick(side, ev.dataTransfer && ev.dataTransfer.files[0]);
    });
  });
  els.compareDownload.addEventListener("click", async () => {
    if (!pair.a || !pair.b) return;
    els.compareDownload.disabled = true;
    els.compareStatus.textContent = "Drawing the picture…";
    await download("/api/compare/card", pairForm(), "lookalike-compare.png", compareError);
    els.compareStatus.textContent = "";
    els.compareDownload.disabled = false;
  });

  // -- input: file chooser, drag and drop, webcam -------------------------------------------
  wireDropZone(els.drop, els.file, send);
  // Dropping anywhere else must not navigate away from the page.
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => ev.preventDefault());

  const canCamera = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  if (!canCamera) {
    els.camStart.disabled = true;
    els.camStart.textContent = "Webcam not available here";
    els.camStart.title = "The browser offers no camera on this page (it needs https or localhost).";
  }

  function stopCamera() {
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null;
    els.camVideo.srcObject = null;
    els.camVideo.hidden = els.camSnap.hidden = els.camStop.hidden = true;
    els.camStart.hidden = false;
  }

  els.camStart.addEventListener("click", async () => {
    clearError();
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
    } catch (e) {
      showError("The webcam could not be opened: " + (e.message || e.name) + ". Choose a photo instead.");
      return;
    }
    els.camVideo.srcObject = state.stream;
    els.camVideo.hidden = els.camSnap.hidden = els.camStop.hidden = false;
    els.camStart.hidden = true;
    await els.camVideo.play().catch(() => {});
    els.camSnap.focus();
  });
  els.camStop.addEventListener("click", stopCamera);
  els.camSnap.addEventListener("click", () => {
    const v = els.camVideo;
    if (!v.videoWidth) {
      showError("The webcam has no picture yet; try again in a moment.");
      return;
    }
    const c = document.createElement("canvas");
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    c.getContext("2d").drawImage(v, 0, 0);
    c.toBlob((blob) => {
      if (!blob) { showError("The webcam picture could not be taken."); return; }
      stopCamera();
      send([new File([blob], "webcam.jpg", { type: "image/jpeg" })]);
    }, "image/jpeg", 0.92);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && state.stream) stopCamera();
  });

  loadInfo();
})();
