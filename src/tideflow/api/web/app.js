// The Tideflow web UI: a thin client of the platform REST API (the same calls as `tide` and curl).
// Views by URL hash: #/flow[/dataset|recipe/NAME], #/builds[/ID], #/models[/NAME], #/scenarios[/NAME],
// #/services[/NAME]. The API key lives in this tab's sessionStorage only.

import {api, ApiError, clear, enc, h, key, seconds, shown, table, when} from "./dom.js";
import {drawFlow, graphOf} from "./flow.js";

const main = document.getElementById("main");
const banner = document.getElementById("error");
let refresh = null; // the timer of a view that polls (builds, scenario runs); stopped on navigation
let generation = 0; // bumped on navigation: a view that finishes loading after it does not draw

/** Draws a view's page unless the user has gone elsewhere since the view started loading. */
function render(started, ...nodes) {
  if (started !== generation) return false;
  clear(main).append(...nodes);
  return true;
}

function showError(error) {
  banner.hidden = false;
  clear(banner).append(error instanceof ApiError ? `${error.message} (${error.status} from ${error.path})` : String(error));
}

function hideError() {
  banner.hidden = true;
  clear(banner);
}

function poll(started, fn, everyMs) {
  if (started !== generation) return;
  refresh = setTimeout(async () => {
    refresh = null;
    if (started === generation) await fn().catch(showError);
  }, everyMs);
}

/** Hyperparameters as the CLI prints them: "max_depth=6, learning_rate=0.1321" (4 significant digits;
 * the exact values in the tooltip), so a long trial wraps inside its table instead of widening the page. */
function paramsText(params) {
  return Object.entries(params || {}).map(([k, v]) =>
    `${k}=${typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(4)) : JSON.stringify(v)}`).join(", ");
}

function section(title, ...children) {
  return h("section", {class: "card"}, h("h2", {}, title), ...children);
}

function pre(text, cls = "sql") {
  return h("pre", {class: cls}, text);
}

function badge(text) {
  return h("span", {class: `badge ${String(text).toLowerCase()}`}, text);
}

function facts(pairs) {
  return h("dl", {class: "facts"}, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function links(names, prefix) {
  if (!names.length) return "none";
  return names.map((n, i) => [i ? ", " : "", h("a", {href: `${prefix}/${enc(n)}`}, n)]);
}

// ------------------------------------------------------------------ sign in

function signIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  const input = h("input", {type: "password", id: "api-key", autocomplete: "off", required: true,
    placeholder: "one of TIDE_PLATFORM_KEYS"});
  const note = h("p", {class: "hint", id: "sign-in-message"}, message || "");
  const form = h("form", {class: "card sign-in", id: "sign-in",
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("/projects/current", {apiKey: input.value});
        key.set(input.value);
        route();
      } catch (error) {
        clear(note).append(error instanceof ApiError && error.status === 401
          ? "This key is not one of the platform's keys." : String(error));
      }
    }},
  h("h2", {}, "Sign in"),
  h("label", {for: "api-key"}, "API key"), input,
  h("button", {type: "submit"}, "Sign in"), note);
  clear(main).append(form);
  input.focus();
}

// ------------------------------------------------------------------ the Flow

async function flowView(kind, name) {
  if (!["dataset", "recipe"].includes(kind) || !name) kind = name = undefined;  // #/flow/nonsense: the Flow
  const started = generation;
  const [datasets, recipes] = await Promise.all([api("/datasets"), api("/recipes")]);
  const graph = graphOf(datasets, recipes);
  const selected = kind ? `${kind === "dataset" ? "d" : "r"}:${name}` : null;
  const panel = h("aside", {class: "panel", id: "panel"});
  const svg = drawFlow(graph, selected, (node) => {
    location.hash = `#/flow/${node.kind}/${enc(node.name)}`;
  });
  if (!render(started, h("div", {class: "flow-page"},
    h("div", {class: "flow-canvas"}, svg,
      h("p", {class: "legend"}, h("span", {class: "key dataset"}, "dataset"), h("span", {class: "key virtual"}, "virtual"),
        h("span", {class: "key recipe"}, "recipe"), ` ${datasets.length} datasets, ${recipes.length} recipes`)),
    panel))) return;
  if (!kind) {
    panel.append(section("The Flow", h("p", {}, "Select a dataset or a recipe to see its schema, rows, SQL and checks."),
      buildForm(datasets.map((d) => d.name))));
  } else if (kind === "dataset") {
    await datasetPanel(panel, name);
  } else {
    await recipePanel(panel, name);
  }
}

