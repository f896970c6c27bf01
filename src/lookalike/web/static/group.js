// "Who is in these photos?": drop many photos, see the people found (POST /api/group),
// download groups.json. Independent of app.js.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const els = {
    file: $("group-file"), drop: $("group-drop"), status: $("group-status"),
    error: $("group-error"), result: $("group-result"), summary: $("group-summary"),
    list: $("group-list"), download: $("group-download"),
  };
  if (!els.file) return;
  let answer = null;

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = !message;
  }

  function strip(faces) {
    const div = document.createElement("div");
    div.className = "group-strip";
    faces.forEach((f) => {
      const fig = document.createElement("figure");
      if (f.unsure) fig.className = "unsure";
      fig.title = f.photo + (f.similarity != null ? ` — similarity ${f.similarity.toFixed(2)}` : "");
      const img = document.createElement("img");
      img.alt = f.photo;
      if (f.thumb) img.src = f.thumb;
      const cap = document.createElement("figcaption");
      cap.textContent = f.photo;
      fig.append(img, cap);
      div.append(fig);
    });
    return div;
  }

  function render(doc) {
    answer = doc;
    els.list.replaceChildren();
    const groups = doc.groups.slice().sort((a, b) => b.size - a.size || a.id - b.id);
    const nFaces = groups.reduce((n, g) => n + g.size, 0) + doc.unsorted.length;
    els.summary.textContent = `${nFaces} face(s): ${groups.length} ${groups.length === 1 ? "person" : "people"} ` +
      `seen more than once, ${doc.unsorted.length} face(s) that match nobody` +
      (doc.skipped.length ? `, ${doc.skipped.length} photo(s) skipped` : "") + ".";
    groups.forEach((g) => {
      const box = document.createElement("div");
      box.className = "group-person";
      const h = document.createElement("h3");
      h.textContent = `Person ${g.id} — ${g.size} face(s), tightness ${g.tightness.toFixed(2)}`;
      box.append(h, strip(g.faces));
      els.list.append(box);
    });
    if (doc.unsorted.length) {
      const box = document.createElement("div");
      box.className = "group-person";
      const h = document.createElement("h3");
      h.textContent = "Faces that match nobody";
      box.append(h, strip(doc.unsorted));
      els.list.append(box);
    }
    doc.skipped.forEach((s) => {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = `Skipped ${s.photo}: ${s.why}`;
      els.list.append(p);
    });
    els.result.hidden = false;
  }

  async function send(files) {
    files = Array.from(files || []);
    if (!files.length) return;
    showError("");
    const form = new FormData();
    files.forEach((f) => form.append("photo", f, f.name || "photo.jpg"));
    els.status.textContent = `Looking for faces in ${files.length} photo(s)…`;
    document.body.classList.add("busy");
    let r;
    try {
      r = await fetch("/api/group?thumbs=1", { method: "POST", body: form });
    } catch (e) {
      showError("The server could not be reached: " + e.message);
      return;
    } finally {
      document.body.classList.remove("busy");
      els.status.textContent = "";
    }
    let body = {};
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) {
      showError(body.detail || `The server answered ${r.status}.`);
      return;
    }
    render(body);
  }

  els.download.addEventListener("click", () => {
    if (!answer) return;
    const clean = JSON.parse(JSON.stringify(answer));
    [...clean.groups.flatMap((g) => g.faces), ...clean.unsorted].forEach((f) => { delete f.thumb; });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([JSON.stringify(clean, null, 1)], { type: "application/json" }));
    a.download = "groups.json";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  });
  window.LookalikeDrop(els.drop, els.file, send);  // app.js, loaded before this file
})();
