// The message-log inspector's page: lists sessions and batch jobs, shows a session's lines as conversations
// between the director and the actor, follows a log still being written (Server-Sent Events) and draws each
// take's F0 and energy on a canvas. No framework, no build step: the DOM is built by h() below.
"use strict";

const API = "/logs/api";
const EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise", "contempt"];
const state = { listing: null, id: null, view: null, lines: new Map(), source: null, pending: new Set(),
  frame: 0, prosody: new Map() };

// -- helpers ------------------------------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}
const $ = (sel) => document.querySelector(sel);
const fmt = (x, d = 2) => (typeof x === "number" && isFinite(x) ? x.toFixed(d) : "–");
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "–");
async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || `${r.status} ${r.statusText}`);
  return body;
}
const sessionUrl = (id) => `${API}/sessions/${encodeURIComponent(id)}`;

// -- the list -----------------------------------------------------------------------------------------------
async function loadListing() {
  try {
    state.listing = await getJSON(`${API}/sessions`);
    $("#list-error").hidden = true;
  } catch (e) {
    $("#list-error").textContent = `Could not list the logs: ${e.message}`;
    $("#list-error").hidden = false;
    return;
  }
  $("#directory").textContent = state.listing.directory;
  renderListing();
}

function scalar(v) { return v === null || ["string", "number", "boolean"].includes(typeof v); }

function jobSummary(info) {
  // job.json as the batch job wrote it: its scalar fields and small maps of them (e.g. a state count)
  const parts = [];
  for (const [k, v] of Object.entries(info || {})) {
    if (scalar(v) && v !== null && v !== "") parts.push(`${k}: ${v}`);
    else if (v && typeof v === "object" && !Array.isArray(v) && Object.values(v).every(scalar) && Object.keys(v).length <= 6)
      parts.push(`${k}: ${Object.entries(v).map(([a, b]) => `${a} ${b}`).join(", ")}`);
  }
  return parts.slice(0, 8).join(" · ");
}

function jobLines(info) {
  // a job.json "lines" list naming each line's session log: its text and status label the log
  const out = new Map();
  for (const l of Array.isArray(info && info.lines) ? info.lines : []) if (l && l.session) out.set(String(l.session), l);
  return out;
}

function sessionItem(s, jobLine) {
  const badges = [];
  if (s.damage) badges.push(h("span", { class: s.damage.torn_tail ? "badge warn" : "badge bad" },
    s.damage.torn_tail ? "torn end" : "damaged"));
  if (s.kind === "plain") badges.push(h("span", { class: "badge" }, "dub log"));
  else if (!s.closed) badges.push(h("span", { class: "badge live" }, "open"));
  if (s.errors) badges.push(h("span", { class: "badge bad" }, `${s.errors} errors`));
  return h("a", { class: "session-item" + (s.id === state.id ? " selected" : ""), role: "listitem",
    href: `#session=${encodeURIComponent(s.id)}`, dataset: { id: s.id } },
    h("div", { class: "sid" }, s.id, badges),
    jobLine ? h("div", { class: "jline" }, `${jobLine.id || ""} ${jobLine.character ? jobLine.character + ": " : ""}` +
      `${jobLine.text || ""}`, jobLine.status ? h("span", { class: "badge" }, jobLine.status) : null) : null,
    h("div", { class: "smeta" }, `${when(s.first)} · ${plural(s.lines, "line")} · ${plural(s.takes, "take")} · ${plural(s.messages, "message")}`));
}