async function datasetPanel(panel, name) {
  const d = await api(`/datasets/${enc(name)}`);
  const rows = h("div", {id: "preview"});
  const checks = h("div", {id: "checks"});
  panel.append(section(`Dataset ${d.name}`,
    d.description ? h("p", {}, d.description) : null,
    facts([["connection", d.connection], ["stored as", d.kind === "file" ? d.path : d.table],
      ["virtual", d.virtual ? "yes (a CTE of its readers, never stored)" : "no"],
      ["written by", d.produced_by ? links([d.produced_by], "#/flow/recipe") : "a source"],
      ["read by", links(d.consumed_by, "#/flow/recipe")], ["file", d.file]]),
    h("div", {class: "actions"},
      h("button", {id: "run-checks", disabled: d.virtual, onclick: () => runChecks(name, checks)},
        `Run checks (${d.checks})`),
      d.produced_by ? buildButton([name], "Build this dataset") : null)));
  panel.append(section("Rows", rows), checks);
  if (d.virtual) {
    rows.append(h("p", {class: "hint"}, "A virtual dataset has no rows of its own."));
    return;
  }
  try {
    const [schema, preview] = await Promise.all([api(`/datasets/${enc(name)}/schema`),
      api(`/datasets/${enc(name)}/preview?limit=20`)]);
    rows.append(h("p", {class: "hint"}, `${Object.keys(schema.columns).length} columns; first ${preview.count} rows`),
      h("div", {class: "scroll"}, table(preview.columns, preview.rows, (row, c) => shown(row[c]))),
      h("details", {}, h("summary", {}, "Schema"),
        table(["column", "type"], Object.entries(schema.columns), (pair, c) => (c === "column" ? pair[0] : pair[1]))));
  } catch (error) {
    rows.append(h("p", {class: "hint"}, `No rows to show: ${error.message}`));
  }
}

async function runChecks(name, where) {
  clear(where).append(h("p", {class: "hint"}, "Computing metrics and checks in the database…"));
  try {
    const report = await api(`/datasets/${enc(name)}/checks`);
    clear(where).append(section(`Checks: ${report.outcome}`,
      table(["check", "outcome", "expected", "got", "message"], report.checks,
        (c, col) => (col === "outcome" ? badge(c.outcome) : c[col])),
      h("h3", {}, "Metrics"),
      table(["metric", "value"], report.metrics, (m, col) => (col === "metric" ? m.metric : m.shown))));
  } catch (error) {
    clear(where).append(h("p", {class: "hint"}, error.message));
  }
}

