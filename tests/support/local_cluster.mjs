// A local cluster for the node tests (tests/client, tests/load): `strata cluster up` on the
// tiny fixture in a run directory of its own, as a user starts it, with an API key; ready
// once GET /ready answers 200; the processes it started (coordinator, workers) by pid; its
// logs for failure messages; `strata cluster down` to stop it, the launcher killed as a
// last resort. Needs STRATA_CLI_PATH (ctest sets it); STRATA_TEST_FIXTURES is optional.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, sleep, timeout } from './node_helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

export const MODEL = 'tiny-llama31';  // the checkpoint directory's name: the served model name
export const READY_TIMEOUT_MS = 120_000;
export const DOWN_TIMEOUT_MS = 70_000;  // `cluster down` itself waits up to 60 s for the launcher

const cliPath = process.env.STRATA_CLI_PATH;
const fixtures = process.env.STRATA_TEST_FIXTURES || path.resolve(here, '..', 'fixtures');

function tail(file, lines = 60) {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch (e) {
    return `(cannot read: ${e.message})`;
  }
}

// One cluster of `workers` workers; `args` are more `cluster up` flags; the run directory is
// `<tmpdir>/<prefix>XXXXXX`.
export class LocalCluster {
  constructor({ prefix = 'strata-test-', workers = 2, args = [] } = {}) {
    this.runDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.keyFile = path.join(this.runDir, 'key');
    this.workers = workers;
    this.args = args;
    this.launcher = null;
    this.launcherOutput = '';
    this.launcherExit = null;  // a promise of 'exited with code N' / 'killed by SIGX'
    this.exited = null;        // the description once it exited
    this.port = 0;
    this.key = '';
    this.stopping = null;
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  get baseURL() {
    return `${this.origin}/v1`;
  }

  // The launcher's output and the end of every log in the run directory.
  logs() {
    let text = `--- strata cluster up (${this.exited ?? 'running'})\n${this.launcherOutput.trimEnd()}\n`;
    let names = [];
    try {
      names = fs.readdirSync(this.runDir).filter((n) => n.endsWith('.log')).sort();
    } catch {}
    if (!names.length) text += `(no logs in ${this.runDir})\n`;
    for (const name of names) text += `--- ${path.join(this.runDir, name)}\n${tail(path.join(this.runDir, name))}\n`;
    return text;
  }

  async start() {
    if (!cliPath) throw new Error('STRATA_CLI_PATH is not set: give the path of the built `strata` binary (ctest sets it)');
    const model = path.join(fixtures, MODEL);
    if (!fs.existsSync(path.join(model, 'config.json'))) {
      throw new Error(`no fixture model at ${model} (STRATA_TEST_FIXTURES=${process.env.STRATA_TEST_FIXTURES ?? ''})`);
    }
    // The key is ours; read back once ready in case the launcher rewrote the file.
    fs.writeFileSync(this.keyFile, `sk-strata-test-${crypto.randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
    this.port = await freePort();
    const argv = ['cluster', 'up', '--model', model, '--workers', String(this.workers), '--http', String(this.port),
                  '--run-dir', this.runDir, '--api-key-file', this.keyFile, ...this.args];
    this.launcherOutput = `$ ${cliPath} ${argv.join(' ')}\n`;
    this.launcher = spawn(cliPath, argv, {
      env: { ...process.env, UCX_TLS: 'tcp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const s of [this.launcher.stdout, this.launcher.stderr]) {
      s.setEncoding('utf8');
      s.on('data', (d) => { this.launcherOutput += d; });
    }
    this.launcherExit = new Promise((resolve) => {
      this.launcher.on('error', (e) => { this.exited = `could not start: ${e.message}`; resolve(this.exited); });
      this.launcher.on('exit', (code, signal) => {
        this.exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
        resolve(this.exited);
      });
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = 'no answer yet';
    for (;;) {
      if (this.exited) {
        throw new Error(`strata cluster up ${this.exited} before GET /ready answered 200\n${this.logs()}`);
      }
      try {
        const r = await fetch(`${this.origin}/ready`, { signal: AbortSignal.timeout(2000) });
        const body = await r.text();
        if (r.status === 200) break;
        last = `${r.status} ${body.slice(0, 300)}`;
      } catch (e) {
        last = e.cause?.code ?? e.message;
      }
      if (Date.now() > deadline) {
        throw new Error(`GET /ready did not answer 200 within ${READY_TIMEOUT_MS / 1000} s (last: ${last})\n${this.logs()}`);
      }
      await sleep(250);
    }
    this.key = fs.readFileSync(this.keyFile, 'utf8').trim();
  }

  // The processes the launcher started, alive now: [{name: 'coordinator' | 'worker-N', pid}],
  // coordinator first (its children, found by their parent pid in /proc).
  processes() {
    const found = [];
    for (const entry of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        // Fields after the parenthesised command name: state, ppid, ...
        const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid !== this.launcher?.pid) continue;
        const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        const nameAt = argv.indexOf('--name');
        const name = path.basename(argv[0]) === 'strata-coordinator' ? 'coordinator'
          : nameAt > 0 ? argv[nameAt + 1] : path.basename(argv[0]);
        found.push({ name, pid: Number(entry) });
      } catch {}  // gone meanwhile
    }
    return found.sort((a, b) => (a.name === 'coordinator' ? -1 : b.name === 'coordinator' ? 1 : a.name.localeCompare(b.name)));
  }

  // Ctest's timeout or Ctrl-C: the launcher stops the processes it started.
  stopOnSignals() {
    for (const signal of ['SIGINT', 'SIGTERM']) {
      process.once(signal, () => {
        if (this.launcher && !this.exited) this.launcher.kill('SIGTERM');
        process.exit(1);
      });
    }
  }

  // `strata cluster down`, then the launcher's exit; the launcher killed as a last resort.
  // Resolves to what went wrong ('' when it stopped cleanly). Once: later calls share it.
  stop() {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  async stopOnce() {
    if (!this.launcher) return '';
    if (this.exited) return this.key ? `strata cluster up ${this.exited} while the tests ran` : '';
    const problems = [];
    // Asynchronous: `down` waits for the launcher to be gone, and only this process's event
    // loop reaps it (a zombie still counts as alive).
    const down = spawn(cliPath, ['cluster', 'down', '--run-dir', this.runDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let downOutput = '';
    for (const s of [down.stdout, down.stderr]) s.on('data', (d) => { downOutput += d; });
    const downExit = new Promise((resolve) => {
      down.on('error', (e) => resolve(`could not start: ${e.message}`));
      down.on('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exited with code ${code}`));
    });
    const downResult = await Promise.race([downExit, timeout(DOWN_TIMEOUT_MS)]);
    if (downResult !== 'exited with code 0') {
      problems.push(`strata cluster down ${downResult}: ${downOutput.trim()}`);
      if (downResult === 'timed out') down.kill('SIGKILL');
    }
    let launcherResult = await Promise.race([this.launcherExit, timeout(15_000)]);
    if (launcherResult === 'timed out') {
      this.launcher.kill('SIGTERM');
      launcherResult = await Promise.race([this.launcherExit, timeout(15_000)]);
    }
    if (launcherResult === 'timed out') {
      this.launcher.kill('SIGKILL');
      launcherResult = await Promise.race([this.launcherExit, timeout(5_000)]);
      killLeftovers(this.runDir);
    }
    if (launcherResult !== 'exited with code 0') problems.push(`strata cluster up ${launcherResult}`);
    return problems.join('\n');
  }

  removeRunDir() {
    fs.rmSync(this.runDir, { recursive: true, force: true });
  }
}

// The coordinator and workers of a launcher that had to be killed: every process whose
// command line names this run directory (unique to this cluster), killed by its pid.
function killLeftovers(runDir) {
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (Number(pid) !== process.pid && cmdline.split('\0').some((a) => a.startsWith(runDir + '/'))) {
        process.kill(Number(pid), 'SIGKILL');
      }
    } catch {}
  }
}
