// The Helm chart (helm/strata) checked offline, as `helm` itself cannot be installed here:
// rendered by tests/helm/render (Go text/template + sprig, Helm's libraries; it validates the
// merged values against values.schema.json as Helm does) with the default values and with
// each helm/strata/ci/*-values.yaml; every rendered object validated against the Kubernetes
// and prometheus-operator schemas (npm kubernetes-models, @kubernetes-models/prometheus-operator);
// the flags the pods pass checked against the binaries' own --help; bad values files refused
// with a message naming the value; the dashboards' ConfigMaps equal to dashboards/*.json; the
// chart README's values table complete; and the Dockerfile linted (dockerfile-utils) and
// checked against the build's outputs and scripts.
//
// Run by ctest (tests/CMakeLists.txt, `helm_chart`), or by hand:
//   STRATA_HELM_RENDER=build/tests/helm/strata-helm-render STRATA_CLI_PATH=build/cli/strata \
//   STRATA_COORDINATOR_PATH=build/coordinator/strata-coordinator \
//   STRATA_WORKER_PATH=build/worker/strata-worker node --test tests/helm/chart.test.mjs
// Needs node (20+) and tests/helm/node_modules (scripts/deps.sh runs `npm ci` there).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { validate as lintDockerfile } from 'dockerfile-utils';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const chart = path.join(root, 'helm', 'strata');
const renderer = process.env.STRATA_HELM_RENDER;
const binaries = {
  coordinator: process.env.STRATA_COORDINATOR_PATH,
  worker: process.env.STRATA_WORKER_PATH,
  cli: process.env.STRATA_CLI_PATH,
};

