// The dashboard in a real browser: Debian's Chromium, driven by
// playwright-core, against a real vitte-taskd and two vitte-workers on
// loopback. Run by run.sh (which installs Chromium and playwright-core);
// see there for the command line.
//
// What it checks:
//  1. a graph page draws every task and recolours them live, without a
//     reload, until all are green, following the graph's events (long
//     polls of /events, no polling of ?fields=states); the ETA uses an
//     earlier run of the same graph and the critical path is highlighted;
//  2. clicking a task opens its page, whose log (read from /logs) shows
//     what the task printed; the graphs and workers pages list what the
//     CLI lists;
//  3. a graph of 10,000 tasks gets the collapsed view within a bounded
//     time and the page stays responsive, and still updates live;
//  4. against a daemon run with --auth tokens, the page asks for a token
//     once (a prompt), then shows the graphs, and keeps it across a reload.
// Screenshots go to --out; with VITTE_UPDATE_SCREENSHOT=1 the one of a
// running graph also replaces docs/dashboard.png (the README's).
//
// Every wait is bounded, the whole run too (WATCHDOG_MS), and every
// process started here is killed at the end, whatever happened.

import { spawn, execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync,
         unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const WATCHDOG_MS = 180_000;

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const key of ['build', 'source', 'out', 'playwright']) {
    if (!out[key]) throw new Error(`missing --${key}`);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
// playwright-core is installed outside the source tree (see run.sh).
const { chromium } = createRequire(path.join(args.playwright, 'package.json'))('playwright-core');
const bin = {
  taskd: path.join(args.build, 'coordinator', 'vitte-taskd'),
  worker: path.join(args.build, 'worker', 'vitte-worker'),
  cli: path.join(args.build, 'client', 'vitte-task'),
};
const work = mkdtempSync(path.join(os.tmpdir(), 'vitte-dashboard-'));
mkdirSync(args.out, { recursive: true });

// --- Processes ----------------------------------------------------------------

const children = [];

function start(name, argv) {
  const log = path.join(work, name);
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', openSync(`${log}.out`, 'w'), openSync(`${log}.err`, 'w')],
  });
  child.logPrefix = log;
  child.exited = false;
  child.on('exit', () => { child.exited = true; });
  children.push(child);
  return child;
}

function killAll(signal) {
  for (const c of children) if (!c.exited) c.kill(signal);
}

