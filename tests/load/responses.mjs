// What a well-formed answer of the load test's requests is (tests/load): a whole completion's
// JSON body, and a stream's Server-Sent Events up to `data: [DONE]` (docs/operations.md,
// "HTTP API"). Each check returns a list of problems (empty: well-formed) and the counts the
// report needs; the requests ask for `return_token_ids` and, streamed, `include_usage`, so
// the token counts can be cross-checked.

const FINISH_REASONS = new Set(['stop', 'length']);

// Usage of one answer against its request: [problems].
function usageProblems(usage, tokenIds, request) {
  const problems = [];
  if (!usage || !Number.isInteger(usage.prompt_tokens) || !Number.isInteger(usage.completion_tokens)) {
    return [`usage is not {prompt_tokens, completion_tokens, ...}: ${JSON.stringify(usage)}`];
  }
  if (usage.prompt_tokens < 1) problems.push(`usage.prompt_tokens ${usage.prompt_tokens} < 1`);
  if (usage.total_tokens !== usage.prompt_tokens + usage.completion_tokens) {
    problems.push(`usage.total_tokens ${usage.total_tokens} is not prompt + completion`);
  }
  if (usage.completion_tokens < 1 || usage.completion_tokens > request.max_tokens) {
    problems.push(`usage.completion_tokens ${usage.completion_tokens} outside 1..max_tokens ${request.max_tokens}`);
  }
  if (tokenIds.length !== usage.completion_tokens) {
    problems.push(`${tokenIds.length} token ids for usage.completion_tokens ${usage.completion_tokens}`);
  }
  return problems;
}

// A whole answer (`stream: false`): {problems, promptTokens, completionTokens}.
export function checkWhole(chat, request, status, text) {
  if (status !== 200) return { problems: [`HTTP ${status}: ${text.slice(0, 300)}`] };
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return { problems: [`200 with a body that is not JSON: ${text.slice(0, 300)}`] };
  }
  const problems = [];
  const choice = body.choices?.[0];
  if (body.object !== (chat ? 'chat.completion' : 'text_completion')) problems.push(`object ${JSON.stringify(body.object)}`);
  if (body.choices?.length !== 1) problems.push(`${body.choices?.length} choices`);
  const content = chat ? choice?.message?.content : choice?.text;
  if (typeof content !== 'string') problems.push(`no text in ${JSON.stringify(choice)?.slice(0, 300)}`);
  if (chat && choice?.message?.role !== 'assistant') problems.push(`role ${JSON.stringify(choice?.message?.role)}`);
  if (!FINISH_REASONS.has(choice?.finish_reason)) problems.push(`finish_reason ${JSON.stringify(choice?.finish_reason)}`);
  const tokenIds = choice?.token_ids ?? [];
  problems.push(...usageProblems(body.usage, tokenIds, request));
  if (choice?.finish_reason === 'length' && body.usage?.completion_tokens !== request.max_tokens) {
    problems.push(`finish_reason length after ${body.usage?.completion_tokens} of ${request.max_tokens} tokens`);
  }
  return { problems, promptTokens: body.usage?.prompt_tokens ?? 0, completionTokens: tokenIds.length };
}

// A stream read to its end: `events` are the data fields in order, `ended` whether the
// connection closed after them. {problems, promptTokens, completionTokens}.
export function checkStream(chat, request, events, ended) {
  const problems = [];
  if (events.at(-1) !== '[DONE]') problems.push(`the stream ended without [DONE] (last event: ${events.at(-1)?.slice(0, 300)})`);
  if (!ended) problems.push('the connection did not end after [DONE]');
  const chunks = [];
  for (const [i, data] of events.entries()) {
    if (data === '[DONE]') {
      if (i !== events.length - 1) problems.push(`an event after [DONE]: ${events[i + 1].slice(0, 300)}`);
      continue;
    }
    try {
      chunks.push(JSON.parse(data));
    } catch {
      problems.push(`an event that is not JSON: ${data.slice(0, 300)}`);
    }
  }
  const errors = chunks.filter((c) => c.error);
  if (errors.length) return { problems: [...problems, `an error event: ${JSON.stringify(errors[0].error)}`] };
  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  const wrong = chunks.find((c) => c.object !== object);
  if (wrong) problems.push(`a chunk of object ${JSON.stringify(wrong.object)}`);
  const withChoice = chunks.filter((c) => c.choices?.length);
  if (chat && withChoice[0]?.choices[0].delta?.role !== 'assistant') problems.push('the first chat chunk has no role "assistant"');
  const finishes = withChoice.filter((c) => c.choices[0].finish_reason != null);
  if (finishes.length !== 1 || !FINISH_REASONS.has(finishes[0].choices[0].finish_reason)) {
    problems.push(`finish_reason in ${finishes.length} chunks: ${JSON.stringify(finishes.map((c) => c.choices[0].finish_reason))}`);
  }
  const tokenIds = withChoice.flatMap((c) => c.choices[0].token_ids ?? []);
  const usage = chunks.find((c) => c.usage)?.usage;
  problems.push(...usageProblems(usage, tokenIds, request));
  return { problems, promptTokens: usage?.prompt_tokens ?? 0, completionTokens: tokenIds.length };
}

// Whether a stream event is an error (`data: {"error": {...}}`).
export function isError(data) {
  try {
    return Boolean(JSON.parse(data).error);
  } catch {
    return false;
  }
}

// Token ids a stream chunk carries (0 for [DONE] and chunks without a choice).
export function chunkTokens(data) {
  if (data === '[DONE]') return 0;
  try {
    return JSON.parse(data).choices?.[0]?.token_ids?.length ?? 0;
  } catch {
    return 0;
  }
}