function render(valuesFiles, extra = []) {
  const args = ['--chart', chart, '--release-name', 'strata', '--namespace', 'inference', ...extra];
  for (const f of valuesFiles) args.push('-f', f);
  const r = spawnSync(renderer, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return r;
}

// The objects of a rendered stream, each with the template it came from.
function objectsOf(stream) {
  const objects = [];
  // "---\n# Source: PATH\n" opens each template's output, which may hold several documents.
  for (const part of stream.split(/^---\n(?=# Source: )/m).filter((p) => p.trim())) {
    const source = /^# Source: (\S+)/.exec(part)[1];
    for (const doc of parseAllDocuments(part)) {
      if (doc.errors.length) throw new Error(`${source} does not parse: ${doc.errors[0].message}`);
      const obj = doc.toJS();
      if (obj !== null && obj !== undefined) objects.push({ source, obj });
    }
  }
  return objects;
}

// The schema model of an object's apiVersion and kind.
async function modelOf(apiVersion, kind) {
  const from = apiVersion.startsWith('monitoring.coreos.com/') ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models';
  return (await import(`${from}/${apiVersion}/${kind}`))[kind];
}

async function validateAll(objects) {
  for (const { source, obj } of objects) {
    const where = `${obj.kind} ${obj.metadata?.name} (${source})`;
    const Model = await modelOf(obj.apiVersion, obj.kind);
    assert.ok(Model, `no schema for ${obj.apiVersion} ${obj.kind}: ${where}`);
    try {
      new Model(obj).validate();
    } catch (e) {
      assert.fail(`${where} is not a valid ${obj.apiVersion} ${obj.kind}: ${e.message}`);
    }
  }
}

const find = (objects, kind, name) =>
  objects.map((o) => o.obj).find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

// "--flag=value" and "--flag" of a container's args, by flag.
function flagsOf(container) {
  const flags = new Map();
  for (const a of container.args) {
    const m = /^(--[a-z0-9-]+)(?:=(.*))?$/.exec(a);
    assert.ok(m, `argument ${a} of ${container.name} is not --flag[=value]`);
    flags.set(m[1], m[2] ?? true);
  }
  return flags;
}

// Each binary's --help, once.
const helpTexts = new Map();
function helpOf(binary) {
  if (!helpTexts.has(binary)) {
    const r = spawnSync(binary, ['--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${binary} --help: ${r.stderr}`);
    helpTexts.set(binary, r.stdout);
  }
  return helpTexts.get(binary);
}

function assertFlagsKnown(container, binary) {
  const help = helpOf(binary);
  for (const flag of flagsOf(container).keys()) {
    assert.ok(new RegExp(`(^|\\s)${flag}\\b`).test(help), `${container.name} passes ${flag}, which ${path.basename(binary)} --help does not list`);
  }
}

// The files of a pod's secrets volume: mounted path -> [Secret name, key].
function secretFilesOf(workload, container) {
  const dir = container.volumeMounts.find((m) => m.name === 'secrets').mountPath;
  const files = new Map();
  for (const s of workload.spec.template.spec.volumes.find((v) => v.name === 'secrets').projected.sources) {
    for (const i of s.secret.items) files.set(`${dir}/${i.path}`, [s.secret.name, i.key]);
  }
  return files;
}

// The coordinator's probes: /health and /ready on the API port, over HTTPS with tls.api. With
// client certificates required (the kubelet cannot present one): a TCP check of the API port
// at start-up, then the metrics server, which stays plain HTTP.
function checkCoordinatorProbes(coordinator, values) {
  const api = values.tls.api;
  const apiPort = coordinator.ports.find((p) => p.containerPort === values.coordinator.ports.http);
  assert.equal(apiPort.name, api.enabled ? 'https' : 'http');
  const { startupProbe: startup, livenessProbe: liveness, readinessProbe: readiness } = coordinator;
  if (api.enabled && api.clientCaSecret) {
    assert.deepEqual(startup.tcpSocket, { port: apiPort.name });
    assert.equal(startup.httpGet, undefined);
    for (const probe of [liveness, readiness]) assert.deepEqual(probe.httpGet, { path: '/metrics', port: 'metrics' });
    assert.ok(coordinator.ports.some((p) => p.name === 'metrics'));
  } else {
    const scheme = api.enabled ? 'HTTPS' : 'HTTP';
    for (const [probe, route] of [[startup, '/health'], [liveness, '/health'], [readiness, '/ready']]) {
      assert.deepEqual(probe.httpGet, { path: route, port: apiPort.name, scheme });
    }
  }
}

// TLS: each option passes its flags, each naming a file the pod mounts (read-only) from the
// Secret and key the values say, and nothing else; the workers get the coordinator's CA, never
// its key; the metrics stay plain HTTP.
function checkTls(objects, values, { deployment, statefulset, coordinator, worker }) {
  const { controlPlane: cp, api } = values.tls;
  const expectFiles = (workload, container, wanted) => {
    const flags = flagsOf(container);
    const files = secretFilesOf(workload, container);
    for (const [flag, source] of Object.entries(wanted)) {
      if (source === null) {
        assert.ok(!flags.has(flag), `${container.name} passes ${flag} with its TLS option off`);
        continue;
      }
      assert.ok(flags.has(flag), `${container.name} lacks ${flag}`);
      assert.deepEqual(files.get(flags.get(flag)), source,
        `${container.name} ${flag}=${flags.get(flag)} is not key ${source[1]} of Secret ${source[0]}`);
    }
  };
  const control = cp.enabled;
  const mutual = cp.enabled && cp.mutual;
  const clientCa = api.enabled && api.clientCaSecret;
  expectFiles(deployment, coordinator, {
    '--tls-cert': control ? [cp.secretName, 'tls.crt'] : null,
    '--tls-key': control ? [cp.secretName, 'tls.key'] : null,
    '--tls-ca': mutual ? [cp.secretName, 'ca.crt'] : null,
    '--http-tls-cert': api.enabled ? [api.secretName, 'tls.crt'] : null,
    '--http-tls-key': api.enabled ? [api.secretName, 'tls.key'] : null,
    '--http-tls-ca': clientCa ? [api.clientCaSecret, api.clientCaKey] : null,
  });
  expectFiles(statefulset, worker, {
    '--tls-ca': control ? [cp.secretName, 'ca.crt'] : null,
    '--tls-cert': mutual ? [cp.workerSecretName, 'tls.crt'] : null,
    '--tls-key': mutual ? [cp.workerSecretName, 'tls.key'] : null,
  });
  for (const [name, key] of secretFilesOf(statefulset, worker).values()) {
    if (key === 'tls.key') assert.equal(name, cp.workerSecretName, `the workers mount the private key of Secret ${name}`);
  }
  // The API Service's port follows the scheme; the metrics ports and the ServiceMonitor do not.
  const apiService = find(objects, 'Service', deployment.metadata.name);
  const apiPort = apiService.spec.ports.find((p) => p.port === values.coordinator.ports.http);
  assert.equal(apiPort.name, api.enabled ? 'https' : 'http');
  assert.equal(apiPort.appProtocol, api.enabled ? 'https' : undefined);
  assert.equal(apiService.spec.ports.find((p) => p.name === 'metrics').targetPort, 'metrics');
  const sm = find(objects, 'ServiceMonitor');
  for (const e of sm?.spec.endpoints ?? []) {
    assert.equal(e.port, 'metrics');
    assert.ok(e.scheme === undefined || e.scheme === 'http', `the ServiceMonitor scrapes over ${e.scheme}`);
    assert.equal(e.tlsConfig, undefined);
  }
}

// Checks every rendering must pass: valid objects, flags the binaries know, the wiring
// between Services, pods and Secrets, probes on the routes the coordinator serves.
async function checkRendering(objects, values) {
  await validateAll(objects);
  const names = objects.map((o) => `${o.obj.kind}/${o.obj.metadata.namespace ?? ''}/${o.obj.metadata.name}`);
  assert.equal(new Set(names).size, names.length, `duplicate objects: ${names}`);

  const deployment = find(objects, 'Deployment');
  const statefulset = find(objects, 'StatefulSet');
  const coordinator = deployment.spec.template.spec.containers[0];
  const worker = statefulset.spec.template.spec.containers[0];
  assertFlagsKnown(coordinator, binaries.coordinator);
  assertFlagsKnown(worker, binaries.worker);

  // The coordinator: one replica, replaced whole, probes on /health and /ready.
  assert.equal(deployment.spec.replicas, 1);
  assert.equal(deployment.spec.strategy.type, 'Recreate');
  checkCoordinatorProbes(coordinator, values);
  const startupSeconds = coordinator.startupProbe.periodSeconds * coordinator.startupProbe.failureThreshold;
  assert.ok(startupSeconds >= values.coordinator.startupSeconds, `startup probe allows ${startupSeconds} s`);
  const cflags = flagsOf(coordinator);
  assert.equal(cflags.get('--workers'), String(values.workers));
  assert.equal(cflags.get('--drain-timeout-s'), String(values.coordinator.drainTimeoutSeconds));
  assert.equal(flagsOf(worker).get('--drain-timeout-s'), String(values.worker.drainTimeoutSeconds));

  // Both pods: non-root, read-only root, no service-account token, grace covering the drain.
  for (const [w, c, v] of [[deployment, coordinator, values.coordinator], [statefulset, worker, values.worker]]) {
    const pod = w.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.ok(pod.terminationGracePeriodSeconds > v.drainTimeoutSeconds + v.preStopSleepSeconds,
      `${w.kind} grace ${pod.terminationGracePeriodSeconds} s does not cover its drain`);
    if (v.preStopSleepSeconds > 0) assert.deepEqual(c.lifecycle.preStop.exec.command, ['sleep', String(v.preStopSleepSeconds)]);
    // Every mount has a volume, and /tmp is writable.
    const volumes = new Set([...pod.volumes.map((x) => x.name),
      ...(w.spec.volumeClaimTemplates ?? []).map((x) => x.metadata.name)]);
    for (const m of c.volumeMounts) assert.ok(volumes.has(m.name), `${c.name} mounts ${m.name}, no such volume`);
    assert.ok(c.volumeMounts.some((m) => m.mountPath === '/tmp'), `${c.name} has no writable /tmp`);
    // The secret files the flags name (token, API key, TLS) are the ones the projected
    // volume provides, mounted read-only.
    const secretsMount = c.volumeMounts.find((m) => m.name === 'secrets');
    assert.equal(secretsMount.readOnly, true);
    const projected = pod.volumes.find((x) => x.name === 'secrets').projected.sources;
    const files = secretFilesOf(w, c);
    const flags = flagsOf(c);
    assert.ok(flags.has('--token-file'));
    for (const [flag, value] of flags) {
      if (typeof value === 'string' && value.startsWith(`${secretsMount.mountPath}/`)) {
        assert.ok(files.has(value), `${c.name} ${flag}=${value} is not mounted`);
      }
    }
    // Secrets the chart creates exist; the others are named by the values.
    const tls = values.tls;
    const named = [values.clusterToken.existingSecret, values.apiKey.existingSecret, tls.controlPlane.secretName,
      tls.controlPlane.workerSecretName, tls.api.secretName, tls.api.clientCaSecret].filter(Boolean);
    for (const s of projected) {
      const created = find(objects, 'Secret', s.secret.name);
      if (created) for (const i of s.secret.items) assert.ok(i.key in created.data, `Secret ${s.secret.name} has no ${i.key}`);
      else assert.ok(named.includes(s.secret.name), `Secret ${s.secret.name} is neither created nor named in the values`);
    }
  }

  // The workers: stable names, the GPU, the memory limit from the pinned budget, the
  // coordinator's control Service, their own address advertised.
  assert.equal(statefulset.spec.replicas, values.workers);
  const headless = find(objects, 'Service', statefulset.spec.serviceName);
  assert.ok(headless, `no Service ${statefulset.spec.serviceName} for the StatefulSet`);
  assert.equal(headless.spec.clusterIP, 'None');
  const limits = worker.resources.limits;
  if (values.worker.gpus > 0) assert.equal(limits['nvidia.com/gpu'], values.worker.gpus);
  const memoryMiB = Number(/^(\d+)Mi$/.exec(limits.memory)[1]);
  const pinnedMiB = values.worker.memory.pinnedGiB * 1024;
  assert.ok(memoryMiB >= pinnedMiB + values.worker.memory.overheadGiB * 1024, `memory limit ${limits.memory}`);
  const wflags = flagsOf(worker);
  assert.equal(wflags.get('--pinned-mem'), `${values.worker.memory.pinnedGiB}GiB`);
  assert.equal(wflags.get('--name'), '$(POD_NAME)');
  assert.equal(wflags.get('--data-host'), '$(POD_IP)');
  const env = new Map(worker.env.map((e) => [e.name, e]));
  assert.equal(env.get('POD_NAME').valueFrom.fieldRef.fieldPath, 'metadata.name');
  assert.equal(env.get('POD_IP').valueFrom.fieldRef.fieldPath, 'status.podIP');
  const [controlHost, controlPort] = wflags.get('--coordinator').split(':');
  const control = find(objects, 'Service', controlHost.split('.')[0]);
  assert.ok(control, `the workers dial ${controlHost}: no such Service`);
  assert.equal(controlHost, `${control.metadata.name}.inference.svc`);
  assert.equal(control.spec.publishNotReadyAddresses, true, 'the control Service must publish the not-ready coordinator');
  assert.equal(find(objects, 'Service', deployment.metadata.name).spec.publishNotReadyAddresses, true,
    'the API Service publishes the one coordinator while it is not ready (503s with a reason, not refused connections)');
  assert.equal(String(control.spec.ports[0].port), controlPort);
  assert.ok(coordinator.ports.some((p) => p.name === control.spec.ports[0].targetPort));
  // Each Service selects the pods it serves and names ports they have.
  for (const svc of objects.map((o) => o.obj).filter((o) => o.kind === 'Service')) {
    const pods = [deployment, statefulset].filter((w) =>
      Object.entries(svc.spec.selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v));
    assert.equal(pods.length, 1, `Service ${svc.metadata.name} selects ${pods.length} workloads`);
    const ports = pods[0].spec.template.spec.containers[0].ports.map((p) => p.name);
    for (const p of svc.spec.ports) assert.ok(ports.includes(p.targetPort), `Service ${svc.metadata.name} targets ${p.targetPort}`);
  }
  const parts = { deployment, statefulset, coordinator, worker };
  checkTls(objects, values, parts);
  return parts;
}

const valuesOf = (...files) => {
  const merge = (a, b) => {
    if (b === null || typeof b !== 'object' || Array.isArray(b) || typeof a !== 'object' || a === null) return b;
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = v === null ? undefined : merge(a[k], v);
    return out;
  };
  return files.reduce((acc, f) => merge(acc, parseYaml(fs.readFileSync(f, 'utf8'))), {});
};

const defaults = path.join(chart, 'values.yaml');
const ciValues = (name) => path.join(chart, 'ci', name);

// Renders with a values file holding `text` (extra: more renderer arguments): the renderer's
// answer and the merged values.
function renderText(text, extra = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-helm-'));
  const file = path.join(dir, 'values.yaml');
  try {
    fs.writeFileSync(file, text);
    return { r: render([file], extra), values: valuesOf(defaults, file) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const tlsArgs = (container) => container.args.filter((a) => /^--(http-)?tls-/.test(a));

describe('helm chart', () => {
  it('renders with the default values', async () => {
    const r = render([]);
    assert.equal(r.status, 0, r.stderr);
    const objects = objectsOf(r.stdout);
    const values = valuesOf(defaults);
    const { coordinator } = await checkRendering(objects, values);
    assert.deepEqual(objects.map((o) => o.obj.kind).sort(),
      ['Deployment', 'Secret', 'Secret', 'Service', 'Service', 'Service', 'StatefulSet']);
    assert.ok(flagsOf(coordinator).has('--api-key-file'), 'the API key is on by default');
    assert.ok(!find(objects, 'ServiceMonitor') && !find(objects, 'ConfigMap'));
    // A fresh random secret per install (kept across upgrades through lookup).
    const token = Buffer.from(find(objects, 'Secret', 'strata-cluster-token').data.token, 'base64').toString();
    assert.match(token, /^[A-Za-z0-9]{48}$/);
  });

  it('renders a 4-worker GPU cluster with a ServiceMonitor and the dashboards', async () => {
    const file = ciValues('gpu-cluster-values.yaml');
    const r = render([file]);
    assert.equal(r.status, 0, r.stderr);
    const objects = objectsOf(r.stdout);
    const values = valuesOf(defaults, file);
    const { statefulset, worker, coordinator } = await checkRendering(objects, values);
    assert.equal(statefulset.spec.replicas, 4);
    assert.equal(statefulset.spec.template.spec.runtimeClassName, 'nvidia');
    assert.equal(worker.resources.requests['nvidia.com/gpu'], 1);
    assert.equal(worker.resources.limits.memory, `${46 * 1024}Mi`);
    assert.equal(flagsOf(worker).get('--gpu-mem'), '14.5G');
    assert.ok(flagsOf(worker).has('--fp8-activations'));
    assert.deepEqual(coordinator.args.filter((a) => a.startsWith('--served-model-name=')),
      ['--served-model-name=llama-3.1-70b', '--served-model-name=meta-llama/Llama-3.1-70B-Instruct']);
    assert.equal(flagsOf(coordinator).get('--link-gbps'), '1.1');

    const sm = find(objects, 'ServiceMonitor');
    assert.equal(sm.metadata.labels.release, 'kube-prometheus-stack');
    assert.equal(sm.spec.endpoints[0].port, 'metrics');
    // It scrapes both components: each has a Service with a `metrics` port its selector matches.
    const scraped = objects.map((o) => o.obj).filter((o) => o.kind === 'Service' &&
      Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => o.metadata.labels[k] === v) &&
      sm.spec.selector.matchExpressions[0].values.includes(o.metadata.labels['app.kubernetes.io/component']) &&
      o.spec.ports.some((p) => p.name === 'metrics'));
    assert.deepEqual(scraped.map((s) => s.metadata.labels['app.kubernetes.io/component']).sort(), ['coordinator', 'worker']);

    // The dashboards: one ConfigMap per dashboards/*.json, the same JSON, the sidecar's label.
    const maps = objects.map((o) => o.obj).filter((o) => o.kind === 'ConfigMap');
    const files = fs.readdirSync(path.join(root, 'dashboards')).filter((f) => f.endsWith('.json')).sort();
    assert.deepEqual(maps.flatMap((m) => Object.keys(m.data)).sort(), files);
    for (const m of maps) {
      assert.equal(m.metadata.labels.grafana_dashboard, '1');
      assert.equal(m.metadata.namespace, 'monitoring');
      assert.equal(m.metadata.annotations.grafana_folder, 'Strata');
      for (const [file, text] of Object.entries(m.data)) {
        assert.deepEqual(JSON.parse(text), JSON.parse(fs.readFileSync(path.join(root, 'dashboards', file), 'utf8')));
      }
    }
  });

  it('renders with existing Secrets, local PersistentVolumes and NCCL', async () => {
    const file = ciValues('existing-secrets-values.yaml');
    const r = render([file]);
    assert.equal(r.status, 0, r.stderr);
    const objects = objectsOf(r.stdout);
    const values = valuesOf(defaults, file);
    const { statefulset, deployment, coordinator } = await checkRendering(objects, values);
    assert.ok(!find(objects, 'Secret'), 'no Secret is created when existing ones are named');
    const sources = deployment.spec.template.spec.volumes.find((v) => v.name === 'secrets').projected.sources;
    assert.deepEqual(sources.map((s) => [s.secret.name, s.secret.items[0].key]),
      [['strata-cluster-token', 'cluster-token'], ['inference-api-keys', 'strata']]);
    const claim = statefulset.spec.volumeClaimTemplates[0];
    assert.equal(claim.spec.storageClassName, 'local-nvme');
    assert.equal(claim.spec.resources.requests.storage, '160Gi');
    assert.ok(!statefulset.spec.template.spec.volumes.some((v) => v.name === 'pack'), 'the pack comes from the claim');
    assert.equal(flagsOf(coordinator).get('--transport'), 'nccl');
    assert.equal(deployment.spec.template.spec.volumes.find((v) => v.name === 'model').nfs.server, 'files.example.com');
  });

  it('renders TLS on both planes, mutual, with client certificates on the API', async () => {
    const file = ciValues('tls-values.yaml');
    const r = render([file]);
    assert.equal(r.status, 0, r.stderr);
    const objects = objectsOf(r.stdout);
    const values = valuesOf(defaults, file);
    const { deployment, statefulset, coordinator, worker } = await checkRendering(objects, values);
    assert.deepEqual(tlsArgs(coordinator), [
      '--http-tls-cert=/run/strata/tls/api/tls.crt', '--http-tls-key=/run/strata/tls/api/tls.key',
      '--http-tls-ca=/run/strata/tls/api-client-ca/ca.crt',
      '--tls-cert=/run/strata/tls/control/tls.crt', '--tls-key=/run/strata/tls/control/tls.key',
      '--tls-ca=/run/strata/tls/control/ca.crt']);
    assert.deepEqual(tlsArgs(worker), ['--tls-ca=/run/strata/tls/control/ca.crt',
      '--tls-cert=/run/strata/tls/worker/tls.crt', '--tls-key=/run/strata/tls/worker/tls.key']);
    // Workers dial the control Service by the name its certificate must carry, never an IP.
    assert.equal(flagsOf(worker).get('--coordinator'), 'strata-control.inference.svc:7070');
    const sources = (w) => w.spec.template.spec.volumes.find((v) => v.name === 'secrets').projected.sources
      .map((s) => [s.secret.name, s.secret.items.map((i) => `${i.key}>${i.path}`)]);
    assert.deepEqual(sources(deployment), [
      ['strata-cluster-token', ['token>token']], ['strata-api-key', ['api-key>api-key']],
      ['strata-control-tls', ['tls.crt>tls/control/tls.crt', 'tls.key>tls/control/tls.key', 'ca.crt>tls/control/ca.crt']],
      ['strata-api-tls', ['tls.crt>tls/api/tls.crt', 'tls.key>tls/api/tls.key']],
      ['strata-api-clients', ['ca.crt>tls/api-client-ca/ca.crt']]]);
    assert.deepEqual(sources(statefulset), [
      ['strata-cluster-token', ['token>token']], ['strata-control-tls', ['ca.crt>tls/control/ca.crt']],
      ['strata-worker-tls', ['tls.crt>tls/worker/tls.crt', 'tls.key>tls/worker/tls.key']]]);
    for (const c of [coordinator, worker]) {
      assert.ok(c.volumeMounts.find((m) => m.name === 'secrets').readOnly);
    }
    // The kubelet has no client certificate: probes on the API port's TCP and on the metrics.
    assert.deepEqual(coordinator.startupProbe.tcpSocket, { port: 'https' });
    assert.deepEqual(coordinator.readinessProbe.httpGet, { path: '/metrics', port: 'metrics' });
    assert.deepEqual(find(objects, 'ServiceMonitor').spec.endpoints.map((e) => [e.port, e.scheme]), [['metrics', undefined]]);
    // No Secret made for TLS: only the token and the API key.
    assert.deepEqual(objects.map((o) => o.obj).filter((o) => o.kind === 'Secret').map((o) => o.metadata.name).sort(),
      ['strata-api-key', 'strata-cluster-token']);
  });

  // Each TLS option on its own: the flags it adds (with their mounted paths) and the readiness probe.
  const tlsCases = [
    ['the control plane', 'tls:\n  controlPlane:\n    enabled: true\n    secretName: control-tls\n', {
      coordinator: ['--tls-cert=/run/strata/tls/control/tls.crt', '--tls-key=/run/strata/tls/control/tls.key'],
      worker: ['--tls-ca=/run/strata/tls/control/ca.crt'],
      readiness: { path: '/ready', port: 'http', scheme: 'HTTP' },
    }],
    ['the control plane, mutual', 'tls:\n  controlPlane: {enabled: true, secretName: control-tls, mutual: true, workerSecretName: workers-tls}\n', {
      coordinator: ['--tls-cert=/run/strata/tls/control/tls.crt', '--tls-key=/run/strata/tls/control/tls.key',
        '--tls-ca=/run/strata/tls/control/ca.crt'],
      worker: ['--tls-ca=/run/strata/tls/control/ca.crt', '--tls-cert=/run/strata/tls/worker/tls.crt',
        '--tls-key=/run/strata/tls/worker/tls.key'],
      readiness: { path: '/ready', port: 'http', scheme: 'HTTP' },
    }],
    ['the API', 'tls:\n  api:\n    enabled: true\n    secretName: api-tls\n', {
      coordinator: ['--http-tls-cert=/run/strata/tls/api/tls.crt', '--http-tls-key=/run/strata/tls/api/tls.key'],
      worker: [],
      readiness: { path: '/ready', port: 'https', scheme: 'HTTPS' },
    }],
    ['the API with client certificates (the CA in its own Secret)',
      'tls:\n  api: {enabled: true, secretName: api-tls, clientCaSecret: api-tls}\n', {
        coordinator: ['--http-tls-cert=/run/strata/tls/api/tls.crt', '--http-tls-key=/run/strata/tls/api/tls.key',
          '--http-tls-ca=/run/strata/tls/api-client-ca/ca.crt'],
        worker: [],
        readiness: { path: '/metrics', port: 'metrics' },
      }],
  ];
  for (const [what, text, want] of tlsCases) {
    it(`renders TLS on ${what}`, async () => {
      const { r, values } = renderText(text);
      assert.equal(r.status, 0, r.stderr);
      const { coordinator, worker } = await checkRendering(objectsOf(r.stdout), values);
      assert.deepEqual(tlsArgs(coordinator), want.coordinator);
      assert.deepEqual(tlsArgs(worker), want.worker);
      assert.deepEqual(coordinator.readinessProbe.httpGet, want.readiness);
    });
  }

  it('prints NOTES that name what the TLS certificates must cover', () => {
    const r = render([ciValues('tls-values.yaml')], ['--notes']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /must name strata-control\.inference\.svc, the host the workers dial/);
    assert.match(r.stdout, /curl -s --cacert CA\.crt --resolve strata-coordinator\.inference\.svc:8000:127\.0\.0\.1 --cert CLIENT\.crt --key CLIENT\.key https:\/\/strata-coordinator\.inference\.svc:8000\/ready/);
    assert.match(r.stdout, /probes use the metrics\s+port/);
    const plain = render([], ['--notes']);
    assert.doesNotMatch(plain.stdout, /https:|TLS/);
  });

  it('prints NOTES that say how to reach the API', () => {
    for (const files of [[], [ciValues('gpu-cluster-values.yaml')], [ciValues('existing-secrets-values.yaml')],
      [ciValues('tls-values.yaml')]]) {
      const r = render(files, ['--notes']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /port-forward svc\/strata-coordinator 8000:8000/);
      assert.match(r.stdout, /Authorization: Bearer \$STRATA_API_KEY/);
    }
  });

  // A values file that must be refused, and what the message must say.
  const refused = [
    ['workers: 0\n', /workers: Must be greater than or equal to 1/],
    ['image:\n  repository: ""\n', /image.repository: String length must be greater than or equal to 1/],
    ['image:\n  repository: null\n', /image: repository is required/],
    ['worker:\n  gpus: 0\n', /worker.gpus must be at least 1 with worker.backend cuda/],
    ['worker:\n  backend: cpu\n', /worker.backend cpu leaves the requested GPUs idle/],
    ['pack:\n  source: persistentVolumeClaim\n', /coordinator.modelVolume is required when pack.source is persistentVolumeClaim/],
    ['coordinator:\n  transport: tcp\n', /coordinator.transport: coordinator.transport must be one of/],
    ['workerz: 3\n', /Additional property workerz is not allowed/],
    ['worker:\n  memory:\n    pinnedGiB: 0\n', /worker.memory.pinnedGiB: Must be greater than 0/],
    ['tls:\n  controlPlane:\n    enabled: true\n', /tls.controlPlane.secretName: String length must be greater than or equal to 1/],
    ['tls:\n  api:\n    enabled: true\n', /tls.api.secretName: String length must be greater than or equal to 1/],
    ['tls:\n  controlPlane: {enabled: true, secretName: control-tls, mutual: true}\n',
      /tls.controlPlane.workerSecretName: String length must be greater than or equal to 1/],
    ['tls:\n  controlPlane: {mutual: true, workerSecretName: workers-tls}\n', /tls.controlPlane.mutual needs tls.controlPlane.enabled/],
    ['tls:\n  api:\n    clientCaSecret: clients-ca\n', /tls.api.clientCaSecret needs tls.api.enabled/],
    ['tls:\n  api:\n    enabled: "yes"\n    secretName: api-tls\n', /tls.api.enabled: Invalid type. Expected: boolean, given: string/],
    ['tls:\n  api:\n    secretName: Not_A_Name\n', /tls.api.secretName: Does not match pattern/],
    ['tls:\n  controlPlane:\n    enable: true\n', /Additional property enable is not allowed/],
  ];
  for (const [text, message] of refused) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-helm-'));
      const file = path.join(dir, 'bad-values.yaml');
      fs.writeFileSync(file, text);
      const r = render([file]);
      fs.rmSync(dir, { recursive: true, force: true });
      assert.notEqual(r.status, 0, `rendered although the values are bad:\n${r.stdout.slice(0, 400)}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '', 'nothing is rendered');
    });
  }

  it('documents every value in the chart README', () => {
    const readme = fs.readFileSync(path.join(chart, 'README.md'), 'utf8');
    const leaves = [];
    const walk = (v, prefix) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 &&
          !['resources', 'labels', 'requests', 'limits'].includes(prefix.split('.').pop())) {
        for (const [k, x] of Object.entries(v)) walk(x, prefix ? `${prefix}.${k}` : k);
      } else {
        leaves.push(prefix);
      }
    };
    walk(parseYaml(fs.readFileSync(defaults, 'utf8')), '');
    const missing = leaves.filter((k) => !readme.includes(`\`${k}\``));
    assert.deepEqual(missing, [], `values missing from helm/strata/README.md's table`);
  });
});

describe('Dockerfile', () => {
  const text = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');

  it('lints clean', () => {
    const problems = lintDockerfile(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    assert.deepEqual(problems, []);
  });

  it('builds the binaries the build produces, with scripts that exist, and runs them unprivileged', () => {
    const stages = [...text.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gm)].map((m) => m[1]);
    assert.equal(stages.at(-1), 'runtime', 'the last stage (what `docker build` makes) is the runtime');
    assert.deepEqual(stages, ['source', 'build-cpu', 'build-cuda', 'build', 'runtime']);
    for (const m of text.matchAll(/--from=(\S+)/g)) assert.ok(stages.includes(m[1]), `COPY --from=${m[1]}: no such stage`);
    // VARIANT picks a build stage that exists.
    const variant = /^ARG VARIANT=(\S+)/m.exec(text)[1];
    assert.ok(stages.includes(`build-${variant}`) && /^FROM build-\$\{VARIANT\} AS build$/m.test(text));
    for (const m of text.matchAll(/\bscripts\/([a-z-.]+)/g)) {
      assert.ok(fs.existsSync(path.join(root, 'scripts', m[1])), `the Dockerfile runs scripts/${m[1]}, which does not exist`);
    }
    // The paths it copies out of the build directory are where this build put the binaries.
    const build = path.resolve(path.dirname(binaries.cli), '..');
    for (const m of text.matchAll(/\/build\/(\S+\/strata[a-z-]*)/g)) {
      assert.ok(fs.existsSync(path.join(build, m[1])), `the Dockerfile copies /build/${m[1]}; this build has no ${m[1]}`);
    }
    // The final stage ends as an unprivileged user.
    const runtime = text.split(/^FROM /m).find((st) => / AS runtime\n/.test(st));
    const users = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    assert.ok(users.length > 0 && !/^(0|root)\b/.test(users.at(-1)), `the runtime stage runs as ${users.at(-1)}`);
    assert.match(fs.readFileSync(path.join(root, 'scripts', 'deps.sh'), 'utf8'), /--build\)/, 'scripts/deps.sh takes --build');
  });
});
