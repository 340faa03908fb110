// The metrics and the Grafana dashboards against a real Prometheus (issue 12): a 2-worker
// cluster from `strata cluster up` on the tiny fixture, its workers given budgets that stream
// layers from the SSD tier (cluster up's per-worker --gpu-mem / --pinned-mem); Debian's `prometheus` scraping it
// through the prometheus.yml `cluster up` writes; ~12 s of streamed and whole completions; then
// every PromQL expression of every panel of dashboards/*.json evaluated through
// GET /api/v1/query (each must succeed and return samples), each target's /metrics linted by
// `promtool check metrics`, and both dashboards checked structurally (uids, schemaVersion,
// the datasource and worker variables, no __inputs, every panel's datasource, targets and
// gridPos, every metric named in docs/operations.md's catalog). @grafana/schema ships
// TypeScript types and defaults, no runtime validator, hence the checks here.
//
// Run by ctest (tests/CMakeLists.txt, `metrics_dashboards`), or by hand:
//   STRATA_CLI_PATH=build/cli/strata node --test tests/metrics/metrics_dashboards.test.mjs
// Needs node (20+), prometheus and promtool (scripts/deps.sh installs them); no npm packages.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { freePort, sleep, timeout } from '../support/node_helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const dashboardsDir = path.join(root, 'dashboards');
const DASHBOARDS = {
  'strata-cluster-overview.json': 'strata-cluster-overview',
  'strata-worker-pipeline.json': 'strata-worker-pipeline',
};
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const MODEL = 'tiny-llama31';
const WORKERS = 2;
// Budgets that make the planner stream layers from the SSD tier (a CPU worker plans against
// --gpu-mem as if it were a GPU's). The tiny fixture's layers are 104 KiB, but each layer's KV
// cache is 8 MiB (8 slots of 8192 tokens) and the LM head 16 MiB, so the GPU budgets admit
// exactly 3 layers per stage (worker-0: 5.3 MiB runtime + 3 x 8 MiB KV + a slot; worker-1 also
// the head) with less than 3 layers' weights beside them: some layers must stream. A stream
// that loads anything needs a 16 MiB pinned staging chunk; a pinned budget of that chunk (and
// the embedding rows on worker-0) plus less than the streamed layers keeps them off the pinned
// tier, so they are read from the pack. The windows are narrow (about two layers, 0.2 MiB):
// when the runtime's estimate changes, find new values with the coordinator's "epoch 1: stage"
// log lines (STRATA_METRICS_TEST_GPU_MEM / _PINNED_MEM override these).
const GPU_MEM = process.env.STRATA_METRICS_TEST_GPU_MEM || '29.45M,45.2M';
const PINNED_MEM = process.env.STRATA_METRICS_TEST_PINNED_MEM || '16.15M,16.05M';
const LOAD_MS = 12_000;          // ~12 scrapes at 1 s
const RATE_INTERVAL = '30s';     // $__rate_interval
const READY_TIMEOUT_MS = 120_000;
const DOWN_TIMEOUT_MS = 70_000;  // `cluster down` itself waits up to 60 s for the launcher

// Metrics a CPU worker does not have (docs/operations.md: the CUDA runtime's memory, the GEMM
// peak, the device-memory read ceiling): an expression naming only these must evaluate without
// error, but may be empty here, on CPU workers.
const CUDA_ONLY = ['strata_worker_gpu_memory_bytes', 'strata_worker_ceiling_flops'];