function renderListing() {
  const list = $("#session-list");
  const q = $("#list-filter").value.trim().toLowerCase();
  const match = (s) => !q || s.id.toLowerCase().includes(q) || (s.job || "").toLowerCase().includes(q);
  const byId = new Map(state.listing.sessions.map((s) => [s.id, s]));
  const loose = state.listing.sessions.filter((s) => !s.job && match(s));
  list.replaceChildren();
  if (!state.listing.sessions.length) list.append(h("p", { class: "muted" }, "No message logs in this folder yet."));
  if (loose.length) list.append(h("div", { class: "group-title" }, "Sessions"), ...loose.map((s) => sessionItem(s)));
  if (state.listing.jobs.length) list.append(h("div", { class: "group-title" }, "Batch jobs"));
  for (const job of state.listing.jobs) {
    const sessions = job.sessions.map((id) => byId.get(id)).filter((s) => s && match(s));
    if (q && !sessions.length && !job.id.toLowerCase().includes(q)) continue;
    const info = jobSummary(job.info);
    const lines = jobLines(job.info);
    const stem = (s) => s.path.split("/").pop().replace(/\.msgpack$/, "");
    list.append(h("div", { class: "job", dataset: { job: job.id } },
      h("div", { class: "job-title" }, `Job ${job.id}`, h("span", { class: "badge" }, plural(job.sessions.length, "line log"))),
      info ? h("div", { class: "job-info" }, info) : null,
      job.problem ? h("div", { class: "error" }, job.problem) : null,
      sessions.map((s) => sessionItem(s, lines.get(stem(s))))));
  }
}

// -- one session --------------------------------------------------------------------------------------------
async function openSession(id) {
  if (state.source) { state.source.close(); state.source = null; }
  state.id = id;
  state.lines.clear();
  state.pending.clear();
  document.querySelectorAll(".session-item").forEach((el) => el.classList.toggle("selected", el.dataset.id === id));
  $("#placeholder").hidden = true;
  $("#session").hidden = false;
  $("#session-title").textContent = id;
  $("#lines").replaceChildren(h("p", { class: "muted" }, "Reading the log…"));
  let view;
  try {
    view = await getJSON(sessionUrl(id));
  } catch (e) {
    $("#lines").replaceChildren(h("p", { class: "error" }, `Could not open ${id}: ${e.message}`));
    return;
  }
  if (state.id !== id) return;
  state.view = view;
  $("#export").href = `${sessionUrl(id)}/export.json`;
  $("#export").setAttribute("download", `${id}.json`);
  $("#lines").replaceChildren();
  for (const line of view.lines) state.lines.set(line.line, line);
  renderMeta();
  renderDamage(view.summary.damage);
  renderSessionFrames();
  fillEmotionFilter();
  follow(id, view);  // first, so that lines of a log being written read as running, not unfinished
  for (const line of view.lines) renderLine(line);
  applyFilters();
}

function renderMeta() {
  const s = state.view.summary;
  const job = s.job ? ` · job ${s.job}` : "";
  $("#session-meta").textContent = `${s.kind === "plain" ? "dub log" : "session log"} ${s.path}${job} · ` +
    `${plural(s.messages, "message")} · ${plural(state.lines.size, "line")} · ${s.bytes} bytes · ${when(s.first)} – ${when(s.last)}`;
}

function renderDamage(d) {
  const el = $("#damage");
  if (!d) { el.hidden = true; return; }
  el.className = "banner" + (d.torn_tail ? " torn" : "");
  el.textContent = `The log stops being readable at byte ${d.offset} of ${d.bytes}, after ${d.messages} messages: ` +
    `${d.problem}. Everything before it is shown.` +
    (d.torn_tail ? " (A torn last frame is what a crash leaves, or a frame still being written.)" : "");
  el.hidden = false;
}

function renderSessionFrames() {
  const box = $("#session-frames");
  box.replaceChildren();
  for (const m of state.view.session) {
    if (m.type === "session") {
      box.append(h("div", { class: "params" }, `opened${m.name ? ` as “${m.name}”` : ""}: voices ` +
        `${Object.keys(m.voices || {}).join(", ")} · ${m.sample_rate} Hz · up to ${m.max_takes} takes`));
    } else if (m.type === "closed") {
      box.append(h("div", { class: "params" }, `closed after ${plural(m.lines, "line")}: ${m.reason}`));
    } else if (m.type === "error") {
      box.append(h("div", { class: "bubble error" }, `${m.code}: ${m.message}`));
    }
  }
}

