// The official `openai` npm client against a real 2-worker cluster on the tiny fixture,
// started with `strata cluster up` as a user starts it: streaming and non-streaming chat
// completions agree token for token (greedy), stop strings cut the text where they begin
// (streaming or not), a wrong or missing API key is a 401 the SDK maps to
// AuthenticationError, /v1/models names the checkpoint directory, and a greedy completion's
// log-probabilities put the sampled token first. The fixture's weights are
// random, so texts are compared with each other, never with fixed strings.
//
// Run by ctest (tests/CMakeLists.txt, `openai_client`), or by hand:
//   STRATA_CLI_PATH=build/cli/strata node --test tests/client/openai_client.test.mjs
// Needs tests/client/node_modules (scripts/deps.sh runs `npm ci` there).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { DOWN_TIMEOUT_MS, LocalCluster, MODEL, READY_TIMEOUT_MS } from '../support/local_cluster.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

let OpenAI;
try {
  ({ default: OpenAI } = await import('openai'));
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
  throw new Error(
    `the openai npm package is not installed in ${path.join(here, 'node_modules')}: run ` +
      'scripts/deps.sh (it runs `npm ci --prefix tests/client`)',
  );
}

const cluster = new LocalCluster({ prefix: 'strata-openai-' });
let failed = false;

// A test body whose first failure carries the cluster's logs (an error is annotated once:
// the tests that share the streamed chat share its failure too).
const annotated = new WeakSet();
function withLogs(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      if (e && typeof e === 'object' && typeof e.message === 'string' && !annotated.has(e)) {
        annotated.add(e);
        e.message += failed ? '\n(the logs are under the first failure)' : `\n${cluster.logs()}`;
      }
      failed = true;
      throw e;
    }
  };
}

// Stopped on ctest's timeout or Ctrl-C too: the launcher stops the processes it started.
cluster.stopOnSignals();

function client(options = {}) {
  return new OpenAI({ baseURL: cluster.baseURL, apiKey: cluster.key, maxRetries: 0, timeout: 60_000, ...options });
}

const chatRequest = {
  model: MODEL,
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello.' },
  ],
  max_tokens: 24,
  temperature: 0,
};

