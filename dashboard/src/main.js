// The inferql dashboard: live stats (the `stats` subscription), a live table of
// recent jobs (the `jobs` query, then `jobEvents`), and a box that submits a text
// (`submitClassification`) and follows its job (the `job` subscription).
import { GraphQLRequestError, apiKey, connect, request, setApiKey, subscribe } from "./graphql.js";
import { FOLLOW, JOB_EVENTS, MODELS, RECENT_JOBS, STATS, SUBMIT } from "./operations.js";
import { Series, draw } from "./spark.js";

const MAX_ROWS = 30;
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELED"]);
const $ = (selector) => document.querySelector(selector);

const state = {
  client: null,
  stops: [],
  jobs: new Map(),
  series: {
    throughput: new Series(),
    queue: new Series(),
    p50: new Series(),
    p95: new Series(),
    batch: new Series(),
  },
};

// -- connection and API key ---------------------------------------------------

function setConnection(value) {
  const el = $("#connection");
  el.dataset.state = value;
  el.textContent = { live: "live", connecting: "connecting…", offline: "offline" }[value];
}

function showBanner(message) {
  const banner = $("#banner");
  banner.textContent = message ?? "";
  banner.hidden = !message;
}

function explain(error) {
  if (error instanceof GraphQLRequestError) {
    if (error.code === "UNAUTHENTICATED" || error.code === "FORBIDDEN") {
      return `${error.message} Enter an API key above.`;
    }
    return `${error.code}: ${error.message}`;
  }
  return String(error?.message ?? error);
}

function start() {
  for (const stop of state.stops.splice(0)) stop();
  state.client?.dispose();
  state.client = connect({ onState: setConnection });
  state.stops.push(
    subscribe(state.client, STATS, { interval: 1000 }, { next: (d) => showStats(d.stats), error: onStreamError }),
    subscribe(state.client, JOB_EVENTS, {}, { next: (d) => upsertJob(d.jobEvents.job), error: onStreamError }),
  );
  loadRecentJobs();
  loadModels();
}

function onStreamError(error) {
  showBanner(explain(error));
}

$("#api-key").value = apiKey();
$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setApiKey($("#api-key").value.trim());
  showBanner(null);
  start();
});
$("#key-clear").addEventListener("click", () => {
  $("#api-key").value = "";
  setApiKey("");
  start();
});

// -- stats --------------------------------------------------------------------

const number = (value, digits = 1) =>
  value === null || value === undefined ? "–" : Number(value).toFixed(digits);

// A rate below 1 keeps two significant digits, so one text a minute reads
// 0.017 texts/s rather than a misleading 0.0.
const rate = (value) =>
  value > 0 && value < 1 ? String(Number(value.toPrecision(2))) : number(value);

function showStats(stats) {
  const s = state.series;
  s.throughput.push(stats.textsPerSecond);
  s.queue.push(stats.queueDepth);
  s.p50.push(stats.latencyP50Ms);
  s.p95.push(stats.latencyP95Ms);
  s.batch.push(stats.meanBatchSize);

  $("#window").textContent = `last ${number(stats.windowSeconds, 0)} s`;
  $('[data-testid="stat-throughput"]').textContent = rate(stats.textsPerSecond);
  $('[data-testid="stat-queue"]').textContent = stats.queueDepth;
  $('[data-testid="stat-latency"]').textContent =
    `${number(stats.latencyP50Ms, 0)} / ${number(stats.latencyP95Ms, 0)}`;
  $('[data-testid="stat-batch"]').textContent = number(stats.meanBatchSize);
  $('[data-testid="stat-workers"]').textContent = stats.workersAlive;
  $('[data-testid="stat-batches"]').textContent = `${stats.batches} model calls`;
  for (const [status, count] of Object.entries(stats.jobs)) {
    $(`[data-testid="stat-${status}"]`).textContent = count;
  }
  draw($('[data-stat="throughput"] svg'), s.throughput);
  draw($('[data-stat="queue"] svg'), s.queue);
  draw($('[data-stat="latency"] svg'), s.p95, s.p50);
  draw($('[data-stat="batch"] svg'), s.batch);
}

// -- recent jobs ----------------------------------------------------------------

async function loadRecentJobs() {
  try {
    const data = await request(RECENT_JOBS, { first: MAX_ROWS });
    for (const edge of data.jobs.edges.slice().reverse()) upsertJob(edge.node);
  } catch (error) {
    showBanner(explain(error));
  }
}