const cliPath = process.env.STRATA_CLI_PATH;
const fixtures = process.env.STRATA_TEST_FIXTURES || path.resolve(here, '..', 'fixtures');
const prometheusBin = process.env.STRATA_PROMETHEUS || 'prometheus';
const promtoolBin = process.env.STRATA_PROMTOOL || 'promtool';

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(cannot read: ${e.message})`;
  }
}

// A child process with its output collected and its exit as a promise.
function start(argv, options = {}) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const p = { child, output: '', exited: null };
  for (const s of [child.stdout, child.stderr]) {
    s.setEncoding('utf8');
    s.on('data', (d) => { p.output += d; });
  }
  p.exit = new Promise((resolve) => {
    child.on('error', (e) => { p.exited = `could not start: ${e.message}`; resolve(p.exited); });
    child.on('exit', (code, signal) => {
      p.exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve(p.exited);
    });
  });
  return p;
}

async function stopProcess(p, signal = 'SIGTERM', ms = 15_000) {
  if (!p || p.exited) return p?.exited ?? '';
  p.child.kill(signal);
  let r = await Promise.race([p.exit, timeout(ms)]);
  if (r === 'timed out') {
    p.child.kill('SIGKILL');
    r = await Promise.race([p.exit, timeout(5_000)]);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Dashboards: loading, the expressions, the structural checks.

function loadDashboards() {
  return Object.keys(DASHBOARDS).map((file) => {
    const text = fs.readFileSync(path.join(dashboardsDir, file), 'utf8');
    return { file, text, json: JSON.parse(text) };
  });
}

// Every panel, rows' nested panels included.
function panelsOf(dashboard) {
  const out = [];
  for (const p of dashboard.panels ?? []) {
    out.push(p);
    for (const nested of p.panels ?? []) out.push(nested);
  }
  return out;
}

// Every target's expression as Prometheus gets it once Grafana has interpolated it.
function expressions(dashboards) {
  const out = [];
  for (const { file, json } of dashboards) {
    for (const panel of panelsOf(json)) {
      for (const t of panel.targets ?? []) {
        if (typeof t.expr !== 'string') continue;
        const expr = t.expr
          .replaceAll('$__rate_interval', RATE_INTERVAL)
          .replaceAll('${worker}', '.*')
          .replaceAll('$worker', '.*');
        out.push({ where: `${file} "${panel.title}" ${t.refId}`, expr });
      }
    }
  }
  return out;
}

// Metric names of the catalog in docs/operations.md (the contract the binaries serve).
function catalogMetrics() {
  const docs = fs.readFileSync(path.join(root, 'docs', 'operations.md'), 'utf8');
  const section = docs.slice(docs.indexOf('## Metrics (Prometheus)'));
  const names = new Map();  // name -> type
  for (const line of section.split('\n')) {
    const m = /^\| (`strata_[^|]+)\| (\w+) \|/.exec(line);
    if (!m) continue;
    for (const [, name] of m[1].matchAll(/`(strata_[a-z0-9_]+)`/g)) names.set(name, m[2]);
  }
  return names;
}

