// lookalike page: "why do they look alike?" — both aligned faces under the heat map, the
// parts as bars; hovering, focusing or tapping a part outlines it on both faces.
"use strict";

window.LookalikeWhy = (function () {
  const SIDE = 150; // pixels each face is drawn at

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function loadImage(src) {
    return new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => resolve(null);
      img.src = src;
    });
  }

  // The heat map grid (rows of values 0..1) as a small red image, drawn smoothly scaled.
  function heatLayer(grid) {
    const n = grid.length;
    const c = document.createElement("canvas");
    c.width = c.height = n;
    const ctx = c.getContext("2d");
    const data = ctx.createImageData(n, n);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const v = Math.max(0, Math.min(1, grid[y][x]));
        const i = 4 * (y * n + x);
        data.data[i] = 214; data.data[i + 1] = 40; data.data[i + 2] = 57;
        data.data[i + 3] = Math.round(170 * v);
      }
    }
    ctx.putImageData(data, 0, 0);
    return c;
  }

  function draw(face, part, regions) {
    const ctx = face.canvas.getContext("2d");
    ctx.clearRect(0, 0, SIDE, SIDE);
    if (face.img) ctx.drawImage(face.img, 0, 0, SIDE, SIDE);
    if (face.heat && !part) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(face.heat, 0, 0, SIDE, SIDE);
    }
    face.canvas.dataset.highlight = part || "";
    if (!part || !regions[part]) return;
    const k = SIDE / 112;
    ctx.save();
    ctx.fillStyle = "rgba(255, 255, 255, 0.45)";
    ctx.fillRect(0, 0, SIDE, SIDE);
    ctx.globalCompositeOperation = "destination-out";
    for (const [cx, cy, rx, ry] of regions[part]) {
      ctx.beginPath();
      ctx.ellipse(cx * k, cy * k, rx * k, ry * k, 0, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.restore();
    if (face.img) { // the part itself stays as it is, outlined
      ctx.save();
      ctx.globalCompositeOperation = "destination-over";
      ctx.drawImage(face.img, 0, 0, SIDE, SIDE);
      ctx.restore();
    }
    ctx.strokeStyle = "#d62839";
    ctx.lineWidth = 2.5;
    for (const [cx, cy, rx, ry] of regions[part]) {
      ctx.beginPath();
      ctx.ellipse(cx * k, cy * k, rx * k, ry * k, 0, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  // Render `why` (the server's answer) into `holder`; `labels`: captions of the two faces.
  async function render(holder, why, labels) {
    holder.textContent = "";
    holder.hidden = !why;
    if (!why) return;
    if (!why.available) {
      holder.append(el("p", "muted why-none", "Why: " + why.sentence));
      return;
    }
    holder.append(el("h3", "why-title", "Why alike: " + why.sentence));
    const faces = el("div", "why-faces");
    const list = el("ul", "why-parts");
    const state = [];
    const images = why.images || [];
    const grids = (why.heatmap && why.heatmap.faces) || [];
    for (let k = 0; k < 2; k++) {
      const fig = el("figure", "why-face");
      const canvas = el("canvas", "why-canvas");
      canvas.width = canvas.height = SIDE;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${labels[k]}: the parts that make the likeness in red`);
      fig.append(canvas, el("figcaption", "muted", labels[k]));
      faces.append(fig);
      state.push({ canvas, img: null, heat: grids[k] ? heatLayer(grids[k]) : null });
    }
    why.parts.forEach((p, i) => {
      const li = el("li", "why-part" + (i === 0 ? " first" : ""));
      li.tabIndex = 0;
      li.dataset.part = p.part;
      li.setAttribute("role", "button");
      li.setAttribute("aria-label", `${p.name}: ${Math.round(100 * p.share)} % of the likeness; show it on both faces`);
      const head = el("div", "why-part-head");
      head.append(el("span", "why-part-name", p.name), el("span", "why-part-pct", `${Math.round(100 * p.share)} %`));
      const bar = el("div", "bar");
      const fill = el("div", "fill why-fill");
      fill.style.width = Math.max(0.5, 100 * p.share).toFixed(1) + "%";
      bar.append(fill);
      li.append(head, bar);
      const show = () => {
        Array.from(list.children).forEach((c) => c.classList.toggle("active", c === li));
        state.forEach((f) => draw(f, p.part, why.regions || {}));
      };
      const hide = () => {
        li.classList.remove("active");
        state.forEach((f) => draw(f, null, why.regions || {}));
      };
      li.addEventListener("mouseenter", show);
      li.addEventListener("focus", show);
      li.addEventListener("mouseleave", hide);
      li.addEventListener("blur", hide);
      li.addEventListener("click", show); // a tap shows it (hover and focus may come first)
      li.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); li.click(); }
      });
      list.append(li);
    });
    const body = el("div", "why-body");
    body.append(faces, list);
    holder.append(body, el("small", "muted why-note",
      (why.method === "contribution"
        ? "How much each part adds to the similarity in the network's last layer, against " +
          "the face's average: "
        : "How much of the similarity is lost when each part is hidden: ") +
      "what the network's likeness rests on — not genetics, kinship or attractiveness."));
    const loaded = await Promise.all(state.map((f, k) => (images[k] ? loadImage(images[k]) : null)));
    loaded.forEach((img, k) => { state[k].img = img; draw(state[k], null, why.regions || {}); });
  }

  return { render };
})();