async function recipePanel(panel, name) {
  const [r, explain] = await Promise.all([api(`/recipes/${enc(name)}`),
    api(`/recipes/${enc(name)}/explain`).catch((error) => ({error}))]);
  const sql = h("div", {id: "sql"});
  const dialect = h("select", {id: "dialect", onchange: () => showSql(name, dialect.value, sql)},
    ["", "duckdb", "postgres", "spark", "snowflake"].map((v) => h("option", {value: v}, v || "its connection's")));
  panel.append(section(`Recipe ${r.name}`,
    facts([["type", r.type], ["inputs", links(r.inputs, "#/flow/dataset")], ["outputs", links(r.outputs, "#/flow/dataset")],
      ["file", r.file]]),
    h("div", {class: "actions"}, buildButton(r.outputs, "Build its outputs"))));
  if (explain.error) {
    panel.append(section("Explain", h("p", {class: "hint"}, explain.error.message)));
  } else {
    panel.append(section("Explain",
      facts([["engine", badge(explain.engine)], ["why", explain.reason], ["connection", explain.connection],
        ["outdated", explain.fused_into ? "" : (explain.outdated_reason ? `yes: ${explain.outdated_reason}` : "no: up to date")],
        ["fused into", explain.fused_into],
        ["virtual outputs", explain.virtual_outputs.join(", ")]]),
      Object.entries(explain.sql).map(([out, text]) => [h("h3", {}, `SQL of ${out}`), pre(text)])));
  }
  panel.append(section("SQL by dialect", h("label", {for: "dialect"}, "Dialect "), dialect, sql));
  panel.append(section("Spec", pre(JSON.stringify(r.spec, null, 2), "json"), r.code ? [h("h3", {}, "Code"), pre(r.code)] : null));
}

async function showSql(name, dialect, where) {
  try {
    const got = await api(`/recipes/${enc(name)}/sql${dialect ? `?dialect=${enc(dialect)}` : ""}`);
    clear(where).append(...Object.entries(got.sql).flatMap(([out, text]) => [h("h3", {}, out), pre(text)]));
  } catch (error) {
    clear(where).append(h("p", {class: "hint"}, error.message));
  }
}

// ------------------------------------------------------------------ builds

function buildButton(targets, label) {
  return h("button", {class: "build", onclick: () => startBuild({targets, mode: "smart", engine: null})}, label);
}

function buildForm(datasetNames) {
  const targets = h("select", {id: "build-targets", multiple: true, size: Math.min(8, datasetNames.length)},
    datasetNames.map((n) => h("option", {value: n}, n)));
  const mode = h("select", {id: "build-mode"}, ["smart", "forced", "dataset", "downstream"].map((m) => h("option", {value: m}, m)));
  const engine = h("select", {id: "build-engine"}, [["", "auto"], ["sql", "sql"], ["memory", "memory"]]
    .map(([v, label]) => h("option", {value: v}, label)));
  return h("form", {class: "build-form", id: "build-form", onsubmit: (event) => {
    event.preventDefault();
    const chosen = [...targets.selectedOptions].map((o) => o.value);
    startBuild({targets: chosen.length ? chosen : null, mode: mode.value, engine: engine.value || null});
  }},
  h("h3", {}, "Build"),
  h("label", {for: "build-targets"}, "Datasets (none selected: all)"), targets,
  h("label", {for: "build-mode"}, "Mode"), mode,
  h("label", {for: "build-engine"}, "Engine"), engine,
  h("button", {type: "submit"}, "Start build"));
}

async function startBuild(request) {
  try {
    const started = await api("/builds", {method: "POST", body: request});
    location.hash = `#/builds/${enc(started.id)}`;
  } catch (error) {
    showError(error);
  }
}

async function buildsView(id) {
  const started = generation;
  const builds = await api("/builds");
  const list = section("Builds started by this server",
    builds.length ? table(["build", "status", "targets", "mode", "started", "time", "message"], builds, (b, c) => {
      if (c === "build") return h("a", {href: `#/builds/${enc(b.id)}`}, b.id);
      if (c === "status") return badge(b.status);
      if (c === "targets") return b.targets && b.targets.length ? b.targets.join(", ") : "all";
      if (c === "started") return when(b.started_at ?? b.created_at);
      if (c === "time") return seconds(b.seconds);
      return b[c];
    }) : h("p", {class: "hint"}, "No build yet: start one from the Flow."));
  const detail = [];
  const current = id ? builds.find((b) => b.id === id) ?? await api(`/builds/${enc(id)}`) : null;
  if (current) {
    detail.push(section(`Build ${current.id}`,
      facts([["status", badge(current.status)], ["mode", current.mode], ["engine", current.engine ?? "auto"],
        ["message", current.message], ["time", seconds(current.seconds)]]),
      table(["recipe", "engine", "status", "seconds", "rows", "bytes through Python", "error"], current.runs, (r, c) => {
        if (c === "status") return badge(r.status);
        if (c === "seconds") return seconds(r.seconds);
        if (c === "rows") return Object.entries(r.rows).map(([k, v]) => `${k}: ${v.toLocaleString()}`).join(", ");
        if (c === "bytes through Python") return r.bytes_through_python.toLocaleString();
        return r[c];
      })));
  }
  render(started, h("div", {class: "page", id: "builds"}, detail, list));
  if (builds.some((b) => b.status === "queued" || b.status === "running")) poll(started, () => buildsView(id), 700);
}

