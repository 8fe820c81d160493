// The small pages (graphs list, task, workers) and the DOM helpers every
// page shares. A page is a function (view, params) that fills `view` and
// returns a function that stops its timers when the user leaves it.

import { api, decodeBytes, every, stateName, TASK_STATES } from './api.js';

// h('a', {href: '#/'}, 'text', child...): an element. Attributes named
// on* are listeners; `dataset` entries become data-* attributes.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  return el;
}

export function formatDuration(ms) {
  if (!(ms >= 0)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function formatTime(ms) {
  const n = Number(ms);
  if (!n) return '–';
  const d = new Date(n);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

export function stateBadge(protoState) {
  const name = stateName(protoState);
  return h('span', { class: `badge state-${name}`, dataset: { state: name } }, name);
}

export function graphHref(graphId) {
  return `#/graphs/${encodeURIComponent(graphId)}`;
}

export function taskHref(graphId, taskId) {
  return `${graphHref(graphId)}/tasks/${encodeURIComponent(taskId)}`;
}

// A bar split by task state, from a TaskCounts message.
export function progressBar(counts) {
  const total = Number(counts.total) || 0;
  const bar = h('div', { class: 'progress', role: 'img' });
  updateProgressBar(bar, counts);
  if (total === 0) bar.classList.add('empty');
  return bar;
}

export function updateProgressBar(bar, counts) {
  const total = Number(counts.total) || 0;
  const parts = [];
  bar.replaceChildren();
  for (const state of TASK_STATES.slice(1)) {
    const n = Number(counts[state]) || 0;
    if (n === 0 || total === 0) continue;
    parts.push(`${n} ${state}`);
    bar.append(h('span', { class: `state-${state}`, style: `width:${(100 * n) / total}%` }));
  }
  bar.setAttribute('aria-label', parts.join(', ') || 'no tasks');
  bar.title = parts.join(', ');
}

export function errorBox(error) {
  return h('div', { class: 'error', role: 'alert' },
           `${error.code ?? 'ERROR'}: ${error.message}`);
}

// Shows in the header whether the last request reached the coordinator.
export function setConnection(ok, message = '') {
  const el = document.getElementById('connection');
  el.dataset.ok = String(ok);
  el.textContent = ok ? '' : message;
}

// --- Graphs list ----------------------------------------------------------

export function graphsPage(view) {
  const body = h('tbody');
  const error = h('div');
  view.replaceChildren(
    h('h1', {}, 'Graphs'),
    error,
    h('table', { class: 'list', id: 'graphs' },
      h('thead', {}, h('tr', {},
        ['Graph', 'Name', 'State', 'Progress', 'Tasks', 'Submitted', 'Duration']
          .map((t) => h('th', {}, t)))),
      body));
  return every(2000, async () => {
    try {
      const { graphs } = await api.graphs();
      setConnection(true);
      error.replaceChildren();
      const now = Date.now();
      body.replaceChildren(...graphs.map((g) => {
        const done = Number(g.counts.succeeded);
        const end = Number(g.finished_at_ms) || now;
        return h('tr', { dataset: { graphId: g.graph_id } },
          h('td', {}, h('a', { href: graphHref(g.graph_id) }, `#${g.graph_id}`)),
          h('td', {}, h('a', { href: graphHref(g.graph_id) }, g.name || '(unnamed)')),
          h('td', {}, stateBadge(g.state)),
          h('td', { class: 'wide' }, progressBar(g.counts)),
          h('td', { class: 'num' }, `${done} / ${g.counts.total}`),
          h('td', {}, formatTime(g.created_at_ms)),
          h('td', { class: 'num' }, formatDuration(end - Number(g.created_at_ms))));
      }));
      if (graphs.length === 0) {
        body.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' },
          'No graph yet: submit one with vitte-task submit FILE.json')));
      }
    } catch (e) {
      setConnection(false, e.message);
      error.replaceChildren(errorBox(e));
    }
  });
}

// --- Task -----------------------------------------------------------------

function attemptDuration(a, now) {
  const start = Number(a.started_at_ms);
  if (!start) return -1;
  const end = Number(a.finished_at_ms) || now;
  return end - start;
}

