// The load test's report (tests/load): requests by outcome and kind, p50/p99 latency (whole
// request; time to the first token for streams), throughput, each process's resident memory
// at start and end, /ready during the run; the pass criteria as a list of problems; the
// report as a text table. Figures are from the measured run, not the warm-up.
import fs from 'node:fs';

export const RSS_TOLERANCE = 0.10;  // end within 10 % of start (after the warm-up)

// VmRSS of a process in bytes (/proc/PID/status), or null when it is gone.
export function residentBytes(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

// Nearest-rank percentile of numbers (null for none).
function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const round = (x, digits = 1) => (x === null ? null : Number(x.toFixed(digits)));
const kindName = (r) => `${r.kind === '/v1/chat/completions' ? 'chat' : 'completion'} ${r.stream ? 'stream' : 'whole'}`;

// records: the workload's; seconds: its span; rss: [{name, pid, start, end}] in bytes;
// ready: {polls, notReady: [answers]}; settle: problems after the run (leaked sequences).
export function summarize({ options, records, seconds, rss, ready, settle }) {
  const count = (outcome) => records.filter((r) => r.outcome === outcome).length;
  const ok = records.filter((r) => r.outcome === 'ok');
  const streamsOk = ok.filter((r) => r.stream);
  const byKind = {};
  for (const r of records) {
    const k = (byKind[kindName(r)] ??= { ok: 0, cancelled: 0, rejected: 0, error: 0 });
    k[r.outcome] += 1;
  }
  const completionTokens = records.reduce((n, r) => n + (r.completionTokens ?? 0), 0);
  const problems = [];
  const errors = records.filter((r) => r.outcome === 'error');
  if (errors.length) {
    const examples = errors.slice(0, 5).map((r) => `${kindName(r)}: ${r.problems.join('; ')}`);
    problems.push(`${errors.length} requests failed, e.g.\n  ${examples.join('\n  ')}`);
  }
  if (!ok.length) problems.push('no request completed');
  if (ready.notReady.length) {
    problems.push(`/ready was not 200 in ${ready.notReady.length} of ${ready.polls} polls, e.g. ${ready.notReady[0]}`);
  }
  problems.push(...settle);
  for (const p of rss) {
    if (p.end === null) {
      problems.push(`${p.name} (pid ${p.pid}) is gone`);
    } else if (Math.abs(p.end - p.start) > RSS_TOLERANCE * p.start) {
      problems.push(`${p.name} (pid ${p.pid}) resident memory went from ${(p.start / 2 ** 20).toFixed(1)} MiB to ` +
                    `${(p.end / 2 ** 20).toFixed(1)} MiB, more than ${RSS_TOLERANCE * 100} %`);
    }
  }
  return {
    options,
    seconds: round(seconds),
    requests: {
      total: records.length, ok: ok.length, cancelled: count('cancelled'), rejected: count('rejected'),
      error: errors.length, retried_429: records.reduce((n, r) => n + (r.retries ?? 0), 0), by_kind: byKind,
    },
    latency_ms: {
      whole_p50: round(percentile(ok.map((r) => r.latencyMs), 50)), whole_p99: round(percentile(ok.map((r) => r.latencyMs), 99)),
      ttft_p50: round(percentile(streamsOk.map((r) => r.ttftMs), 50)), ttft_p99: round(percentile(streamsOk.map((r) => r.ttftMs), 99)),
    },
    throughput: {
      requests_per_s: round(ok.length / seconds, 2),
      completion_tokens_per_s: round(completionTokens / seconds),
      prompt_tokens_per_s: round(ok.reduce((n, r) => n + (r.promptTokens ?? 0), 0) / seconds),
    },
    rss_mib: rss.map((p) => ({
      name: p.name, pid: p.pid, start: round(p.start / 2 ** 20), end: p.end === null ? null : round(p.end / 2 ** 20),
      change_pct: p.end === null ? null : round((100 * (p.end - p.start)) / p.start),
    })),
    ready: { polls: ready.polls, not_ready: ready.notReady.length },
    problems,
  };
}

// The report as text: a few aligned tables.
export function formatReport(report) {
  const table = (rows) => {
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '-').length)));
    return rows.map((r) => r.map((c, i) => String(c ?? '-').padEnd(widths[i])).join('  ').trimEnd()).join('\n');
  };
  const q = report.requests;
  const l = report.latency_ms;
  const t = report.throughput;
  return [
    `load: ${report.options.clients} clients for ${report.options.seconds} s (measured span ${report.seconds} s)`,
    '',
    table([['requests', 'ok', 'cancelled', 'rejected (429)', 'error'],
           ...Object.entries(q.by_kind).sort().map(([k, v]) => [k, v.ok, v.cancelled, v.rejected, v.error]),
           ['all', q.ok, q.cancelled, q.rejected, q.error]]),
    `429 answers retried: ${q.retried_429}`,
    '',
    table([['latency (ms)', 'p50', 'p99'], ['whole request', l.whole_p50, l.whole_p99], ['first token (streams)', l.ttft_p50, l.ttft_p99]]),
    '',
    `throughput: ${t.requests_per_s} requests/s, ${t.completion_tokens_per_s} completion tokens/s, ${t.prompt_tokens_per_s} prompt tokens/s`,
    '',
    table([['process', 'pid', 'RSS start (MiB)', 'RSS end (MiB)', 'change %'],
           ...report.rss_mib.map((p) => [p.name, p.pid, p.start, p.end, p.change_pct])]),
    `/ready: ${report.ready.polls - report.ready.not_ready} of ${report.ready.polls} polls 200`,
    '',
    report.problems.length ? `FAIL:\n${report.problems.map((p) => `- ${p}`).join('\n')}` : 'PASS',
  ].join('\n');
}