function fillEmotionFilter() {
  const sel = $("#emotion-filter");
  const seen = new Set([...state.lines.values()].map((l) => l.emotion).filter(Boolean));
  const keep = sel.value;
  sel.replaceChildren(h("option", { value: "" }, "every emotion"),
    ...[...EMOTIONS, ...[...seen].filter((e) => !EMOTIONS.includes(e))].map((e) =>
      h("option", { value: e, disabled: !seen.has(e) }, e)));
  sel.value = keep;
}

// -- a line as a conversation -------------------------------------------------------------------------------
function bars(probabilities, top) {
  const names = [...EMOTIONS.filter((e) => e in probabilities), ...Object.keys(probabilities).filter((e) => !EMOTIONS.includes(e))];
  return h("div", { class: "bars", role: "img", "aria-label": "emotion probabilities" },
    names.map((e) => {
      const p = probabilities[e] || 0;
      return h("div", { class: "bar-row" + (e === top ? " top" : ""), dataset: { emotion: e, p: p }, style: "display: contents" },
        h("span", { class: "bar-label" }, e),
        h("div", { class: "bar" }, h("div", { class: "bar-fill", style: `width: ${(100 * p).toFixed(1)}%` })),
        h("span", { class: "bar-value" }, fmt(p)));
    }));
}

function guidanceBlock(g, title) {
  const evidence = g.evidence || [];
  return h("div", { class: "bubble director guidance" },
    h("div", { class: "who" }, title),
    h("div", {}, h("strong", {}, g.emotion), ` · intensity ${fmt(g.intensity)} · valence ${fmt(g.valence)} · ` +
      `arousal ${fmt(g.arousal)}`, g.revision ? h("span", { class: "badge warn" }, `revision ${g.revision}`) : null),
    bars(g.probabilities || {}, g.emotion),
    h("p", { class: "direction" }, `“${g.direction}”`),
    h("div", { class: "params" }, `pace ×${fmt(g.pace)} · pitch ${fmt(g.pitch_shift_st, 1)} st · energy ${fmt(g.energy_db, 1)} dB`),
    evidence.length ? h("details", { class: "evidence-box" }, h("summary", {}, `evidence (${evidence.length} cues)`),
      h("table", { class: "evidence" }, h("tr", {}, h("th", {}, "cue"), h("th", {}, "weight"), h("th", {}, "says"), h("th", {}, "note")),
        evidence.map((ev) => {
          const best = Object.entries(ev.probabilities || {}).sort((a, b) => b[1] - a[1])[0];
          return h("tr", {}, h("td", {}, ev.cue), h("td", {}, fmt(ev.weight)),
            h("td", {}, best ? `${best[0]} ${fmt(best[1])}` : "–"), h("td", {}, ev.note || ""));
        }))) : null);
}

function referenceCard(r) {
  const status = h("span", { class: "ref-error" });
  const play = h("button", { class: "play-ref", type: "button", title: "play this reference clip's audio",
    onclick: () => playReference(r.clip_id, play, status) }, "▶");
  return h("div", { class: "reference", dataset: { clip: r.clip_id, modality: r.modality } },
    h("div", {}, play, " ", h("strong", {}, r.modality), ` ${r.clip_id} · similarity ${fmt(r.similarity, 3)}`,
      r.emotion ? h("span", { class: "badge" }, r.emotion) : null),
    h("div", { class: "caption" }, r.caption || h("span", { class: "muted" }, "no caption")), status);
}

let refAudio = null;
async function playReference(clip, button, status) {
  if (refAudio) { refAudio.pause(); refAudio = null; }
  const url = `${API}/references/${encodeURIComponent(clip)}.wav`;
  status.textContent = "";
  const r = await fetch(url, { method: "GET", credentials: "same-origin" });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    status.textContent = body.message || `${r.status}`;
    return;
  }
  refAudio = new Audio(URL.createObjectURL(await r.blob()));
  button.textContent = "■";
  refAudio.onended = refAudio.onpause = () => { button.textContent = "▶"; };
  refAudio.play().catch((e) => { status.textContent = `cannot play: ${e.message}`; });
}