// Last resort: nothing outlives the test, even on an uncaught error.
process.on('exit', () => killAll('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAll('SIGKILL'); process.exit(1); });
}

// Runs `program` with `programArgs`, bounded; resolves with its stdout.
function runProgram(program, programArgs, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    execFile(program, programArgs, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${path.basename(program)} ${programArgs.join(' ')}: ${err.message}\n${stderr}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

function runCli(cliArgs, timeoutMs = 60_000) {
  return runProgram(bin.cli, cliArgs, timeoutMs);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, timeoutMs, condition) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

// A screenshot of the page down to the end of its content.
async function screenshot(page, file) {
  const bottom = await page.evaluate(() => document.querySelector('main').getBoundingClientRect().bottom);
  const { width, height } = page.viewportSize();
  await page.screenshot({ path: path.join(args.out, file),
                          clip: { x: 0, y: 0, width, height: Math.min(height, Math.ceil(bottom) + 8) } });
  return path.join(args.out, file);
}

function readPort(file) {
  if (!existsSync(file)) return 0;
  return Number(readFileSync(file, 'utf8').trim()) || 0;
}

// --- Checks -----------------------------------------------------------------

let passed = 0;
let failed = 0;

async function check(name, body) {
  const t0 = Date.now();
  try {
    await body();
    passed++;
    console.log(`ok ${passed + failed} - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`not ok ${passed + failed} - ${name}\n  ${String(e.stack ?? e).replaceAll('\n', '\n  ')}`);
    throw e;  // later checks build on this one
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

// --- The graphs -------------------------------------------------------------

const GATE = path.join(work, 'gate');

// A small build. `gate` holds everything back until the test creates the
// gate file, so the page is sure to see the tasks pending first and turn
// green later; it gives up after 30 s (bounded).
function demoGraph() {
  const sh = (script) => ['sh', '-c', script];
  const task = (id, deps, command) => ({ id, deps, command });
  return {
    name: 'dashboard-demo',
    tasks: [
      task('gate', [], sh(`i=0; while [ ! -e '${GATE}' ]; do i=$((i+1)); `
        + '[ $i -gt 600 ] && exit 1; sleep 0.05; done')),
      task('fetch-sources', ['gate'], sh('sleep 0.4')),
      task('configure', ['fetch-sources'], sh('sleep 0.3')),
      task('compile-core', ['configure'], sh('sleep 1.2')),
      task('compile-cli', ['configure'], sh('sleep 0.6')),
      task('compile-worker', ['configure'], sh('sleep 0.8')),
      task('hello', ['configure'], sh('echo hello-from-task; echo a line on stderr >&2')),
      task('link', ['compile-core', 'compile-cli', 'compile-worker'], sh('sleep 0.5')),
      task('unit-tests', ['link', 'hello'], sh('sleep 0.6')),
      task('package', ['link'], sh('sleep 0.3')),
    ],
  };
}

// 100 layers of 100 tasks; each depends on two tasks of the layer before.
// They ask for a label no worker has, so they stay ready and pending.
function bigGraph() {
  const tasks = [];
  for (let layer = 0; layer < 100; layer++) {
    for (let col = 0; col < 100; col++) {
      const deps = layer === 0 ? []
        : [`l${layer - 1}-c${col}`, `l${layer - 1}-c${(col + 1) % 100}`];
      tasks.push({ id: `l${layer}-c${col}`, deps, command: ['true'], labels: { pool: 'none' } });
    }
  }
  return { name: 'ten-thousand', tasks };
}

async function submit(spec, file, wait = false) {
  const dag = path.join(work, file);
  writeFileSync(dag, JSON.stringify(spec));
  const out = await runCli(['--coordinator', coordinator, 'submit', dag, ...(wait ? ['--wait'] : [])]);
  return out.split('\n')[0].trim();
}

// --- Run ----------------------------------------------------------------------

let coordinator = '';
let browser = null;

async function main() {
  const watchdog = setTimeout(() => {
    console.log(`not ok - the whole test took more than ${WATCHDOG_MS} ms`);
    killAll('SIGKILL');
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();

  const portFile = path.join(work, 'port');
  const httpPortFile = path.join(work, 'http-port');
  start('taskd', [bin.taskd, '--listen', '127.0.0.1:0', '--port-file', portFile,
                  '--metrics-listen', '127.0.0.1:0', '--http-port-file', httpPortFile,
                  '--db', path.join(work, 'vitte.db')]);
  await waitFor('the port files of vitte-taskd', 20_000,
                () => readPort(portFile) && readPort(httpPortFile));
  coordinator = `127.0.0.1:${readPort(portFile)}`;
  const base = `http://127.0.0.1:${readPort(httpPortFile)}`;
  for (const name of ['w1', 'w2']) {
    start(name, [bin.worker, '--coordinator', coordinator, '--name', name, '--slots', '2']);
  }
  await waitFor('two connected workers', 20_000, async () => {
    const r = await fetch(`${base}/api/workers`).then((x) => x.json()).catch(() => null);
    return r && r.workers.filter((w) => w.connected).length === 2;
  });

  await check('the API answers errors as JSON with a status', async () => {
    const r = await fetch(`${base}/api/graphs/999`);
    assert(r.status === 404, `status ${r.status}`);
    const body = await r.json();
    assert(body.code === 'NOT_FOUND' && /999/.test(body.error), JSON.stringify(body));
    const page = await fetch(`${base}/`);
    assert(/text\/html/.test(page.headers.get('content-type')), 'index content type');
    const js = await fetch(`${base}/static/app.js`);
    assert(/javascript/.test(js.headers.get('content-type')), 'script content type');
  });

  // An earlier run of the same graph, for the ETA's history.
  writeFileSync(GATE, '');
  await submit(demoGraph(), 'demo-1.json', /*wait=*/true);
  unlinkSync(GATE);
  const graphId = await submit(demoGraph(), 'demo-2.json');
  const taskIds = demoGraph().tasks.map((t) => t.id);

  const profile = mkdtempSync(path.join(os.tmpdir(), 'vitte-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 860 },
    timeout: 30_000,
  });
  browser.setDefaultTimeout(15_000);
  const page = browser.pages()[0] ?? await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // The API paths the page asked for, to check where its data came from.
  const apiRequests = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith('/api/')) apiRequests.push(url.pathname + url.search);
  });

  await check('the graph page draws every task, not yet run', async () => {
    await page.goto(`${base}/#/graphs/${graphId}`);
    await page.waitForFunction((n) => document.querySelectorAll('svg [data-task-id]').length === n,
                               taskIds.length, { timeout: 15_000 });
    const gate = await page.getAttribute('[data-task-id="gate"]', 'data-state');
    assert(['ready', 'running'].includes(gate), `gate is ${gate}`);
    const pkg = await page.getAttribute('[data-task-id="package"]', 'data-state');
    assert(pkg === 'pending', `package is ${pkg}`);
    assert(await page.getAttribute('#graph-canvas', 'data-view') === 'full', 'full view');
  });

  await check('the ETA comes from the earlier run; the critical path is highlighted', async () => {
    await page.waitForFunction(() => Number(document.getElementById('eta').dataset.etaMs) > 0,
                               null, { timeout: 10_000 });
    const text = await page.textContent('#eta');
    assert(/ETA/.test(text), text);
    assert(/10 of 10 tasks timed by earlier runs/.test(text), text);
    const critical = await page.$$eval('svg .node.critical', (ns) => ns.map((n) => n.dataset.taskId));
    // gate -> fetch-sources -> configure -> compile-core -> link -> unit-tests
    for (const id of ['gate', 'configure', 'compile-core', 'link']) {
      assert(critical.includes(id), `critical path ${critical} lacks ${id}`);
    }
    assert(!critical.includes('hello'), `hello is not critical: ${critical}`);
  });

  await check('tasks turn green live, without a reload', async () => {
    await page.evaluate(() => { window.__loadedOnce = 'still the same document'; });
    writeFileSync(GATE, '');
    // Half-way: something has run, something runs; the README's picture.
    await page.waitForFunction(() => {
      const states = [...document.querySelectorAll('svg [data-task-id]')].map((n) => n.dataset.state);
      return states.includes('running') && states.filter((s) => s === 'succeeded').length >= 3;
    }, null, { timeout: 20_000 });
    const running = await screenshot(page, 'dashboard-running.png');
    if (process.env.VITTE_UPDATE_SCREENSHOT === '1') {
      copyFileSync(running, path.join(args.source, 'docs', 'dashboard.png'));
      console.log(`# updated ${path.join(args.source, 'docs', 'dashboard.png')}`);
    }
    await page.waitForFunction(() => [...document.querySelectorAll('svg [data-task-id]')]
      .every((n) => n.dataset.state === 'succeeded'), null, { timeout: 30_000 });
    await page.waitForSelector('#graph-state[data-state="succeeded"]', { timeout: 10_000 });
    assert(await page.evaluate(() => window.__loadedOnce) === 'still the same document',
           'the page was reloaded');
    // The changes came from the event stream: long polls resuming from a
    // cursor, and not one poll of the states.
    const eventPolls = apiRequests.filter(
      (p) => p.startsWith(`/api/graphs/${graphId}/events?after=`));
    assert(eventPolls.length >= 2, `event long polls: ${JSON.stringify(apiRequests)}`);
    assert(eventPolls.some((p) => !/after=0&/.test(p)), `no poll resumed from a cursor: ${eventPolls}`);
    const statePolls = apiRequests.filter((p) => p.includes('fields=states'));
    assert(statePolls.length === 0, `polled the states: ${statePolls}`);
    assert(await page.$$eval('svg .node.critical', (ns) => ns.length) === 0,
           'a finished graph has no critical path left');
    await screenshot(page, 'dashboard-done.png');
  });

  await check('clicking a task opens its page with its log', async () => {
    await page.click('[data-task-id="hello"]');
    await page.waitForFunction(() => /hello-from-task/.test(
      document.getElementById('task-log-stdout')?.textContent ?? ''), null, { timeout: 10_000 });
    assert(/#\/graphs\/\d+\/tasks\/hello$/.test(page.url()), page.url());
    const stderr = await page.textContent('#task-log-stderr');
    assert(/a line on stderr/.test(stderr), stderr);
    // The log is the daemon's (GET .../logs), read to the end of the attempt.
    const logReads = apiRequests.filter(
      (p) => p.startsWith(`/api/graphs/${graphId}/tasks/hello/logs?attempt=1&`));
    assert(logReads.length >= 1, `no read of /logs: ${JSON.stringify(apiRequests.slice(-10))}`);
    await page.waitForSelector('#task-log-stdout[data-finished="true"]', { timeout: 10_000 });
    const rows = await page.$$eval('#attempts tbody tr', (trs) => trs.map((tr) => ({
      state: tr.dataset.state, cells: [...tr.cells].map((c) => c.textContent) })));
    assert(rows.length === 1 && rows[0].state === 'succeeded', JSON.stringify(rows));
    assert(['w1', 'w2'].includes(rows[0].cells[1]) && rows[0].cells[3] === '0', JSON.stringify(rows));
    assert(await page.evaluate(() => window.__loadedOnce) === 'still the same document',
           'opening a task reloaded the page');
    await screenshot(page, 'dashboard-task.png');
  });

  await check('the graphs and workers pages list what the CLI lists', async () => {
    await page.click('nav a[data-nav="graphs"]');
    await page.waitForSelector(`#graphs tr[data-graph-id="${graphId}"] .progress span`);
    assert(await page.$$eval('#graphs tbody tr[data-graph-id]', (r) => r.length) === 2, 'two graphs');
    await page.click('nav a[data-nav="workers"]');
    await page.waitForSelector('#workers tr[data-worker="w2"][data-status="connected"]');
    assert(await page.$$eval('#workers tbody tr[data-worker]', (r) => r.length) === 2, 'two workers');
  });

  await check('a graph of 10,000 tasks gets the collapsed view and stays responsive', async () => {
    const bigId = await submit(bigGraph(), 'big.json');
    const big = await browser.newPage();
    big.on('pageerror', (e) => pageErrors.push(e.message));
    const t0 = Date.now();
    await big.goto(`${base}/#/graphs/${bigId}`);
    await big.waitForSelector('#graph-canvas[data-view="collapsed"] .band', { timeout: 20_000 });
    const drawnMs = Date.now() - t0;
    console.log(`# 10,000 tasks drawn (collapsed) in ${drawnMs} ms`);
    const bands = await big.$$eval('.band', (b) => b.length);
    assert(bands === 100, `${bands} bands, expected one per layer`);
    const elements = await big.evaluate(() => document.getElementsByTagName('*').length);
    assert(elements < 5000, `${elements} elements in the page`);
    // Responsive: each round trip into the page answers quickly while it
    // follows the events.
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      await Promise.race([
        big.evaluate(() => document.querySelectorAll('.band').length),
        sleep(2000).then(() => { throw new Error('the page did not answer within 2 s'); }),
      ]);
      assert(Date.now() - t < 2000, 'slow answer');
      await sleep(300);
    }
    await big.click('.band[data-band="0"] .band-head');
    await big.waitForSelector('.band[data-band="0"] .task-chip[data-task-id="l0-c0"]');
    // Still live: a cancel shows without a reload.
    await runCli(['--coordinator', coordinator, 'cancel', bigId]);
    await big.waitForSelector('#graph-state[data-state="cancelled"]', { timeout: 15_000 });
    await big.waitForSelector('.band[data-band="0"] .task-chip[data-task-id="l0-c0"][data-state="cancelled"]',
                              { timeout: 10_000 });
    await screenshot(big, 'dashboard-10k.png');
    await big.close();
  });

  await check('with --auth tokens, the page asks for a token once, then shows the graphs', async () => {
    const db = path.join(work, 'auth.db');
    const token = (await runProgram(bin.taskd, ['token', 'create', '--db', db, '--role', 'read',
                                                '--name', 'dashboard'])).trim();
    const admin = path.join(work, 'admin.token');
    writeFileSync(admin, await runProgram(bin.taskd, ['token', 'create', '--db', db, '--role',
                                                      'admin', '--name', 'admin']), { mode: 0o600 });
    const authPort = path.join(work, 'auth-port');
    const authHttpPort = path.join(work, 'auth-http-port');
    start('taskd-auth', [bin.taskd, '--listen', '127.0.0.1:0', '--port-file', authPort,
                         '--metrics-listen', '127.0.0.1:0', '--http-port-file', authHttpPort,
                         '--db', db, '--auth', 'tokens']);
    await waitFor('the port files of the vitte-taskd with tokens', 20_000,
                  () => readPort(authPort) && readPort(authHttpPort));
    const authBase = `http://127.0.0.1:${readPort(authHttpPort)}`;
    const submitted = await runCli(['--coordinator', `127.0.0.1:${readPort(authPort)}`,
                                    '--token-file', admin, 'submit',
                                    path.join(args.source, 'examples', 'hello-farm.json')]);
    const authGraphId = submitted.split('\n')[0].trim();
    const r = await fetch(`${authBase}/api/graphs`);
    assert(r.status === 401, `no token: status ${r.status}`);

    const authed = await browser.newPage();
    authed.on('pageerror', (e) => pageErrors.push(e.message));
    const prompts = [];
    const seen = [];
    authed.on('dialog', (d) => { prompts.push(d.message()); d.accept(token); });
    authed.on('console', (m) => seen.push(`console: ${m.text()}`));
    authed.on('response', (r) => seen.push(`${r.status()} ${r.url()}`));
    await authed.goto(`${authBase}/`);
    await authed.waitForSelector(`#graphs tr[data-graph-id="${authGraphId}"]`, { timeout: 15_000 })
      .catch((e) => { throw new Error(`${e.message}\n${JSON.stringify({ prompts, seen }, null, 1)}`); });
    assert(prompts.length === 1, `prompts: ${JSON.stringify(prompts)}`);
    assert(/requires a token/.test(prompts[0]), prompts[0]);
    // Kept for the tab: a reload asks no more.
    await authed.reload();
    await authed.waitForSelector(`#graphs tr[data-graph-id="${authGraphId}"]`, { timeout: 15_000 });
    assert(prompts.length === 1, `asked again after a reload: ${prompts.length}`);
    await authed.close();
  });

  await check('no script error in the pages', async () => {
    assert(pageErrors.length === 0, pageErrors.join('\n'));
  });
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  exitCode = 1;
  if (failed === 0) console.log(`not ok - ${String(e.stack ?? e)}`);
  for (const c of children) {
    console.log(`# logs of ${c.logPrefix}.err:`);
    try {
      console.log(readFileSync(`${c.logPrefix}.err`, 'utf8').split('\n').slice(-15)
        .map((l) => `#   ${l}`).join('\n'));
    } catch { /* no log */ }
  }
} finally {
  if (browser) await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
  // Workers first (SIGINT: stop at once), then the daemon (SIGTERM: a clean
  // stop); whatever is still there after 5 s is killed.
  for (const c of children.slice(1)) if (!c.exited) c.kill('SIGINT');
  if (children[0] && !children[0].exited) children[0].kill('SIGTERM');
  await waitFor('every process to stop', 5000, () => children.every((c) => c.exited))
    .catch(() => killAll('SIGKILL'));
  // Builds with sanitizers (.ci/sanitizers.sh) report in the logs.
  for (const c of children) {
    let log = '';
    try { log = readFileSync(`${c.logPrefix}.err`, 'utf8'); } catch { /* none */ }
    if (/ERROR: (Address|Leak|Thread)Sanitizer|runtime error:/.test(log)) {
      failed++;
      exitCode = 1;
      console.log(`not ok - sanitizer report in ${c.logPrefix}.err`);
    }
  }
  if (exitCode === 0) rmSync(work, { recursive: true, force: true });
  else console.log(`# kept ${work} for its logs`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode);