function quoteArg(arg) {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

// Shows the output of attempt `attempt` of a task in `outputs` (the
// stdout and stderr elements), from GET .../tasks/T/logs: the stream's
// beginning, a marker line for what was not kept, and its end, as the
// daemon assembles them. Follows a running attempt by reading again from
// the answer's cursor every second until it says finished. Returns a
// function that stops it.
function followLog(graphId, taskId, attempt, outputs, onError) {
  const decoders = outputs.map(() => new TextDecoder());
  const written = outputs.map(() => 0);
  for (const el of outputs) {
    el.textContent = '(no output yet)';
    el.dataset.attempt = String(attempt);
    delete el.dataset.finished;
  }
  let cursor = '';
  let stopped = false;
  let timer = null;
  const read = async () => {
    timer = null;
    let delay = 1000;
    try {
      const logs = await api.logs(graphId, taskId, attempt, cursor);
      if (stopped) return;
      [logs.stdout_log, logs.stderr_log].forEach((log, k) => {
        const text = decodeBytes(log.data, decoders[k]);
        if (!text) return;
        if (written[k] === 0) outputs[k].textContent = '';
        outputs[k].append(text);
        written[k] += text.length;
      });
      cursor = logs.next_cursor;
      if (logs.finished) {
        outputs.forEach((el, k) => {
          el.append(decoders[k].decode());  // what a last partial character left
          if (written[k] === 0) el.textContent = '(empty)';
          el.dataset.finished = 'true';
        });
        return;
      }
      if (logs.more) delay = 0;  // cut at the size limit: more is there now
    } catch (e) {
      if (stopped) return;
      onError(e);
      delay = 3000;
    }
    if (!stopped) timer = setTimeout(read, delay);
  };
  read();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
  };
}

export function taskPage(view, { graphId, taskId }) {
  const header = h('div');
  const spec = h('dl', { class: 'spec' });
  const attemptsBody = h('tbody');
  const logTitle = h('h2', {}, 'Log');
  const stdout = h('pre', { id: 'task-log-stdout', class: 'log', dataset: { stream: 'stdout' } });
  const stderr = h('pre', { id: 'task-log-stderr', class: 'log', dataset: { stream: 'stderr' } });
  const error = h('div');
  // The attempt whose log is shown: null follows the latest one.
  let chosen = null;
  let latest = null;

  view.replaceChildren(
    h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, 'Graphs'), ' / ',
      h('a', { href: graphHref(graphId) }, `#${graphId}`), ' / ', taskId),
    error, header, spec,
    h('h2', {}, 'Attempts'),
    h('table', { class: 'list', id: 'attempts' },
      h('thead', {}, h('tr', {}, ['#', 'Worker', 'State', 'Exit code', 'Duration',
                                  'Started', 'Error'].map((t) => h('th', {}, t)))),
      attemptsBody),
    logTitle,
    h('p', { class: 'muted' },
      'The output of the attempt, live while it runs. Of a long output the daemon keeps '
      + 'the beginning and the end; a line marks what was left out.'),
    h('h3', {}, 'stdout'), stdout,
    h('h3', {}, 'stderr'), stderr);

  // The attempt whose log is followed, and how to stop following it.
  let logAttempt = 0;
  let stopLog = () => {};
  const showLog = () => {
    const a = chosen ?? latest;
    if (!a) {
      logTitle.textContent = 'Log';
      stdout.textContent = stderr.textContent = '(the task has not run yet)';
      return;
    }
    logTitle.textContent = `Log of attempt ${a.number}`;
    if (a.number !== logAttempt) {
      stopLog();
      logAttempt = a.number;
      stopLog = followLog(graphId, taskId, a.number, [stdout, stderr], (e) => {
        error.replaceChildren(errorBox(e));
      });
    }
    for (const row of attemptsBody.children) {
      row.classList.toggle('chosen', row.dataset.attempt === String(a.number));
    }
  };

  let stopped = false;
  const stop = every(1000, async () => {
    if (stopped) return;
    let task;
    try {
      task = await api.task(graphId, taskId);
      setConnection(true);
      error.replaceChildren();
    } catch (e) {
      setConnection(e.httpStatus !== 0, e.message);
      error.replaceChildren(errorBox(e));
      return;
    }
    const state = stateName(task.state);
    header.replaceChildren(h('h1', {}, taskId, ' ', stateBadge(task.state)));
    if (task.skipped_because) {
      header.append(h('p', {}, 'Skipped because ',
        h('a', { href: taskHref(graphId, task.skipped_because) }, task.skipped_because),
        ' did not succeed.'));
    }
    header.dataset.state = state;
    const s = task.spec;
    const entries = [
      ['Command', h('code', {}, s.command.map(quoteArg).join(' '))],
      ['Depends on', s.deps.length
        ? s.deps.map((d, i) => [i ? ', ' : '', h('a', { href: taskHref(graphId, d) }, d)])
        : '–'],
      ['Working directory', s.cwd || '(the worker\'s)'],
      ['Environment', Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ') || '–'],
      ['Labels', Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(' ') || '–'],
      ['Attempts allowed', String(s.max_attempts || 1)],
      ['Timeout', Number(s.timeout_s) ? formatDuration(1000 * Number(s.timeout_s)) : 'none'],
    ];
    spec.replaceChildren(...entries.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));

    const now = Date.now();
    const attempts = task.attempts;
    latest = attempts.length ? attempts[attempts.length - 1] : null;
    if (chosen) chosen = attempts.find((a) => a.number === chosen.number) ?? null;
    attemptsBody.replaceChildren(...attempts.map((a) => h('tr', {
      dataset: { attempt: String(a.number), state: stateName(a.state) },
      class: 'clickable',
      onclick: () => { chosen = a; showLog(); },
    },
      h('td', { class: 'num' }, String(a.number)),
      h('td', {}, a.worker),
      h('td', {}, stateBadge(a.state)),
      h('td', { class: 'num' }, stateName(a.state) === 'running' ? '–'
        : String(a.exit_code) + (a.signal ? ` (signal ${a.signal})` : '')
          + (a.timed_out ? ' timed out' : '')),
      h('td', { class: 'num' }, formatDuration(attemptDuration(a, now))),
      h('td', {}, formatTime(a.started_at_ms)),
      h('td', {}, a.error))));
    if (attempts.length === 0) {
      attemptsBody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No attempt yet.')));
    }
    showLog();
    // A finished task changes no more: one last refresh is enough.
    if (['succeeded', 'failed', 'skipped', 'cancelled'].includes(state)) stopped = true;
  });
  return () => {
    stop();
    stopLog();
  };
}

