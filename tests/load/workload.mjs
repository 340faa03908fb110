// The load test's clients (tests/load): `clients` loops, each sending one request after
// another until the deadline, over keep-alive HTTP/1.1 (node:http). The mix, drawn per
// request from a seeded generator: text and chat completions, streamed or whole, short,
// medium and long prompts and completions within --max-seq-len, greedy or sampled; a share
// of the streams is cancelled by its client, which closes the connection after a few
// events. A 429 (server_at_capacity) is retried after its Retry-After until the deadline.
// Every answer is checked (responses.mjs); each request ends as one record:
//   {kind, stream, outcome: ok | cancelled | rejected | error, problems, latencyMs, ttftMs,
//    promptTokens, completionTokens, retries}
// `rejected`: still refused with 429 when the deadline came (deliberate, not an error).
import http from 'node:http';

import { sleep } from '../support/node_helpers.mjs';
import { checkStream, checkWhole, chunkTokens, isError } from './responses.mjs';

export const REQUEST_TIMEOUT_MS = 120_000;  // an accepted request not answered by then is an error

// Words the prompts are made of (each about one token).
const WORDS = ('the of and to in is was for on that with as by at from his it an were are which this be ' +
  'has had one not but after first new two their all time been her or also who its year into other ' +
  'city river music school team war north south world game film party state house light water').split(' ');

// Prompt words and max_tokens per size: short, medium, long (max_tokens capped by the
// run's `maxTokens`).
export const SIZES = [
  { words: [2, 16], maxTokens: [1, 8] },
  { words: [40, 160], maxTokens: [16, 64] },
  { words: [400, 900], maxTokens: [96, 192] },
];

// mulberry32: a small seeded generator, so a run's mix can be repeated.
function generator(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), pick: (list) => list[Math.floor(next() * list.length)] };
}

// One request of the mix: {path, chat, stream, cancelAfter (events, 0: never), body}.
function drawRequest(rng, mix) {
  const chat = rng.next() < mix.chatShare;
  const stream = rng.next() < mix.streamShare;
  const cancelAfter = stream && rng.next() < mix.cancelShare ? rng.int(1, 4) : 0;
  // A cancelled stream is given room to be cancelled in: a medium or long completion.
  const size = SIZES[cancelAfter ? rng.int(1, 2) : rng.int(0, 2)];
  const maxTokens = Math.min(rng.int(...size.maxTokens), mix.maxTokens);
  // Words are at most 2 tokens each, plus the chat template's few dozen.
  const words = Math.min(rng.int(...size.words), Math.floor((mix.maxSeqLen - maxTokens - 64) / 2));
  const text = Array.from({ length: words }, () => rng.pick(WORDS)).join(' ');
  const body = {
    model: mix.model,
    max_tokens: maxTokens,
    temperature: rng.next() < 0.5 ? 0 : 0.8,
    seed: rng.int(0, 1 << 30),
    return_token_ids: true,
    ...(chat ? { messages: [{ role: 'user', content: text }] } : { prompt: text }),
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
  return { path: chat ? '/v1/chat/completions' : '/v1/completions', chat, stream, cancelAfter, body };
}

// One attempt: resolves to {status, retryAfter, record fields} once the answer ended, the
// client cancelled it, or it failed.
function attempt(target, request, agent) {
  return new Promise((resolve) => {
    const started = performance.now();
    const payload = JSON.stringify(request.body);
    const events = [];
    let ttftMs = null;
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ latencyMs: performance.now() - started, ttftMs, ...result });
    };
    const req = http.request(`${target.origin}${request.path}`, {
      method: 'POST',
      agent,
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(payload),
        Authorization: `Bearer ${target.key}`,
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({ outcome: 'error', problems: [`no complete answer within ${REQUEST_TIMEOUT_MS / 1000} s (${events.length} events so far)`] });
    }, REQUEST_TIMEOUT_MS);
    req.on('error', (e) => finish({ outcome: 'error', problems: [`${e.code ?? ''} ${e.message}`.trim()] }));
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let text = '';
      if (res.statusCode !== 200 || !request.stream) {
        res.on('data', (d) => { text += d; });
        res.on('error', (e) => finish({ outcome: 'error', problems: [`reading the body: ${e.message}`] }));
        res.on('end', () => {
          if (res.statusCode === 429) {
            finish({ status: 429, retryAfter: res.headers['retry-after'], text });
            return;
          }
          const checked = res.statusCode === 200 && request.stream
            ? { problems: [`200 without a stream: ${res.headers['content-type']}`] }
            : checkWhole(request.chat, request.body, res.statusCode, text);
          finish({ outcome: checked.problems.length ? 'error' : 'ok', ...checked });
        });
        return;
      }
      // Server-Sent Events: blocks separated by a blank line; `data: ` lines, `:` comments.
      let buffer = '';
      res.on('data', (d) => {
        buffer += d;
        for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const lines = block.split('\n').filter((l) => l.startsWith('data: '));
          if (!lines.length) continue;  // a comment (keep-alive)
          const data = lines.map((l) => l.slice(6)).join('\n');
          events.push(data);
          if (ttftMs === null && chunkTokens(data) > 0) ttftMs = performance.now() - started;
          if (request.cancelAfter && events.length >= request.cancelAfter && data !== '[DONE]') {
            req.destroy();  // closes the connection: the server cancels the request
            const problems = events.filter(isError).map((e) => `an error event: ${e.slice(0, 300)}`);
            finish({ outcome: problems.length ? 'error' : 'cancelled', problems,
                     completionTokens: events.reduce((n, e) => n + chunkTokens(e), 0) });
            return;
          }
        }
      });
      res.on('error', (e) => finish({ outcome: 'error', problems: [`the stream broke after ${events.length} events: ${e.message}`] }));
      res.on('end', () => {
        const checked = checkStream(request.chat, request.body, events, buffer.trim() === '');
        finish({ outcome: checked.problems.length ? 'error' : 'ok', ...checked });
      });
    });
    req.end(payload);
  });
}

// One client: requests until `deadline` (ms, performance.now()), appended to `records`.
async function client(target, mix, rng, deadline, agent, records) {
  while (performance.now() < deadline) {
    const request = drawRequest(rng, mix);
    let retries = 0;
    for (;;) {
      const result = await attempt(target, request, agent);
      if (result.status === 429) {
        if (!/server_at_capacity/.test(result.text) || !/^\d+$/.test(result.retryAfter ?? '')) {
          records.push({ kind: request.path, stream: request.stream, outcome: 'error', retries,
                         problems: [`429 without server_at_capacity and Retry-After: ${result.retryAfter} ${result.text.slice(0, 300)}`] });
          break;
        }
        retries += 1;
        const waitMs = Number(result.retryAfter) * 1000;
        if (performance.now() + waitMs >= deadline) {
          records.push({ kind: request.path, stream: request.stream, outcome: 'rejected', retries, problems: [] });
          return;  // the run ends before a retry could be answered
        }
        await sleep(waitMs);
        continue;
      }
      records.push({ kind: request.path, stream: request.stream, retries, promptTokens: 0, completionTokens: 0, ...result });
      break;
    }
  }
}

// `clients` clients for `seconds`; resolves to {records, seconds} once every request ended
// (the last ones finish after the deadline, so `seconds` is the measured span).
export async function runWorkload(target, { clients, seconds, seed, ...mix }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const records = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: clients }, (_, i) =>
    client(target, mix, generator(seed * 1000 + i), deadline, agent, records)));
  agent.destroy();
  return { records, seconds: (performance.now() - started) / 1000 };
}
