// The load test's short form for ctest (tests/CMakeLists.txt, `load`, labels cluster and
// load): 16 clients for 6 s after a 2 s warm-up, completions capped at 24 tokens so the
// last request ends soon after the deadline; the full run (64 clients, 60 s) is
// scripts/load-test. The pass criteria are report.mjs's: its list of problems must be empty.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { formatReport } from './report.mjs';
import { runLoad } from './load_run.mjs';

const SHORT = { clients: 16, seconds: 6, warmupSeconds: 2, maxTokens: 24 };

describe('the load test, short form', () => {
  it('serves 16 clients for 6 s without errors, leaks or a restart', { timeout: 120_000 }, async () => {
    const report = await runLoad(SHORT, (line) => console.error(`load: ${line}`));
    console.error(formatReport(report));
    assert.deepEqual(report.problems, []);
  });
});