function scoresTable(s) {
  const rows = [["duration error", `${fmt(s.duration_error_frames, 1)} frames`],
    ["AV sync offset", s.sync_offset_frames === null ? "–" : `${s.sync_offset_frames} frames`],
    ["sync confidence", fmt(s.sync_confidence)], ["speaker similarity", fmt(s.speaker_similarity)],
    ["emotion match", fmt(s.emotion_match)], ["heard as", s.predicted_emotion || "–"]];
  return h("table", { class: "scores" }, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))));
}

function takeBlock(line, t) {
  const sec = h("section", { class: "take", dataset: { take: t.take } });
  sec.append(h("div", { class: "take-head" }, h("h4", {}, `Take ${t.take}`),
    t.chosen ? h("span", { class: "badge good" }, "chosen") : null,
    t.take_message ? h("span", { class: "muted" }, `${fmt(t.take_message.duration_s)} s`)
      : (following() ? h("span", { class: "badge live" }, "performing") : h("span", { class: "badge warn" }, "unfinished in the log"))));
  if (t.take > 1 && t.guidance) sec.append(guidanceBlock(t.guidance, "Director — re-directed"));
  if (t.references.length) {
    sec.append(h("div", { class: "bubble director" }, h("div", { class: "who" }, `Director — ${t.references.length} references retrieved`),
      h("div", { class: "references" }, t.references.map(referenceCard))));
  }
  const actor = h("div", { class: "bubble actor" }, h("div", { class: "who" }, "Actor — the take"));
  if (t.audio) {
    const audio = h("audio", { controls: true, preload: "none", src: t.audio.wav, class: "take-audio" });
    const canvas = h("canvas", { class: "prosody", width: 600, height: 160, "aria-label": "F0 and energy" });
    audio.addEventListener("timeupdate", () => drawProsody(canvas, state.prosody.get(t.audio.prosody), audio.currentTime));
    audio.addEventListener("error", () => actor.append(h("p", { class: "error" }, "the take's audio could not be played")));
    actor.append(h("div", { class: "take-media" }, audio, canvas,
      h("span", { class: "muted" }, `${fmt(t.audio.seconds)} s · ${t.audio.sample_rate} Hz · ${t.audio.chunks} chunks`)));
    if (t.take_message) whenVisible(canvas, () => loadProsody(t.audio.prosody, canvas, audio));
  } else {
    actor.append(h("p", { class: "muted" }, t.take_message ? "no audio in this log (a dub log keeps the messages, not the audio)" : "…"));
  }
  sec.append(actor);
  if (t.review) {
    const r = t.review;
    sec.append(h("div", { class: "bubble director" }, h("div", { class: "who" }, "Director — review"),
      h("div", { class: "review " + (r.accepted ? "accepted" : "rejected") },
        r.accepted ? "✓ accepted: " : (r.revised ? "✗ re-directed: " : "✗ not accepted: "), r.reason),
      scoresTable(r.scores || {})));
  }
  return sec;
}

function lineHaystack(line) {
  const parts = [line.text, line.character, line.emotion, line.status];
  for (const m of line.messages) {
    if (m.guidance) parts.push(m.guidance.direction, ...(m.guidance.evidence || []).map((e) => e.note));
    if (m.revised) parts.push(m.revised.direction);
    if (m.references) parts.push(...m.references.map((r) => `${r.clip_id} ${r.caption} ${r.emotion || ""}`));
    if (m.reason) parts.push(m.reason);
    if (m.message) parts.push(m.message);
    if (m.warnings) parts.push(...m.warnings);
  }
  return parts.filter(Boolean).join(" \n ").toLowerCase();
}

