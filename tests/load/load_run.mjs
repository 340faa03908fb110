// One load test from start to end (tests/load): a 2-worker CPU cluster of the tiny fixture
// from `strata cluster up`; a warm-up with the same clients; each process's resident memory;
// the measured run with /ready polled throughout; then the cluster must go idle (no open
// sequence, nothing queued: every cancelled or finished request freed its slot), the same
// processes must still run, and their memory is read again. Resolves to the report
// (report.mjs); the cluster is stopped in every case, its run directory kept on failure.
import { LocalCluster } from '../support/local_cluster.mjs';
import { sleep } from '../support/node_helpers.mjs';
import { residentBytes, summarize } from './report.mjs';
import { runWorkload, SIZES } from './workload.mjs';

export const DEFAULTS = {
  clients: 64, seconds: 60, warmupSeconds: 5, streamShare: 0.5, cancelShare: 0.1, chatShare: 0.5, seed: 1, kvSlots: 8,
  maxTokens: SIZES.at(-1).maxTokens[1],
};
const READY_POLL_MS = 500;
const IDLE_TIMEOUT_MS = 5_000;  // cancellation is noticed within 100 ms, plus a step in flight

async function getJson(cluster, route) {
  const r = await fetch(`${cluster.origin}${route}`, {
    headers: { Authorization: `Bearer ${cluster.key}` }, signal: AbortSignal.timeout(5_000),
  });
  if (r.status !== 200) throw new Error(`GET ${route}: HTTP ${r.status} ${(await r.text()).slice(0, 300)}`);
  return r.json();
}

// GET /ready every READY_POLL_MS until stop() (which resolves to {polls, notReady}).
function pollReady(cluster) {
  const state = { polls: 0, notReady: [], running: true };
  const loop = (async () => {
    while (state.running) {
      state.polls += 1;
      try {
        const r = await fetch(`${cluster.origin}/ready`, { signal: AbortSignal.timeout(2_000) });
        const body = await r.text();
        if (r.status !== 200) state.notReady.push(`${r.status} ${body.slice(0, 200)}`);
      } catch (e) {
        state.notReady.push(e.cause?.code ?? e.message);
      }
      await sleep(READY_POLL_MS);
    }
  })();
  return async () => {
    state.running = false;
    await loop;
    return { polls: state.polls, notReady: state.notReady };
  };
}

// Problems while the cluster does not go idle within IDLE_TIMEOUT_MS (or does not answer).
async function waitIdle(cluster) {
  const deadline = Date.now() + IDLE_TIMEOUT_MS;
  for (;;) {
    let c;
    try {
      c = await getJson(cluster, '/v1/cluster');
    } catch (e) {
      return [`GET /v1/cluster failed: ${e.cause?.code ?? e.message}`];
    }
    if (c.open_sequences === 0 && c.queued_requests === 0) return [];
    if (Date.now() > deadline) {
      return [`${IDLE_TIMEOUT_MS / 1000} s after the last request the cluster still has ${c.open_sequences} ` +
              `open sequences and ${c.queued_requests} queued requests (a leaked slot)`];
    }
    await sleep(100);
  }
}

// `log` gets progress lines.
export async function runLoad(options, log = () => {}) {
  const o = { ...DEFAULTS, ...options };
  const cluster = new LocalCluster({ prefix: 'strata-load-', args: ['--kv-slots', String(o.kvSlots)] });
  cluster.stopOnSignals();
  let report = null;
  try {
    log(`starting a 2-worker cluster in ${cluster.runDir}`);
    await cluster.start();
    log('ready');
    const target = { origin: cluster.origin, key: cluster.key };
    const models = await getJson(cluster, '/v1/models');
    const mix = { model: models.data[0].id, maxSeqLen: models.data[0].max_model_len, streamShare: o.streamShare,
                  cancelShare: o.cancelShare, chatShare: o.chatShare, maxTokens: o.maxTokens };

    log(`warm-up: ${o.clients} clients for ${o.warmupSeconds} s`);
    const warmup = await runWorkload(target, { ...mix, clients: o.clients, seconds: o.warmupSeconds, seed: o.seed + 1 });
    const setup = await waitIdle(cluster);
    const processes = cluster.processes();
    if (processes.length !== 1 + cluster.workers) {
      setup.push(`found ${processes.length} processes of the launcher, not the coordinator and ${cluster.workers} workers: ` +
                 JSON.stringify(processes));
    }
    const rss = processes.map((p) => ({ ...p, start: residentBytes(p.pid) }));

    log(`load: ${o.clients} clients for ${o.seconds} s`);
    const stopPolling = pollReady(cluster);
    const run = await runWorkload(target, { ...mix, clients: o.clients, seconds: o.seconds, seed: o.seed });
    const ready = await stopPolling();
    log(`the last request ended after ${run.seconds.toFixed(1)} s`);
    const settle = [...setup, ...(await waitIdle(cluster))];
    const now = cluster.processes();
    for (const p of rss) {
      p.end = now.some((q) => q.pid === p.pid) ? residentBytes(p.pid) : null;
    }
    const warmupErrors = warmup.records.filter((r) => r.outcome === 'error');
    if (warmupErrors.length) {
      settle.push(`${warmupErrors.length} requests of the warm-up failed, e.g. ${warmupErrors[0].problems.join('; ')}`);
    }
    report = summarize({ options: o, records: run.records, seconds: run.seconds, rss, ready, settle });
  } finally {
    const problem = await cluster.stop();
    if (report && problem) report.problems.push(`the cluster did not stop cleanly: ${problem}`);
    if (!report || report.problems.length) {
      log(`kept the run directory ${cluster.runDir}\n${cluster.logs()}`);
    } else {
      cluster.removeRunDir();
    }
  }
  return report;
}
