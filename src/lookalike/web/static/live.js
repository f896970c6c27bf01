// lookalike page, live mode: the webcam's frames go to /api/live as small JPEGs (one request
// in flight), and the boxes and names of the faces it follows are drawn over the picture.
// The names are steadied by the server (each face's answer is fused over its views).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const video = $("cam-video"), overlay = $("live-boxes"), start = $("live-start");
  const stop = $("live-stop"), download = $("live-download"), stats = $("live-stats");
  const error = $("error");
  if (!video || !overlay || !start) return;
  const SIDE = 640; // frames are sent at most 640 px wide
  const live = { on: false, session: "", last: null, delays: [], times: [] };
  const grab = document.createElement("canvas");

  const shown = (p) => String(p).replace(/_/g, " ");
  const pct = (p) => (100 * p >= 0.1 ? (100 * p).toFixed(0) + " %" : "<0.1 %");

  function label(face) {
    const top = face.ranking[0];
    const name = top.name || shown(top.person);
    return face.unknown ? "none of these (closest: " + name + ")" : name + " " + pct(top.probability);
  }

  function draw(ctx, doc, k) {
    ctx.lineWidth = Math.max(2, 3 * k);
    ctx.font = Math.round(Math.max(12, 15 * k)) + "px system-ui, sans-serif";
    for (const t of doc.tracks) {
      const [x, y, w, h] = t.face.box.map((v) => v * k);
      const colour = t.face.unknown ? "#b26b00" : "#1a7f37";
      ctx.strokeStyle = colour;
      ctx.strokeRect(x, y, w, h);
      const text = label(t.face);
      const tw = ctx.measureText(text).width + 8, th = Math.round(Math.max(16, 20 * k));
      ctx.fillStyle = colour;
      ctx.fillRect(x, Math.max(0, y - th), tw, th);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, x + 4, Math.max(0, y - th) + th - 5 * Math.max(1, k));
    }
  }

  function redraw() {
    overlay.width = video.clientWidth;
    overlay.height = video.clientHeight;
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    if (live.last) draw(ctx, live.last, overlay.width / live.last.size[0]);
    // what the boxes say, for screen readers (and tests)
    const names = live.last ? live.last.tracks.map((t) => label(t.face)) : [];
    overlay.setAttribute("aria-label", names.length ? "Faces: " + names.join("; ") : "No face");
  }

  function showStats() {
    const n = live.delays.length;
    if (!n) return;
    const span = (live.times[n - 1] - live.times[0]) / 1000;
    const rate = n > 1 && span > 0 ? ((n - 1) / span).toFixed(1) : "…";
    const sorted = [...live.delays].sort((a, b) => a - b);
    stats.textContent = "Live: " + rate + " answers/s, delay " +
      Math.round(sorted[Math.floor(n / 2)]) + " ms";
  }

  async function loop() {
    while (live.on) {
      if (!video.videoWidth) { await new Promise((r) => setTimeout(r, 100)); continue; }
      const k = Math.min(1, SIDE / video.videoWidth);
      grab.width = Math.round(video.videoWidth * k);
      grab.height = Math.round(video.videoHeight * k);
      grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
      const blob = await new Promise((r) => grab.toBlob(r, "image/jpeg", 0.7));
      if (!blob || !live.on) continue;
      const t0 = performance.now();
      let doc;
      try {
        const r = await fetch("/api/live?top=3&session=" + encodeURIComponent(live.session),
          { method: "POST", body: blob, headers: { "Content-Type": "image/jpeg" } });
        doc = await r.json();
        if (!r.ok) throw new Error(doc.detail || r.statusText);
      } catch (e) {
        error.textContent = "Live look-alike stopped: " + (e.message || e);
        error.hidden = false;
        stopLive();
        return;
      }
      const now = performance.now();
      live.delays.push(now - t0);
      live.times.push(now);
      if (live.delays.length > 30) { live.delays.shift(); live.times.shift(); }
      live.last = doc;
      redraw();
      showStats();
    }
  }

  function startLive() {
    live.on = true;
    live.session = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
    live.last = null; live.delays = []; live.times = [];
    overlay.hidden = stats.hidden = stop.hidden = download.hidden = false;
    start.hidden = true;
    stats.textContent = "Live: starting…";
    loop();
  }

  function stopLive() {
    const was = live.on;
    live.on = false;
    if (was && live.session) {
      fetch("/api/live?session=" + encodeURIComponent(live.session), { method: "DELETE" })
        .catch(() => {});
    }
    live.last = null;
    overlay.hidden = stop.hidden = download.hidden = true;
    start.hidden = video.hidden;
    redraw();
  }

  // "Download picture": the camera's frame at full size with the boxes and names of the moment.
  download.addEventListener("click", () => {
    if (!video.videoWidth) return;
    const c = document.createElement("canvas");
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    const ctx = c.getContext("2d");
    ctx.drawImage(video, 0, 0);
    if (live.last) draw(ctx, live.last, c.width / live.last.size[0]);
    c.toBlob((blob) => {
      if (!blob) return;
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "lookalike-live.png";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    }, "image/png");
  });

  start.addEventListener("click", startLive);
  stop.addEventListener("click", stopLive);
  // the webcam opened (app.js shows the video): offer live; closed or snapped: stop it
  video.addEventListener("playing", () => { if (!live.on) start.hidden = false; });
  for (const id of ["cam-stop", "cam-snap"]) {
    const b = $(id);
    if (b) b.addEventListener("click", () => { stopLive(); start.hidden = true; stats.hidden = true; });
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { stopLive(); start.hidden = true; }
  });
  window.addEventListener("resize", redraw);
})();