function renderLine(line) {
  const old = document.querySelector(`.line[data-line="${line.line}"]`);
  if (old && [...old.querySelectorAll("audio")].some((a) => !a.paused)) {
    // never cut a take that is playing: the card is redrawn when it stops
    state.pending.add(line.line);
    old.querySelectorAll("audio").forEach((a) => a.addEventListener("pause", () => flushLine(line.line), { once: true }));
    return;
  }
  const statusClass = { done: "good", failed: "bad", cancelled: "warn", running: "live" }[line.status] || "";
  const statusText = line.status === "running" && !following() ? "unfinished in the log" : line.status;
  const card = h("article", { class: "line", dataset: { line: line.line, status: line.status, emotion: line.emotion || "",
    redirected: line.redirected ? "1" : "0", takes: line.takes.length, errors: line.errors.length } },
  h("div", { class: "line-head" }, h("h3", {}, `Line ${line.line}`),
    line.character ? h("span", {}, line.character) : null,
    h("span", { class: `badge ${statusClass}` }, statusText),
    line.emotion ? h("span", { class: "badge" }, line.emotion) : null,
    line.redirected ? h("span", { class: "badge warn" }, "re-directed") : null,
    h("span", { class: "muted" }, plural(line.takes.length, "take"))),
  h("div", { class: "bubble request" }, h("div", { class: "who" }, "The line"), line.text || h("span", { class: "muted" }, "(no text)")));
  if (line.perception) {
    const p = line.perception.summary || {};
    card.append(h("details", { class: "perception", hidden: !$("#show-perception").checked, open: true },
      h("summary", {}, "what the director saw (perception)"),
      h("div", { class: "kv" }, Object.entries(p).map(([k, v]) =>
        [h("span", { class: "muted" }, k), h("span", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]))));
  }
  if (line.guidance) card.append(guidanceBlock(line.guidance.guidance, "Director — guidance"));
  for (const t of line.takes) card.append(takeBlock(line, t));
  if (line.accept) card.append(h("div", { class: "bubble director accept" }, h("div", { class: "who" }, "Director — decision"),
    `take ${line.accept.chosen_take} chosen: ${line.accept.reason}`));
  for (const e of line.errors) card.append(h("div", { class: "bubble error" }, `${e.code}: ${e.message}`));
  if (line.line_end) {
    const le = line.line_end;
    card.append(h("div", { class: "params" }, `line ${le.status}: ${le.takes} takes, ${fmt(le.duration_s)} s of speech, ` +
      `${fmt(le.seconds)} s from arrival to end, first audio after ${fmt(le.first_chunk_s)} s`,
    (le.warnings || []).map((w) => h("div", { class: "warn" }, `warning: ${w}`))));
  }
  card.append(h("details", { class: "raw-messages", hidden: !$("#show-raw").checked }, h("summary", {}, `${line.messages.length} messages`),
    h("pre", { class: "raw" }, line.messages.map((m) => JSON.stringify(m)).join("\n"))));
  card.dataset.haystack = lineHaystack(line);
  if (old) old.replaceWith(card);
  else {
    const after = [...document.querySelectorAll(".line")].find((el) => Number(el.dataset.line) > line.line);
    $("#lines").insertBefore(card, after || null);
  }
  applyFilters(card);
}

function flushLine(number) {
  if (!state.pending.delete(number)) return;
  const line = state.lines.get(number);
  if (line) renderLine(line);
}

function applyFilters(only) {
  const q = $("#search").value.trim().toLowerCase();
  const emotion = $("#emotion-filter").value;
  const status = $("#status-filter").value;
  const cards = only ? [only] : [...document.querySelectorAll(".line")];
  for (const el of cards) {
    const d = el.dataset;
    let ok = (!q || d.haystack.includes(q)) && (!emotion || d.emotion === emotion);
    if (status === "redirected") ok = ok && d.redirected === "1";
    else if (status === "first") ok = ok && d.redirected === "0" && d.status === "done" && d.takes === "1";
    else if (status === "failed") ok = ok && (d.status === "failed" || d.status === "cancelled");
    else if (status === "errors") ok = ok && d.errors !== "0";
    else if (status === "running") ok = ok && d.status === "running";
    el.hidden = !ok;
  }
  const all = document.querySelectorAll(".line").length;
  const shown = document.querySelectorAll(".line:not([hidden])").length;
  $("#line-count").textContent = `${shown} of ${all} lines`;
}

// -- F0 and energy ------------------------------------------------------------------------------------------
// Computed on the server per take: only for the takes scrolled into view, two at a time.
const watched = new WeakMap();
const observer = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    observer.unobserve(e.target);
    const run = watched.get(e.target);
    if (run) run();
  }
}, { rootMargin: "300px" });
function whenVisible(el, run) { watched.set(el, run); observer.observe(el); }

