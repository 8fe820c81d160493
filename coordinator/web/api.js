// Talking to vitte-taskd's JSON API (/api/...), and the live feed of a
// graph's task states. The answers are the protobuf JSON form of the
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

async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { cache: 'no-store' });
  } catch (e) {
    throw new ApiError(`cannot reach the coordinator (${e.message})`, 'UNAVAILABLE', 0);
  }
  const body = await response.json().catch(() => null);
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
  states: (id) => getJson(`/api/graphs/${enc(id)}?fields=states`),
  estimate: (id) => getJson(`/api/graphs/${enc(id)}/estimate`),
  task: (id, taskId) => getJson(`/api/graphs/${enc(id)}/tasks/${enc(taskId)}`),
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
export function decodeBytes(base64) {
  if (!base64) return '';
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

// Follows the task states of one graph and reports what changed.
//
// The page only sees `onUpdate({summary, changes})`, where `changes` lists
// [taskIndex, stateName] pairs (every task on the first update). This one
// polls GET /api/graphs/ID?fields=states and diffs the answers; a feed
// over the coordinator's event stream can replace it by producing the
// same updates from events, with no change to the pages.
export class PollingGraphFeed {
  constructor(graphId, { intervalMs = 1000 } = {}) {
    this.graphId = graphId;
    this.intervalMs = intervalMs;
    this.previous = null;  // the last states string
    this.timer = null;
    this.stopped = true;
  }

  // onUpdate({summary, changes, first}); onError(ApiError) for each failed poll
  // (polling goes on, slower). Stops by itself after the update that shows
  // the graph finished.
  start(onUpdate, onError = () => {}) {
    this.stopped = false;
    const poll = async () => {
      this.timer = null;
      let delay = this.intervalMs;
      try {
        const answer = await api.states(this.graphId);
        if (this.stopped) return;
        const states = answer.states;
        const changes = [];
        for (let i = 0; i < states.length; i++) {
          if (this.previous === null || states[i] !== this.previous[i]) {
            changes.push([i, TASK_STATES[states.charCodeAt(i) - 48] ?? 'unspecified']);
          }
        }
        const first = this.previous === null;
        this.previous = states;
        onUpdate({ summary: answer.summary, changes, first });
        if (isFinishedGraph(answer.summary)) {
          this.stopped = true;
          return;
        }
      } catch (e) {
        if (this.stopped) return;
        onError(e);
        delay = Math.min(this.intervalMs * 5, 10000);
      }
      if (!this.stopped) this.timer = setTimeout(poll, delay);
    };
    poll();
  }

  stop() {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
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