// --- Workers ----------------------------------------------------------------

export function workersPage(view) {
  const body = h('tbody');
  const error = h('div');
  view.replaceChildren(
    h('h1', {}, 'Workers'),
    error,
    h('table', { class: 'list', id: 'workers' },
      h('thead', {}, h('tr', {},
        ['Worker', 'Status', 'Running', 'Slots', 'Prefetch', 'Labels', 'Serves only',
         'Connected since', 'Last seen'].map((t) => h('th', {}, t)))),
      body));
  return every(2000, async () => {
    try {
      const { workers } = await api.workers();
      setConnection(true);
      error.replaceChildren();
      body.replaceChildren(...workers.map((w) => {
        const status = !w.connected ? 'disconnected' : w.draining ? 'draining' : 'connected';
        const load = h('div', { class: 'progress small' },
          h('span', { class: 'state-running',
                      style: `width:${Math.min(100, (100 * w.running) / Math.max(1, w.slots))}%` }));
        return h('tr', { dataset: { worker: w.name, status } },
          h('td', {}, w.name),
          h('td', {}, h('span', { class: `badge worker-${status}` }, status)),
          h('td', { class: 'wide' }, load, ` ${w.running}`),
          h('td', { class: 'num' }, String(w.slots)),
          h('td', { class: 'num' }, String(w.prefetch)),
          h('td', {}, Object.entries(w.labels).map(([k, v]) => `${k}=${v}`).join(' ') || '–'),
          // Absent from the JSON of a daemon older than serve-labels.
          h('td', {}, Object.entries(w.serve_labels || {}).map(([k, v]) => `${k}=${v}`).join(' ')
            || '–'),
          h('td', {}, formatTime(w.connected_at_ms)),
          h('td', {}, formatTime(w.last_seen_ms)));
      }));
      if (workers.length === 0) {
        body.append(h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No worker connected.')));
      }
    } catch (e) {
      setConnection(false, e.message);
      error.replaceChildren(errorBox(e));
    }
  });
}