function upsertJob(job) {
  const known = state.jobs.get(job.id);
  // Events may arrive out of order: never move a job back from its end.
  if (known && TERMINAL.has(known.status) && !TERMINAL.has(job.status)) return;
  state.jobs.set(job.id, job);
  const ids = [...state.jobs.keys()].sort().reverse();
  for (const id of ids.slice(MAX_ROWS)) state.jobs.delete(id);
  renderJobs(ids.slice(0, MAX_ROWS));
}

function renderJobs(ids) {
  const body = $("#job-rows");
  const rows = new Map([...body.children].map((row) => [row.dataset.jobId, row]));
  ids.forEach((id, index) => {
    const job = state.jobs.get(id);
    let row = rows.get(id);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.jobId = id;
      row.dataset.testid = "job-row";
    }
    fillRow(row, job);
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] ?? null);
    rows.delete(id);
  });
  for (const stale of rows.values()) stale.remove();
}

function fillRow(row, job) {
  row.dataset.status = job.status;
  const predictions = job.predictions ?? [];
  const labels = predictions
    .slice(0, 2)
    .map((p) => `<span class="label">${escape(p.label)}</span> ${number(p.score, 2)}`)
    .join(", ");
  const more = predictions.length > 2 ? ` <span class="more">+${predictions.length - 2}</span>` : "";
  const failed = job.error ? `<span class="error">${escape(job.error.code)}</span>` : "";
  row.innerHTML = `
    <td class="mono" title="${escape(job.id)}">…${escape(job.id.slice(-8))}</td>
    <td>${new Date(job.createdAt).toLocaleTimeString()}</td>
    <td>${escape(job.model.name)}@${escape(job.model.version)}</td>
    <td><span class="badge" data-status="${job.status}">${job.status}</span></td>
    <td>${job.progress.done}/${job.progress.total}</td>
    <td data-testid="job-predictions">${labels}${more}${failed}</td>
    <td>${duration(job)}</td>`;
}

function duration(job) {
  if (!job.finishedAt) return "";
  const ms = new Date(job.finishedAt) - new Date(job.createdAt);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// -- classify a text --------------------------------------------------------------

async function loadModels() {
  try {
    const data = await request(MODELS);
    const select = $("#model");
    const chosen = select.value;
    // First, and chosen unless the user picks another: no model, so the server's default.
    select.innerHTML =
      `<option value="">default model</option>` +
      data.models
        .map((m) => `<option value="${escape(m.name)}">${escape(m.name)}@${escape(m.latest.version)}</option>`)
        .join("");
    if (chosen) select.value = chosen;
  } catch (error) {
    showBanner(explain(error));
  }
}

$("#submit-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("#text").value.trim();
  if (!text) return;
  const button = $("#submit");
  button.disabled = true;
  try {
    const data = await request(SUBMIT, { input: { texts: [text], model: $("#model").value || null } });
    const job = data.submitClassification;
    upsertJob(job);
    showResult(job, [job.status]);
    follow(job, [job.status]);
  } catch (error) {
    showBanner(explain(error));
  } finally {
    button.disabled = false;
  }
});

function follow(job, steps) {
  const seen = [...steps];
  const stop = subscribe(state.client, FOLLOW, { id: job.id }, {
    next: (data) => {
      const event = data.job;
      if (seen.at(-1) !== event.type) seen.push(event.type);
      upsertJob(event.job);
      showResult(event.job, seen);
    },
    error: (error) => showBanner(explain(error)),
    complete: () => {
      const index = state.stops.indexOf(stop);
      if (index >= 0) state.stops.splice(index, 1);
    },
  });
  state.stops.push(stop);
}

function showResult(job, steps) {
  const result = $("#result");
  result.hidden = false;
  result.dataset.status = job.status;
  result.dataset.jobId = job.id;
  const prediction = job.predictions?.[0];
  const scores = (prediction?.scores ?? [])
    .map(
      (s) => `<li><span>${escape(s.label)}</span>
        <meter min="0" max="1" value="${s.score}"></meter> ${number(s.score, 3)}</li>`,
    )
    .join("");
  result.innerHTML = `
    <p class="steps">${steps.map((s) => `<span class="badge" data-status="${s}">${s}</span>`).join(" → ")}</p>
    ${
      prediction
        ? `<p class="answer"><span class="label" data-testid="result-label">${escape(prediction.label)}</span>
             ${number(prediction.score, 3)}${prediction.cached ? " (cached)" : ""}</p><ul class="scores">${scores}</ul>`
        : ""
    }
    ${job.error ? `<p class="error">${escape(job.error.code)}: ${escape(job.error.message)}</p>` : ""}
    <p class="meta mono">job ${escape(job.id)} · ${duration(job)}</p>`;
}

start();
