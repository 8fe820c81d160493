// Talking to vitte-taskd's JSON API (/api/...), and the live feed of a
// graph's task states (over its event stream). The answers are the protobuf JSON form of the
// messages in proto/vitte/task/v1/{task,dashboard}.proto, with proto field
// names; int64 fields arrive as strings (protobuf's JSON mapping), hence
// the Number() calls.

export class ApiError extends Error {
  constructor(message, code, httpStatus) {
    super(message);
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

// A daemon run with --auth tokens wants a token on every API call. It is
// asked for once (a read token is enough) and kept for the tab's life only
// (sessionStorage: not written to disk, not sent to other tabs). Calls that
// meet a 401 at once share one prompt.
const TOKEN_KEY = 'vitte-token';
let tokenPrompt = null;

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function askForToken(message) {
  tokenPrompt ??= new Promise((resolve) => {
    const token = window.prompt(
      `${message}\nToken (made with: vitte-taskd token create --role read --name NAME):`);
    if (token?.trim()) sessionStorage.setItem(TOKEN_KEY, token.trim());
    resolve(Boolean(token?.trim()));
  }).finally(() => { tokenPrompt = null; });
  return tokenPrompt;
}

// `signal` (an AbortSignal) cancels the request: the promise then rejects
// with an ApiError whose code is 'ABORTED'.
async function getJson(path, { signal } = {}, askedForToken = false) {
  let response;
  const sentToken = sessionStorage.getItem(TOKEN_KEY);
  try {
    response = await fetch(path, { cache: 'no-store', signal, headers: authHeaders() });
  } catch (e) {
    if (signal?.aborted) throw new ApiError('aborted', 'ABORTED', 0);
    throw new ApiError(`cannot reach the coordinator (${e.message})`, 'UNAVAILABLE', 0);
  }
  const body = await response.json().catch(() => null);
  if (response.status === 401 && !askedForToken) {
    // Another call's prompt may have set a token since this one left.
    const stored = sessionStorage.getItem(TOKEN_KEY);
    if (stored && stored !== sentToken) return getJson(path, { signal }, true);
    sessionStorage.removeItem(TOKEN_KEY);
    if (await askForToken(body?.error ?? 'This coordinator requires a token.')) {
      return getJson(path, { signal }, true);
    }
  }
  if (!response.ok) {
    throw new ApiError(body?.error ?? response.statusText, body?.code ?? 'UNKNOWN',
                       response.status);
  }
  return body;
}

const enc = encodeURIComponent;

export const api = {
  graphs: (limit = 100) => getJson(`/api/graphs?limit=${limit}`),
  graph: (id) => getJson(`/api/graphs/${enc(id)}`),
  // A long poll: the graph's events after sequence `after` (an EventBatch),
  // as soon as there is one, or none after `waitMs`.
  events: (id, after, waitMs, options) =>
    getJson(`/api/graphs/${enc(id)}/events?after=${after}&wait_ms=${waitMs}`, options),
  // The cursor of the latest event of any graph (an empty EventBatch).
  latestCursor: (options) => getJson('/api/events?after=0&wait_ms=0', options),
  estimate: (id) => getJson(`/api/graphs/${enc(id)}/estimate`),
  task: (id, taskId) => getJson(`/api/graphs/${enc(id)}/tasks/${enc(taskId)}`),
  // Both streams of one attempt from `cursor` on (a GetLogsResponse).
  logs: (id, taskId, attempt, cursor) => getJson(
    `/api/graphs/${enc(id)}/tasks/${enc(taskId)}/logs?attempt=${attempt}&cursor=${enc(cursor)}`),
  workers: () => getJson('/api/workers'),
};

// TaskState numbers (task.proto) to the names the page uses, in
// data-state attributes and CSS classes.
export const TASK_STATES = ['unspecified', 'pending', 'ready', 'running', 'succeeded',
                            'failed', 'skipped', 'cancelled'];

// "TASK_STATE_RUNNING" -> "running"; the same for graph and attempt states.
export function stateName(protoName) {
  return String(protoName).replace(/^(TASK|GRAPH|ATTEMPT)_STATE_/, '').toLowerCase();
}

export function isFinishedGraph(summary) {
  return stateName(summary.state) !== 'running';
}

// A `bytes` field (base64 in JSON) as text; invalid UTF-8 shows as U+FFFD.
// With a `decoder` (a TextDecoder kept across calls) the pieces of one
// stream may split a character between them.
export function decodeBytes(base64, decoder = null) {
  if (!base64) return '';
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder ? decoder.decode(bytes, { stream: true }) : new TextDecoder().decode(bytes);
}

// Follows the task states of one graph and reports what changed, from the
// coordinator's event stream.
//
// The page only sees `onUpdate({summary, changes, first, graph})`, where
// `changes` lists [taskIndex, stateName] pairs: every task on the first
// update, which also carries the graph as read (its structure, so that the
// page need not read it again); later ones list the tasks that changed.
//
// How: take the cursor of the latest event (GET /api/events?after=0),
// then read the whole graph, which holds at least every change up to that
// cursor; then long-poll GET /api/graphs/ID/events?after=CURSOR, applying
// each event's task state and counts, and ask again from the answer's
// cursor. Events that the graph read already showed are applied again,
// in order, which ends in the same states. After an error it waits
// (doubling, up to 10 s) and resumes from its cursor: a daemon that
// restarted meanwhile answers with a compacted batch (the state now of
// everything that changed), so nothing is lost. Only a cursor the daemon
// never reached (another database) makes it read the whole graph again.
export class EventGraphFeed {
  constructor(graphId, { waitMs = 20000 } = {}) {
    this.graphId = graphId;
    this.waitMs = waitMs;
    this.cursor = null;     // resume point; null: read the graph first
    this.indexOf = null;    // task id -> index
    this.states = null;     // state name per task
    this.summary = null;    // GraphSummary, kept up to date from events
    this.timer = null;
    this.abort = null;      // cancels the request in flight
    this.stopped = true;
  }

  // onUpdate(update) as above; onError(ApiError) for each failed request
  // (the feed goes on). Stops by itself after the update that shows the
  // graph finished.
  start(onUpdate, onError = () => {}) {
    this.stopped = false;
    let failures = 0;
    const step = async () => {
      this.timer = null;
      this.abort = new AbortController();
      const options = { signal: this.abort.signal };
      const began = Date.now();
      let pause = 0;
      try {
        const update = this.cursor === null
          ? await this.snapshot(options)
          : this.apply(await api.events(this.graphId, this.cursor, this.waitMs, options));
        if (this.stopped) return;
        failures = 0;
        if (update) onUpdate(update);
        if (isFinishedGraph(this.summary)) {
          this.stopped = true;
          return;
        }
        // Events come in bursts: a short pause lets one answer take a
        // burst (they wait in the daemon, nothing is lost). An answer
        // without events that came early means the daemon had too many
        // long polls waiting: ask again a second later, like a poll.
        pause = Math.max(0, (update ? 250 : 1000) - (Date.now() - began));
      } catch (e) {
        if (this.stopped) return;
        onError(e);
        if (e.code === 'INVALID_ARGUMENT') this.cursor = null;  // start over
        failures++;
        pause = Math.min(1000 * 2 ** (failures - 1), 10000);
      }
      if (!this.stopped) this.timer = setTimeout(step, pause);
    };
    step();
  }

  stop() {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.abort) this.abort.abort();
  }

  // Reads the cursor, then the graph; the update lists every task the
  // first time, and what differs from the states known after a restart.
  async snapshot(options) {
    const { cursor } = await api.latestCursor(options);
    const graph = await api.graph(this.graphId);
    const first = this.states === null;
    const states = graph.tasks.map((t) => stateName(t.state));
    const changes = [];
    states.forEach((state, i) => {
      if (first || state !== this.states[i]) changes.push([i, state]);
    });
    this.indexOf = new Map(graph.tasks.map((t, i) => [t.spec.id, i]));
    this.states = states;
    this.summary = graph.summary;
    this.cursor = cursor;
    return { summary: { ...this.summary }, changes, first, graph: first ? graph : null };
  }

  // Applies an EventBatch; returns the update, or null without events.
  apply(batch) {
    this.cursor = batch.cursor;
    if (batch.events.length === 0) return null;
    const changed = new Map();  // index -> last state
    const summary = { ...this.summary };
    for (const e of batch.events) {
      summary.counts = e.counts;
      summary.state = e.graph_state;
      if (e.graph_finished) summary.finished_at_ms = e.time_ms;
      if (e.task_id === '') continue;  // about the graph as a whole
      const i = this.indexOf.get(e.task_id);
      if (i === undefined) continue;
      const state = stateName(e.task_state);
      this.states[i] = state;
      changed.set(i, state);
    }
    this.summary = summary;
    return { summary: { ...summary }, changes: [...changed], first: false, graph: null };
  }
}

// Calls `load` now and then every `intervalMs` after each answer (never
// two at once) until the returned function is called.
export function every(intervalMs, load) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    timer = null;
    try {
      await load();
    } catch (e) {
      console.error(e);  // the page shows its own errors; keep refreshing
    }
    if (!stopped) timer = setTimeout(run, intervalMs);
  };
  run();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
  };
}