// ------------------------------------------------------------------ Lab and saved models

async function modelsView(name) {
  const started = generation;
  const models = await api("/models");
  const list = section("Saved models", models.length
    ? table(["model", "active version", "versions", "algorithm", "metric", "score"], models, (m, c) => {
      if (c === "model") return h("a", {href: `#/models/${enc(m.name)}`}, m.name);
      if (c === "active version") return m.active_version ?? "none";
      return m[c] ?? "";
    })
    : h("p", {class: "hint"}, "No saved model yet: `tide lab train` saves one."));
  const parts = [list];
  if (name) {
    const [detail, board] = await Promise.all([api(`/models/${enc(name)}`),
      api(`/lab/${enc(name)}/leaderboard`).catch(() => null)]);
    parts.unshift(section(`Model ${detail.name}`,
      table(["version", "created", "algorithm", "metric", "score", "active"], detail.all_versions, (v, c) => {
        if (c === "created") return when(v.created_at);
        if (c === "active") {
          return v.active ? badge("active") : h("button", {class: "activate", onclick: async () => {
            try {
              await api(`/models/${enc(name)}/activate`, {method: "POST", body: {version: v.version}});
              modelsView(name);
            } catch (error) {
              showError(error);
            }
          }}, `Activate v${v.version}`);
        }
        return v[c] ?? "";
      })));
    const evaluations = await api(`/models/${enc(name)}/evaluations?limit=20`).catch(() => []);
    if (evaluations.length) {
      parts.splice(1, 0, section("Drift evaluations",
        table(["when", "version", "source", "rows", "drift score", "drifting features", "alarm"], evaluations, (e, c) => {
          if (c === "when") return when(e.created_at);
          if (c === "drift score") return e.drift_score === null ? "" : e.drift_score.toFixed(3);
          if (c === "drifting features") return e.drifting_features.join(", ");
          if (c === "alarm") return e.alarm ? badge("alarm") : "no";
          return e[c];
        })));
    }
    if (board && board.trials.length) {
      parts.splice(1, 0, section(`Leaderboard (${board.metric}, ${board.higher_is_better ? "higher" : "lower"} is better)`,
        table(["rank", "trial", "algorithm", "score", "status", "params", "seconds"], board.trials, (t, c) => {
          if (c === "trial") return t.trial_id;
          if (c === "params") return h("span", {title: JSON.stringify(t.params)}, paramsText(t.params));
          if (c === "seconds") return seconds(t.seconds);
          return t[c] ?? "";
        })));
    }
  }
  render(started, h("div", {class: "page", id: "models"}, parts));
}

// ------------------------------------------------------------------ scenarios and services

