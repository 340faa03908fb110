// The load test from the command line (tests/load; docs/operations.md, "Load test"):
//   STRATA_CLI_PATH=build/cli/strata node tests/load/load.mjs [--clients 64] [--seconds 60]
//     [--warmup-seconds 5] [--stream-share 0.5] [--cancel-share 0.1] [--chat-share 0.5]
//     [--seed 1] [--kv-slots 8] [--max-tokens 192] [--json FILE]
// (scripts/load-test sets STRATA_CLI_PATH). Prints the report as tables and as JSON (also to
// FILE with --json); exits 1 when a pass criterion failed, 2 on a usage error.
import fs from 'node:fs';
import { parseArgs } from 'node:util';

import { formatReport } from './report.mjs';
import { DEFAULTS, runLoad } from './load_run.mjs';

const FLAGS = {
  clients: 'clients', seconds: 'seconds', 'warmup-seconds': 'warmupSeconds', 'stream-share': 'streamShare',
  'cancel-share': 'cancelShare', 'chat-share': 'chatShare', seed: 'seed', 'kv-slots': 'kvSlots', 'max-tokens': 'maxTokens',
};

function usage(message) {
  console.error(`load.mjs: ${message}\nflags: ${Object.keys(FLAGS).map((f) => `--${f} N`).join(' ')} --json FILE`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: { ...Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' }])), json: { type: 'string' } },
  }));
} catch (e) {
  usage(e.message);
}
const options = { ...DEFAULTS };
for (const [flag, key] of Object.entries(FLAGS)) {
  if (values[flag] === undefined) continue;
  const n = Number(values[flag]);
  const share = key.endsWith('Share');
  const least = key === 'seed' || key === 'warmupSeconds' ? 0 : 1;
  if (share ? !(n >= 0 && n <= 1) : !(Number.isInteger(n) && n >= least)) {
    usage(`--${flag} ${values[flag]}: give ${share ? 'a share from 0 to 1' : `a whole number of at least ${least}`}`);
  }
  options[key] = n;
}

const started = performance.now();
const report = await runLoad(options, (line) => console.error(`load [${((performance.now() - started) / 1000).toFixed(1)} s]: ${line}`));
console.log(formatReport(report));
const json = JSON.stringify(report, null, 2);
console.log(json);
if (values.json) fs.writeFileSync(values.json, `${json}\n`);
process.exit(report.problems.length ? 1 : 0);