// The streamed chat completion, made once and shared by the tests that compare with it.
let streamedChat = null;
function streamChat() {
  streamedChat ??= (async () => {
    const stream = await client().chat.completions.create({
      ...chatRequest,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    return chunks;
  })();
  return streamedChat;
}

const finishReasons = ['stop', 'length'];

describe('the openai npm client against a 2-worker strata cluster', () => {
  // `after` stops the cluster also when this fails.
  before(async () => {
    try {
      await cluster.start();
    } catch (e) {
      failed = true;
      throw e;
    }
  }, { timeout: READY_TIMEOUT_MS + 30_000 });

  after(async () => {
    if (!cluster.key) failed = true;  // never ready
    const problem = await cluster.stop();
    if (problem) {
      failed = true;
      throw new Error(`the cluster did not stop cleanly: ${problem}\n${cluster.logs()}`);
    }
    if (failed) {
      console.error(`kept the run directory ${cluster.runDir}`);
    } else {
      cluster.removeRunDir();
    }
  }, { timeout: DOWN_TIMEOUT_MS + 60_000 });

  it('streams a chat completion: role first, text in several chunks, one finish, usage last', { timeout: 60_000 }, withLogs(async () => {
    const chunks = await streamChat();
    assert.ok(chunks.length > 0, 'no chunks');
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk', JSON.stringify(c));
      assert.equal(c.id, chunks[0].id, 'every chunk carries the same id');
      assert.equal(c.model, MODEL, JSON.stringify(c));
    }
    const withChoice = chunks.filter((c) => c.choices.length > 0);
    assert.ok(withChoice.length > 0, 'no chunk has a choice');
    assert.equal(withChoice[0].choices[0].delta.role, 'assistant', `first chunk: ${JSON.stringify(chunks[0])}`);
    const content = withChoice.map((c) => c.choices[0].delta.content).filter((s) => typeof s === 'string' && s !== '');
    assert.ok(content.length > 1, `expected more than one content chunk, got ${content.length}: ${JSON.stringify(chunks)}`);

    const finishing = withChoice.filter((c) => c.choices[0].finish_reason != null);
    assert.equal(finishing.length, 1, `chunks with a finish_reason: ${JSON.stringify(finishing)}`);
    assert.ok(finishReasons.includes(finishing[0].choices[0].finish_reason), JSON.stringify(finishing[0]));

    // include_usage: one more chunk, the last, with no choices and the usage.
    const usageChunks = chunks.filter((c) => c.choices.length === 0);
    assert.equal(usageChunks.length, 1, `chunks without choices: ${JSON.stringify(usageChunks)}`);
    assert.equal(usageChunks[0], chunks.at(-1), 'the usage chunk comes last');
    const { usage } = usageChunks[0];
    assert.ok(usage, `no usage in ${JSON.stringify(usageChunks[0])}`);
    assert.ok(usage.prompt_tokens > 0, JSON.stringify(usage));
    assert.ok(usage.completion_tokens > 0, JSON.stringify(usage));
    assert.ok(usage.completion_tokens <= chatRequest.max_tokens, JSON.stringify(usage));
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, JSON.stringify(usage));
    if (finishing[0].choices[0].finish_reason === 'length') {
      assert.equal(usage.completion_tokens, chatRequest.max_tokens, JSON.stringify(usage));
    }
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage ?? null, null, `usage before the last chunk: ${JSON.stringify(c)}`);
  }));

  it('answers the same chat completion unstreamed with exactly the streamed text', { timeout: 60_000 }, withLogs(async () => {
    const chunks = await streamChat();
    const streamedText = chunks.filter((c) => c.choices.length > 0).map((c) => c.choices[0].delta.content ?? '').join('');
    const streamedFinish = chunks.find((c) => c.choices[0]?.finish_reason != null)?.choices[0].finish_reason;
    const streamedUsage = chunks.at(-1)?.usage;

    const r = await client().chat.completions.create(chatRequest);
    assert.equal(r.object, 'chat.completion', JSON.stringify(r));
    assert.equal(r.model, MODEL, JSON.stringify(r));
    assert.equal(r.choices.length, 1, JSON.stringify(r));
    assert.equal(r.choices[0].index, 0, JSON.stringify(r));
    assert.equal(r.choices[0].message.role, 'assistant', JSON.stringify(r));
    assert.equal(r.choices[0].message.content, streamedText, 'unstreamed and streamed texts differ (greedy)');
    assert.equal(r.choices[0].finish_reason, streamedFinish, JSON.stringify(r));
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens, JSON.stringify(r.usage));
    if (streamedUsage) {
      assert.equal(r.usage.prompt_tokens, streamedUsage.prompt_tokens, 'prompt tokens, unstreamed vs streamed');
      assert.equal(r.usage.completion_tokens, streamedUsage.completion_tokens, 'completion tokens, unstreamed vs streamed');
    }
  }));

  it('ends a completion before its stop string, streamed or not', { timeout: 60_000 }, withLogs(async () => {
    const request = { model: MODEL, prompt: 'The capital of France is', max_tokens: 24, temperature: 0 };
    const base = await client().completions.create(request);
    assert.equal(base.object, 'text_completion', JSON.stringify(base));
    const text = base.choices[0].text;
    const at = pickStop(text);
    assert.ok(at, `cannot pick a stop string from the completion's text ${JSON.stringify(text)} ` +
                  '(printable ASCII, not at the start, its first occurrence)');
    const expected = text.slice(0, at.index);

    const stopped = await client().completions.create({ ...request, stop: [at.stop] });
    assert.equal(stopped.choices[0].text, expected, `stop ${JSON.stringify(at.stop)} in ${JSON.stringify(text)}`);
    assert.equal(stopped.choices[0].finish_reason, 'stop', JSON.stringify(stopped));
    assert.ok(stopped.usage.completion_tokens <= base.usage.completion_tokens, JSON.stringify(stopped.usage));

    const stream = await client().completions.create({ ...request, stop: [at.stop], stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const withChoice = chunks.filter((c) => c.choices.length > 0);
    for (const c of chunks) assert.equal(c.object, 'text_completion', JSON.stringify(c));
    assert.equal(withChoice.map((c) => c.choices[0].text).join(''), expected,
                 `streamed, stop ${JSON.stringify(at.stop)} in ${JSON.stringify(text)}`);
    const finishing = withChoice.filter((c) => c.choices[0].finish_reason != null);
    assert.deepEqual(finishing.map((c) => c.choices[0].finish_reason), ['stop'], JSON.stringify(chunks));
  }));

  it('reports log-probabilities of a greedy chat completion: the sampled token is the most likely', { timeout: 60_000 }, withLogs(async () => {
    const r = await client().chat.completions.create({ ...chatRequest, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0].logprobs?.content;
    assert.ok(Array.isArray(content), JSON.stringify(r.choices[0]));
    assert.equal(content.length, r.usage.completion_tokens, 'one entry per generated token');
    for (const entry of content) {
      assert.ok(entry.logprob <= 0, JSON.stringify(entry));
      assert.equal(entry.top_logprobs.length, 3, JSON.stringify(entry));
      // Greedy: the sampled token is the argmax, the first alternative (ties: the lower id).
      assert.ok(Math.abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-6, JSON.stringify(entry));
      assert.ok(entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob, JSON.stringify(entry));
      assert.ok(Array.isArray(entry.bytes), JSON.stringify(entry));
    }
    const plain = await client().chat.completions.create(chatRequest);
    assert.equal(r.choices[0].message.content, plain.choices[0].message.content, 'logprobs changed the greedy text');
  }));

  it('refuses a wrong API key and a missing one with 401, without echoing the key', { timeout: 60_000 }, withLogs(async () => {
    const wrongKey = `sk-wrong-${crypto.randomBytes(16).toString('hex')}`;
    const request = { ...chatRequest, max_tokens: 4 };
    await assert.rejects(client({ apiKey: wrongKey }).chat.completions.create(request), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError, `expected AuthenticationError, got ${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.status, 401);
      assert.ok(!e.message.includes(wrongKey), `the error echoes the wrong key: ${e.message}`);
      assert.ok(!JSON.stringify(e.error ?? null).includes(wrongKey), `the error body echoes the wrong key: ${JSON.stringify(e.error)}`);
      return true;
    });
    // No Authorization header at all (the SDK needs some apiKey; a null header drops it).
    await assert.rejects(client({ defaultHeaders: { Authorization: null } }).chat.completions.create(request), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError, `expected AuthenticationError, got ${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.status, 401);
      return true;
    });
  }));

  it('lists the model under the name of the checkpoint directory', { timeout: 60_000 }, withLogs(async () => {
    const page = await client().models.list();
    const ids = page.data.map((m) => m.id);
    assert.ok(ids.includes(MODEL), `models: ${JSON.stringify(page.data)}`);
  }));
});

// A stop string of 3 (else 4, else 2) printable ASCII characters from the middle of `text`,
// at least 2 characters in, whose first occurrence is there: {stop, index} or null.
function pickStop(text) {
  const printable = (s) => /^[\x20-\x7e]+$/.test(s);
  const middle = Math.floor(text.length / 2);
  for (const length of [3, 4, 2]) {
    for (let d = 0; d < text.length; ++d) {
      for (const index of [middle - d, middle + d]) {
        if (index < 2 || index + length > text.length) continue;
        const stop = text.slice(index, index + length);
        if (printable(stop) && stop.trim() !== '' && text.indexOf(stop) === index) return { stop, index };
      }
    }
  }
  return null;
}