async function scenariosView(name) {
  const started = generation;
  const scenarios = await api("/scenarios");
  const parts = [section("Scenarios", scenarios.length
    ? table(["scenario", "triggers", "steps", "enabled", "run"], scenarios, (sc, c) => {
      if (c === "scenario") return [h("a", {href: `#/scenarios/${enc(sc.name)}`}, sc.name), sc.error ? h("p", {class: "hint"}, sc.error) : null];
      if (c === "triggers" || c === "steps") return sc[c].join(", ");
      if (c === "enabled") return sc.enabled ? "yes" : "no";
      return h("button", {class: "run", disabled: Boolean(sc.error), onclick: async () => {
        try {
          await api(`/scenarios/${enc(sc.name)}/run`, {method: "POST", body: {params: {}}});
          location.hash = `#/scenarios/${enc(sc.name)}`;
          scenariosView(sc.name);
        } catch (error) {
          showError(error);
        }
      }}, "Run now");
    })
    : h("p", {class: "hint"}, "No scenario: add one under scenarios/."))];
  if (name) {
    const runs = await api(`/scenarios/${enc(name)}/runs?limit=20`);
    parts.push(section(`Runs of ${name}`, runs.length
      ? table(["run", "trigger", "outcome", "started", "time", "message"], runs, (r, c) => {
        if (c === "run") return r.run_id;
        if (c === "outcome") return badge(r.outcome);
        if (c === "started") return when(r.started_at);
        if (c === "time") return seconds(r.seconds);
        return r[c];
      })
      : h("p", {class: "hint"}, "Never run.")));
    if (runs.some((r) => r.finished_at === null)) poll(started, () => scenariosView(name), 1000);
  }
  render(started, h("div", {class: "page", id: "scenarios"}, parts));
}

async function servicesView(name) {
  const started = generation;
  const services = await api("/services");
  const parts = [section("API services", services.length
    ? table(["service", "endpoints", "autoscaling", "description"], services, (sv, c) => {
      if (c === "service") return [h("a", {href: `#/services/${enc(sv.name)}`}, sv.name), sv.error ? h("p", {class: "hint"}, sv.error) : null];
      if (c === "endpoints") return sv.endpoints.map((e) => `${e.name} (${e.type})`).join(", ");
      if (c === "autoscaling") return sv.autoscaling ? "yes" : "no";
      return sv[c];
    })
    : h("p", {class: "hint"}, "No API service: add one under api/."))];
  if (name) {
    const detail = await api(`/services/${enc(name)}?decisions=50`);
    parts.push(section(`Replica history of ${name}`, detail.decisions.length
      ? table(["time", "replicas", "ready", "metric", "value", "reason"], detail.decisions, (d, c) => {
        if (c === "time") return when(d.time);
        if (c === "replicas") return `${d.replicas_before} → ${d.replicas_after}`;
        if (c === "value") return d.value ?? "";
        return d[c];
      })
      : h("p", {class: "hint"}, "Never served with autoscaling."),
    detail.status ? [h("h3", {}, "Last status"), pre(JSON.stringify(detail.status, null, 2), "json")] : null));
  }
  render(started, h("div", {class: "page", id: "services"}, parts));
}

// ------------------------------------------------------------------ routing

const VIEWS = {
  flow: (rest) => flowView(rest[0], rest[1]),
  builds: (rest) => buildsView(rest[0]),
  models: (rest) => modelsView(rest[0]),
  scenarios: (rest) => scenariosView(rest[0]),
  services: (rest) => servicesView(rest[0]),
};

async function route() {
  generation += 1;
  if (refresh) clearTimeout(refresh);
  refresh = null;
  hideError();
  if (!key.get()) return signIn();
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/").map((part) => decodeURIComponent(part));
  const known = Object.hasOwn(VIEWS, name);  // an unknown or mistyped view shows the Flow, not a 404 of its words
  const view = known ? name : "flow";
  document.getElementById("nav").hidden = false;
  document.getElementById("sign-out").hidden = false;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === view);
  try {
    const project = await api("/projects/current");
    document.getElementById("project-name").textContent = project.name;
    document.title = `${project.name} · Tideflow`;
    await VIEWS[view](known ? rest.filter((part) => part !== "") : []);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      key.clear();
      return signIn("The key was refused: sign in again.");
    }
    showError(error);
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  key.clear();
  route();
});
window.addEventListener("hashchange", route);
route();
