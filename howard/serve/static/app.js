// The page of `howard serve`: a form that posts a job, then the job's progress, polled.
"use strict";

const $ = (id) => document.getElementById(id);
const ACTIVE = ["queued", "running"];
const STAGES = {starting: "starting", videos: "encoding the videos", zip: "writing the zip",
                finished: "finishing"};
const LABELS = {zip: "RGBA PNG sequence (.zip)", mov: "ProRes 4444 with alpha (.mov)",
                webm: "WebM with alpha (.webm)", mp4: "MP4 composite (.mp4)"};
let current = null, timer = null, shownFrame = null, green = "#00b140";

async function api(path, options) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new Error((body && body.detail) || `${res.status} ${res.statusText}`);
  return body;
}

function say(id, text) {
  const el = $(id);
  el.textContent = text || "";
  el.hidden = !text;
}

// "--window 1 --premultiply --sample-pixels=4000" -> [["window", "1"], ["premultiply", "true"], ...]
function parseOptions(text) {
  const words = text.trim().split(/\s+/).filter(Boolean), pairs = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (!word.startsWith("--") || word.length < 3)
      throw new Error(`"${word}" is not an option: write them as --name value`);
    const eq = word.indexOf("=");
    if (eq > 0) { pairs.push([word.slice(2, eq), word.slice(eq + 1)]); continue; }
    const next = words[i + 1];
    if (next === undefined || next.startsWith("--")) pairs.push([word.slice(2), "true"]);
    else { pairs.push([word.slice(2), next]); i++; }
  }
  return pairs;
}

function formData() {
  const data = new FormData();
  for (const role of ["subject", "plate"]) {
    const input = $(role);
    if (!input.files.length) throw new Error(`choose the ${role === "plate" ? "clean plate" : role} file`);
    data.append(role, input.files[0]);
  }
  const bg = document.querySelector("input[name=bg]:checked").value;
  if (bg === "file") {
    if (!$("background").files.length) throw new Error("choose the background image or video");
    data.append("background", $("background").files[0]);
  } else {
    data.append("background_colour", bg === "green" ? green : bg === "colour" ? $("colour").value : "none");
  }
  const outputs = [...document.querySelectorAll("input[name=out]:checked")].map((c) => c.value);
  data.append("outputs", outputs.join(","));
  for (const [name, value] of parseOptions($("options").value)) data.append(name, value);
  return data;
}

$("job-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("form-error", "");
  $("start").disabled = true;
  try {
    const job = await api("/api/jobs", {method: "POST", body: formData()});
    show(job.id);
  } catch (err) {
    say("form-error", err.message);
  } finally {
    $("start").disabled = false;
  }
  refreshList();
});

// the colour picker and the background file choose their own radio button
$("colour").addEventListener("input", () => { document.querySelector("input[value=colour]").checked = true; });
$("background").addEventListener("change", () => { document.querySelector("input[value=file]").checked = true; });

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "--:--";
  const s = Math.round(seconds), m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

function show(id) {
  current = id;
  shownFrame = null;
  $("job").hidden = false;
  clearTimeout(timer);
  poll();
}

async function poll() {
  const id = current;
  let job;
  try { job = await api(`/api/jobs/${id}`); } catch (err) {
    if (id === current) { say("job-error", err.message); $("job-state").textContent = "gone"; }
    return;
  }
  if (id !== current) return;
  render(job);
  if (ACTIVE.includes(job.state)) timer = setTimeout(poll, 500);
  else refreshList();
}

function render(job) {
  $("job-name").textContent = job.subject;
  $("job-state").textContent = job.state;
  $("job-state").className = `state ${job.state}`;
  const frames = job.frames || 0;
  $("progress").value = frames ? Math.round(100 * job.done / frames) : 0;
  let text = frames ? `${job.done} / ${frames} frames` : "waiting for the first frame";
  if (job.fps) text += ` · ${job.fps.toFixed(2)} frames/s`;
  if (job.state === "running" && job.stage === "matte") text += ` · ${clock(job.seconds_left)} left`;
  if (job.state === "running" && STAGES[job.stage]) text += ` · ${STAGES[job.stage]}`;
  if (job.state === "queued") text = "queued: waiting for the jobs before it";
  $("progress-text").textContent = text;
  say("job-error", job.error);
  $("cancel").hidden = !ACTIVE.includes(job.state);
  if (job.preview && job.done !== shownFrame) {
    shownFrame = job.done;
    $("preview").src = `${job.preview}?frame=${job.done}`;
    $("preview-caption").textContent = job.background === "none"
      ? "newest finished frame (transparent where the background was)"
      : `newest finished frame, over ${job.background}`;
  }
  $("preview-box").hidden = !job.preview;
  $("preview-box").classList.toggle("transparent", job.background === "none");
  const list = $("fallback-list");
  list.replaceChildren(...job.fallbacks.map((f) => {
    const li = document.createElement("li");
    li.textContent = `frame ${f.frame}: ${f.reason}`;
    return li;
  }));
  $("fallbacks").hidden = !job.fallbacks.length;
  $("downloads").replaceChildren(...Object.entries(job.files).map(([kind, url]) => {
    const li = document.createElement("li"), a = document.createElement("a");
    a.href = url;
    a.download = "";
    a.textContent = `Download ${LABELS[kind] || kind}`;
    a.dataset.kind = kind;
    li.append(a);
    return li;
  }));
}

$("cancel").addEventListener("click", async () => {
  if (!current) return;
  $("cancel").disabled = true;
  try {
    await api(`/api/jobs/${current}`, {method: "DELETE"});
  } catch (err) {
    say("job-error", err.message);
  } finally {
    $("cancel").disabled = false;
  }
  clearTimeout(timer);
  poll();
});

async function refreshList() {
  let jobs;
  try { jobs = (await api("/api/jobs")).jobs; } catch (err) { return; }
  $("no-jobs").hidden = jobs.length > 0;
  $("job-list").replaceChildren(...jobs.map((job) => {
    const row = document.createElement("tr"), link = document.createElement("a");
    row.dataset.id = job.id;
    link.href = "#";
    link.textContent = job.subject;
    link.addEventListener("click", (e) => { e.preventDefault(); show(job.id); });
    const state = document.createElement("span");
    state.className = `state ${job.state}`;
    state.textContent = job.state;
    const action = document.createElement("button");
    action.type = "button";
    action.textContent = ACTIVE.includes(job.state) ? "Cancel" : "Remove";
    action.addEventListener("click", async () => {
      try { await api(`/api/jobs/${job.id}`, {method: "DELETE"}); } catch (err) { /* listed again below */ }
      if (job.id === current) poll();
      refreshList();
    });
    const cells = [link, state, job.frames ? `${job.done} / ${job.frames}` : "",
                   new Date(job.created * 1000).toLocaleString(), action];
    row.replaceChildren(...cells.map((c) => {
      const td = document.createElement("td");
      td.append(c);
      return td;
    }));
    return row;
  }));
}

api("/api/config").then((config) => {
  green = config.green;
  $("limit").textContent = `up to ${config.max_upload_mb} MB per job`;
  $("version").textContent = config.version;
}).catch(() => {});
refreshList();
setInterval(refreshList, 3000);