const prosodyQueue = [];
let prosodyBusy = 0;
function loadProsody(url, canvas, audio) {
  if (state.prosody.has(url)) { drawProsody(canvas, state.prosody.get(url), audio.currentTime); return; }
  prosodyQueue.push([url, canvas, audio]);
  pumpProsody();
}
async function pumpProsody() {
  while (prosodyBusy < 2 && prosodyQueue.length) {
    const [url, canvas, audio] = prosodyQueue.shift();
    prosodyBusy += 1;
    getJSON(url).then((data) => { state.prosody.set(url, data); drawProsody(canvas, data, audio.currentTime); })
      .catch((e) => { canvas.replaceWith(h("p", { class: "error" }, `F0 and energy: ${e.message}`)); })
      .finally(() => { prosodyBusy -= 1; pumpProsody(); });
  }
}

function drawProsody(canvas, data, playhead) {
  if (!data || !canvas.isConnected) return;
  const ratio = window.devicePixelRatio || 1;
  const W = 600, H = 160;
  if (canvas.width !== W * ratio) { canvas.width = W * ratio; canvas.height = H * ratio; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  const L = 44, R = 40, T = 12, B = 22, pw = W - L - R, ph = H - T - B;
  const n = data.f0.length, dt = data.hop_ms / 1000, span = Math.max(data.seconds, dt);
  const x = (i) => L + (i * dt / span) * pw;
  // energy: dBFS from -80 to 0, a filled area on the right axis
  const eLo = -80, eHi = 0;
  const ey = (v) => T + ph * (1 - (Math.min(Math.max(v, eLo), eHi) - eLo) / (eHi - eLo));
  ctx.beginPath();
  ctx.moveTo(x(0), T + ph);
  data.energy_db.forEach((v, i) => ctx.lineTo(x(i), ey(v)));
  ctx.lineTo(x(n - 1), T + ph);
  ctx.closePath();
  ctx.fillStyle = "rgba(240, 160, 60, 0.35)";
  ctx.fill();
  // F0: voiced frames only, on the left axis
  const voiced = data.f0.filter((v) => v > 0);
  const fLo = voiced.length ? Math.max(50, Math.floor(Math.min(...voiced) / 25) * 25 - 25) : 50;
  const fHi = voiced.length ? Math.ceil(Math.max(...voiced) / 25) * 25 + 25 : 400;
  const fy = (v) => T + ph * (1 - (v - fLo) / (fHi - fLo));
  ctx.strokeStyle = "#2f6fdf";
  ctx.lineWidth = 2;
  ctx.beginPath();
  let drawing = false;
  data.f0.forEach((v, i) => {
    if (v > 0) { drawing ? ctx.lineTo(x(i), fy(v)) : ctx.moveTo(x(i), fy(v)); drawing = true; } else drawing = false;
  });
  ctx.stroke();
  // axes and labels
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.strokeRect(L, T, pw, ph);
  ctx.fillStyle = "#445"; ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.fillText(`${fHi}`, L - 4, T + 8); ctx.fillText(`${fLo}`, L - 4, T + ph);
  ctx.fillText("F0 Hz", L - 4, T + ph / 2);
  ctx.textAlign = "left";
  ctx.fillText(`${eHi} dB`, L + pw + 4, T + 8); ctx.fillText(`${eLo}`, L + pw + 4, T + ph);
  ctx.fillText("energy", L + pw + 4, T + ph / 2);
  ctx.textAlign = "center";
  for (let s = 0; s <= span + 1e-9; s += span > 4 ? 1 : 0.5) ctx.fillText(`${s.toFixed(1)} s`, L + (s / span) * pw, H - 6);
  if (playhead > 0) {
    const px = L + Math.min(playhead / span, 1) * pw;
    ctx.strokeStyle = "#c0392b"; ctx.beginPath(); ctx.moveTo(px, T); ctx.lineTo(px, T + ph); ctx.stroke();
  }
  canvas.dataset.drawn = String(n);
}

// -- following a log as it grows ----------------------------------------------------------------------------
function follow(id, view) {
  const live = $("#live");
  if (view.summary.closed || (view.summary.damage && !view.summary.damage.torn_tail)) {
    live.textContent = view.summary.closed ? "closed" : "stopped at damage";
    live.className = "badge";
    return;
  }
  const source = new EventSource(`${sessionUrl(id)}/follow?offset=${view.end_offset}`);
  state.source = source;
  live.textContent = "following"; live.className = "badge live";
  source.addEventListener("message", (ev) => {
    if (state.id !== id) return;
    const data = JSON.parse(ev.data);
    const s = state.view.summary;
    s.messages = data.messages;
    s.bytes = Math.max(s.bytes, data.next_offset);
    s.last = data.message.ts || s.last;
    if (s.damage && s.damage.torn_tail && data.next_offset > s.damage.offset) { s.damage = null; renderDamage(null); }
    if (data.line) { state.lines.set(data.line.line, data.line); state.pending.add(data.line.line); }
    else if (data.audio) {
      const line = state.lines.get(data.audio.line);
      const take = line && line.takes.find((t) => t.take === data.audio.take);
      if (take) { take.audio = data.audio; state.pending.add(line.line); }
    } else { state.view.session.push(data.message); renderSessionFrames(); }
    if (data.message.type === "closed") { source.close(); live.textContent = "closed"; live.className = "badge"; }
    schedule();
  });
  source.addEventListener("damage", (ev) => {
    const d = JSON.parse(ev.data);
    state.view.summary.damage = d;
    renderDamage(d);
    source.close();
    live.textContent = "stopped at damage"; live.className = "badge bad";
    for (const n of state.lines.keys()) state.pending.add(n);
    schedule();
  });
  source.onerror = () => { if (source.readyState === EventSource.CONNECTING) live.textContent = "reconnecting…"; };
  source.onopen = () => { live.textContent = "following"; };
}

function following() { return Boolean(state.source) && state.source.readyState !== EventSource.CLOSED; }

function schedule() {
  // audio chunks arrive many a second: redraw the lines they touched once per frame
  if (state.frame) return;
  state.frame = requestAnimationFrame(() => {
    state.frame = 0;
    for (const n of [...state.pending]) {
      const line = state.lines.get(n);
      state.pending.delete(n);
      if (line) renderLine(line);
    }
    renderMeta();
    fillEmotionFilter();
    applyFilters();
  });
}

// -- wiring -------------------------------------------------------------------------------------------------
function route() {
  const m = location.hash.match(/^#session=(.+)$/);
  if (m) openSession(decodeURIComponent(m[1]));
}
window.addEventListener("hashchange", route);
$("#refresh").addEventListener("click", loadListing);
$("#list-filter").addEventListener("input", renderListing);
$("#search").addEventListener("input", () => applyFilters());
$("#emotion-filter").addEventListener("change", () => applyFilters());
$("#status-filter").addEventListener("change", () => applyFilters());
$("#show-perception").addEventListener("change", (e) => document.querySelectorAll(".perception").forEach((d) => { d.hidden = !e.target.checked; }));
$("#show-raw").addEventListener("change", (e) => document.querySelectorAll(".raw-messages").forEach((d) => { d.hidden = !e.target.checked; }));
loadListing().then(route);
setInterval(() => { if (document.visibilityState === "visible") loadListing(); }, 5000);