// Every problem of one dashboard, as sentences.
function dashboardProblems({ file, text, json: d }, catalog) {
  const problems = [];
  const expect = (ok, what) => { if (!ok) problems.push(`${file}: ${what}`); };
  expect(d.uid === DASHBOARDS[file], `uid is ${JSON.stringify(d.uid)}, not ${DASHBOARDS[file]}`);
  expect(typeof d.uid === 'string' && /^[A-Za-z0-9_-]{1,40}$/.test(d.uid), 'uid must be 1-40 of [A-Za-z0-9_-]');
  expect(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 39, `schemaVersion ${d.schemaVersion} (want >= 39)`);
  expect(typeof d.title === 'string' && d.title.length > 0, 'no title');
  expect(d.id === null || d.id === undefined, 'a fixed id (leave it null: Grafana assigns one)');
  expect(!('__inputs' in d) && !('__requires' in d), 'has __inputs/__requires (an export for sharing, not provisioning)');
  expect(!text.includes('${DS_'), 'names a ${DS_...} input');
  expect(d.time && typeof d.time.from === 'string', 'no time range');
  const vars = d.templating?.list ?? [];
  const ds = vars.find((v) => v.name === 'datasource');
  expect(ds && ds.type === 'datasource' && ds.query === 'prometheus', 'no `datasource` variable of type datasource, query prometheus');
  const worker = vars.find((v) => v.name === 'worker');
  expect(worker && worker.type === 'query', 'no `worker` query variable');
  if (worker) {
    const q = typeof worker.query === 'string' ? worker.query : worker.query?.query;
    expect(q === 'label_values(strata_worker_passes_total, worker)', `worker variable query is ${JSON.stringify(q)}`);
    expect(worker.multi === true && worker.includeAll === true, 'worker variable must be multi with All');
    expect(JSON.stringify(worker.datasource) === JSON.stringify(DATASOURCE), 'worker variable datasource is not ${datasource}');
  }
  for (const v of vars) expect(typeof v.name === 'string' && typeof v.type === 'string', `variable without name/type`);

  const ids = new Set();
  const cells = [];
  const panels = panelsOf(d);
  expect(panels.length > 0, 'no panels');
  for (const p of panels) {
    const name = `panel ${p.id} "${p.title}"`;
    expect(Number.isInteger(p.id) && !ids.has(p.id), `${name}: id missing or repeated`);
    ids.add(p.id);
    expect(typeof p.type === 'string' && typeof p.title === 'string' && p.title, `${name}: no type or title`);
    const g = p.gridPos;
    const gridOk = g && ['h', 'w', 'x', 'y'].every((k) => Number.isInteger(g[k]) && g[k] >= 0) &&
                   g.w >= 1 && g.h >= 1 && g.x + g.w <= 24;
    expect(gridOk, `${name}: gridPos ${JSON.stringify(g)} is not h/w/x/y within 24 columns`);
    if (gridOk) {
      for (const c of cells) {
        const overlap = g.x < c.x + c.w && c.x < g.x + g.w && g.y < c.y + c.h && c.y < g.y + g.h;
        expect(!overlap, `${name}: overlaps panel ${c.id}`);
      }
      cells.push({ ...g, id: p.id });
    }
    if (p.type === 'row') continue;
    expect(JSON.stringify(p.datasource) === JSON.stringify(DATASOURCE), `${name}: datasource is not ${JSON.stringify(DATASOURCE)}`);
    expect(p.fieldConfig && typeof p.fieldConfig.defaults === 'object', `${name}: no fieldConfig.defaults`);
    expect(Array.isArray(p.targets) && p.targets.length > 0, `${name}: no targets`);
    const refs = new Set();
    for (const t of p.targets ?? []) {
      expect(typeof t.expr === 'string' && t.expr.trim().length > 0, `${name}: target ${t.refId} has no expr`);
      expect(typeof t.refId === 'string' && !refs.has(t.refId), `${name}: refId missing or repeated`);
      refs.add(t.refId);
      if (t.datasource !== undefined) {
        expect(JSON.stringify(t.datasource) === JSON.stringify(DATASOURCE), `${name}: target ${t.refId} datasource`);
      }
      const expr = t.expr ?? '';
      for (const [metric] of expr.matchAll(/strata_[a-z0-9_]+/g)) {
        const base = metric.replace(/_(bucket|sum|count)$/, '');
        const known = catalog.has(metric) || catalog.get(base) === 'histogram';
        expect(known, `${name}: ${metric} is not in docs/operations.md's metric catalog`);
        // The worker's own metrics (not the coordinator's strata_worker_up) follow $worker.
        if (/^strata_worker_/.test(metric) && metric !== 'strata_worker_up') {
          expect(/worker=~"\$worker"/.test(expr), `${name}: ${metric} without worker=~"$worker"`);
        }
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The cluster and Prometheus.

const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-metrics-'));
let launcher = null;
let prometheus = null;
let httpPort = 0;
let promPort = 0;
let setupError = null;

function logs() {
  let text = `--- strata cluster up (${launcher ? launcher.exited ?? 'running' : 'not started'})\n${launcher?.output.trimEnd() ?? ''}\n`;
  if (prometheus) text += `--- prometheus (${prometheus.exited ?? 'running'})\n${prometheus.output.trimEnd().split('\n').slice(-20).join('\n')}\n`;
  let names = [];
  try { names = fs.readdirSync(runDir).filter((n) => n.endsWith('.log')).sort(); } catch {}
  for (const n of names) text += `--- ${path.join(runDir, n)}\n${tail(path.join(runDir, n))}\n`;
  return text;
}

// The targets of the prometheus.yml `cluster up` wrote, with their labels. A reader for
// exactly that file's shape (the test has no YAML package), checked line by line.
function readPrometheusYml(file) {
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /^global:\n  scrape_interval: 1s\n/m, `${file}: no 1 s global scrape_interval`);
  assert.match(text, /^  - job_name: strata\n/m, `${file}: no job strata`);
  const targets = [];
  for (const block of text.split('      - targets: ').slice(1)) {
    const address = /^\['([^']+)'\]/.exec(block)?.[1];
    const role = /\n          role: (\w+)/.exec(block)?.[1];
    const worker = /\n          worker: ([\w-]+)/.exec(block)?.[1];
    targets.push({ address, role, worker });
  }
  return { text, targets };
}

// Thrown by a waitFor condition: stop waiting (other errors are retried until the deadline).
class Fatal extends Error {}

async function waitFor(what, fn, ms) {
  const deadline = Date.now() + ms;
  let last = 'no answer yet';
  for (;;) {
    if (launcher?.exited) throw new Error(`strata cluster up ${launcher.exited} while waiting for ${what}`);
    try {
      const r = await fn();
      if (r === true) return;
      last = r;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = e.cause?.code ?? e.message;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000} s (last: ${last})`);
    await sleep(200);
  }
}

async function promQuery(expr) {
  const url = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`;
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return r.json();
}

// One client's requests until `until`: streamed and whole, completions and chat in turn.
async function client(i, until) {
  let n = 0;
  const counts = { ok: 0, failed: 0, errors: [] };
  while (Date.now() < until) {
    const stream = n % 2 === 0;
    const chat = (n + i) % 3 === 0;
    const body = chat
      ? { model: MODEL, messages: [{ role: 'user', content: `Tell me about ${i}.${n}` }], max_tokens: 24, stream }
      : { model: MODEL, prompt: `The number ${i}.${n} is`, max_tokens: 24, stream };
    n++;
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/v1/${chat ? 'chat/completions' : 'completions'}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await r.text();
      if (r.status === 200 && (!stream || text.includes('data: [DONE]'))) counts.ok++;
      else { counts.failed++; counts.errors.push(`${r.status} ${text.slice(0, 200)}`); }
    } catch (e) {
      counts.failed++;
      counts.errors.push(e.message);
    }
  }
  return counts;
}

let targets = [];
const dashboards = loadDashboards();

describe('metrics and dashboards against a real Prometheus', { concurrency: false }, () => {
  before(async () => {
    try {
      if (!cliPath) throw new Error('STRATA_CLI_PATH is not set: give the path of the built `strata` binary (ctest sets it)');
      const model = path.join(fixtures, MODEL);
      if (!fs.existsSync(path.join(model, 'config.json'))) throw new Error(`no fixture model at ${model}`);
      httpPort = await freePort();
      const argv = [cliPath, 'cluster', 'up', '--model', model, '--workers', String(WORKERS),
                    '--http', String(httpPort), '--run-dir', runDir, '--gpu-mem', GPU_MEM,
                    '--pinned-mem', PINNED_MEM];
      launcher = start(argv, { env: { ...process.env, UCX_TLS: 'tcp' } });
      launcher.output = `$ ${argv.join(' ')}\n`;
      await waitFor('`strata cluster up` printing ready', () => {
        if (launcher.output.includes('strata cluster: ready')) return true;
        // The budgets above no longer admit a plan: the coordinator waits; say why at once.
        let log = '';
        try { log = fs.readFileSync(path.join(runDir, 'coordinator.log'), 'utf8'); } catch {}
        const failed = /planning failed: .*/.exec(log);
        if (failed) throw new Fatal(`--gpu-mem ${GPU_MEM} --pinned-mem ${PINNED_MEM}: ${failed[0]}`);
        return 'not yet';
      }, READY_TIMEOUT_MS);
      await sleep(100);  // the rest of the ready message
    } catch (e) {
      setupError = e;
    }
  });

  after(async () => {
    await stopProcess(prometheus);
    if (launcher && !launcher.exited) {
      // Asynchronous: `down` waits for the launcher to be gone, and only this process's event
      // loop reaps it (a zombie still counts as alive).
      const down = start([cliPath, 'cluster', 'down', '--run-dir', runDir]);
      if (await Promise.race([down.exit, timeout(DOWN_TIMEOUT_MS)]) !== 'exited with code 0') {
        await stopProcess(down, 'SIGKILL');
        console.error(`strata cluster down ${down.exited ?? 'timed out'}: ${down.output}`);
      }
      await Promise.race([launcher.exit, timeout(15_000)]);
      await stopProcess(launcher);
    }
    if (!process.env.STRATA_KEEP_RUN_DIR) fs.rmSync(runDir, { recursive: true, force: true });
  });

  const step = (name, fn) => it(name, async (t) => {
    if (setupError) throw new Error(`${setupError.message}\n${logs()}`);
    try {
      await fn(t);
    } catch (e) {
      if (e && typeof e.message === 'string' && !e.message.includes('--- strata cluster up')) e.message += `\n${logs()}`;
      throw e;
    }
  });

  it('dashboards are Grafana dashboard models on the ${datasource} and $worker variables, naming only catalog metrics', () => {
    const catalog = catalogMetrics();
    assert.ok(catalog.size >= 30, `read only ${catalog.size} metrics from docs/operations.md's catalog`);
    const problems = dashboards.flatMap((d) => dashboardProblems(d, catalog));
    if (problems.length) assert.fail(`dashboard problems:\n  ${problems.join('\n  ')}`);
    const uids = dashboards.map((d) => d.json.uid);
    assert.equal(new Set(uids).size, uids.length, 'two dashboards share a uid');
  });

  step('cluster up writes prometheus.yml scraping the coordinator and every worker, and says where', () => {
    const file = path.join(runDir, 'prometheus.yml');
    const yml = readPrometheusYml(file);
    targets = yml.targets;
    assert.equal(targets.length, 1 + WORKERS, `targets in ${file}:\n${yml.text}`);
    assert.deepEqual(targets.map((t) => t.role), ['coordinator', ...Array(WORKERS).fill('worker')]);
    assert.deepEqual(targets.map((t) => t.worker), [undefined, ...Array.from({ length: WORKERS }, (_, i) => `worker-${i}`)]);
    for (const t of targets) assert.match(t.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(new Set(targets.map((t) => t.address)).size, targets.length, 'two targets share an address');
    assert.ok(launcher.output.includes(file), `the ready message does not name ${file}`);
    assert.ok(launcher.output.includes(`http://${targets[0].address}/metrics`), 'the ready message does not name the coordinator\'s metrics');
    const check = spawnSync(promtoolBin, ['check', 'config', file], { encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check config ${file}:\n${check.stdout}${check.stderr}`);
  });

  step('the plan streams layers from the SSD tier (the coordinator\'s log)', () => {
    const log = fs.readFileSync(path.join(runDir, 'coordinator.log'), 'utf8');
    const stages = [...log.matchAll(/epoch (\d+): stage (\d+) = ([\w-]+): layers \[(\d+), (\d+)\), (\d+) gpu, (\d+) pinned/g)];
    assert.ok(stages.length >= WORKERS, 'no "epoch N: stage S = NAME: layers [a, b), G gpu, P pinned" lines in coordinator.log');
    const last = stages.slice(-WORKERS);
    const ssd = last.map((m) => Number(m[5]) - Number(m[4]) - Number(m[6]) - Number(m[7]));
    assert.ok(ssd.some((n) => n > 0), `no stage reads a layer from the SSD: ${last.map((m) => m[0]).join('; ')}`);
  });

  step('every /metrics passes `promtool check metrics`, and a worker streams a layer from the SSD tier', async () => {
    assert.ok(targets.length, 'no targets (the previous test failed)');
    const ssdLayers = {};
    for (const t of targets) {
      const r = await fetch(`http://${t.address}/metrics`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(r.status, 200, `GET http://${t.address}/metrics`);
      const text = await r.text();
      const lint = spawnSync(promtoolBin, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.ok(lint.status === 0 && !lint.stdout.trim() && !lint.stderr.trim(),
                `promtool check metrics on ${t.role} ${t.worker ?? ''} (${t.address}) exited ${lint.status}:\n${lint.stdout}${lint.stderr}`);
      if (t.role === 'worker') {
        const m = /^strata_worker_layers\{[^}]*tier="ssd"[^}]*\} (\S+)$/m.exec(text);
        ssdLayers[t.worker] = m ? Number(m[1]) : 0;
      }
    }
    const total = Object.values(ssdLayers).reduce((a, b) => a + b, 0);
    assert.ok(total >= 1, `no layer in the SSD tier (strata_worker_layers{tier="ssd"} per worker: ${JSON.stringify(ssdLayers)}; --gpu-mem ${GPU_MEM} --pinned-mem ${PINNED_MEM})`);
  });

  step('every panel expression of both dashboards returns samples from Prometheus', async () => {
    assert.ok(targets.length, 'no targets (an earlier test failed)');
    promPort = await freePort();
    const tsdb = fs.mkdtempSync(path.join(runDir, 'tsdb-'));
    prometheus = start([prometheusBin, `--config.file=${path.join(runDir, 'prometheus.yml')}`,
                        `--storage.tsdb.path=${tsdb}`, `--web.listen-address=127.0.0.1:${promPort}`]);
    const base = `http://127.0.0.1:${promPort}`;
    await waitFor('Prometheus ready', async () => {
      if (prometheus.exited) throw new Fatal(`prometheus ${prometheus.exited}:\n${prometheus.output}`);
      const r = await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(2_000) });
      return r.status === 200 || `${r.status}`;
    }, 30_000);
    await waitFor('every target scraped and up', async () => {
      const r = await (await fetch(`${base}/api/v1/targets`, { signal: AbortSignal.timeout(2_000) })).json();
      const active = r.data?.activeTargets ?? [];
      const up = active.filter((a) => a.health === 'up').length;
      return (active.length === targets.length && up === targets.length) ||
             `${up} of ${active.length} up: ${active.map((a) => `${a.scrapeUrl} ${a.health} ${a.lastError}`).join('; ')}`;
    }, 15_000);

    const until = Date.now() + LOAD_MS;
    const results = await Promise.all([0, 1, 2].map((i) => client(i, until)));
    const ok = results.reduce((a, r) => a + r.ok, 0);
    const failedRequests = results.flatMap((r) => r.errors);
    if (failedRequests.length) assert.fail(`${failedRequests.length} requests failed (${ok} succeeded):\n  ${failedRequests.slice(0, 10).join('\n  ')}`);
    assert.ok(ok >= 6, `only ${ok} requests in ${LOAD_MS / 1000} s`);
    await sleep(2_500);  // two more scrapes after the last request

    const problems = [];
    const exprs = expressions(dashboards);
    assert.ok(exprs.length >= 20, `only ${exprs.length} expressions`);
    for (const { where, expr } of exprs) {
      let r;
      try {
        r = await promQuery(expr);
      } catch (e) {
        problems.push(`${where}: ${e.message}\n    ${expr}`);
        continue;
      }
      if (r.status !== 'success') problems.push(`${where}: ${r.errorType}: ${r.error}\n    ${expr}`);
      else if (!r.data?.result?.length) {
        const names = [...expr.matchAll(/strata_[a-z0-9_]+/g)].map(([m]) => m);
        if (names.length && names.every((m) => CUDA_ONLY.includes(m))) {
          console.log(`# empty on CPU workers (CUDA only): ${where}: ${expr}`);
        } else {
          problems.push(`${where}: empty result\n    ${expr}`);
        }
      }
    }
    // The streamed layers did stream: bytes read from the pack and SSD read times observed.
    for (const expr of ['sum(rate(strata_worker_read_bytes_total[30s])) > 0',
                        'sum(strata_worker_layer_stage_seconds_count{stage="ssd_read", tier="ssd"}) > 0']) {
      const r = await promQuery(expr);
      if (r.status !== 'success' || !r.data?.result?.length) problems.push(`no SSD reads under load: ${expr}`);
    }
    if (problems.length) assert.fail(`${problems.length} of ${exprs.length} expressions failed:\n  ${problems.join('\n  ')}`);
  });
});
