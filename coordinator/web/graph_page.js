// The graph page: the DAG with live task states, the critical path and the
// ETA.
//
// Data flow: the feed (EventGraphFeed, api.js) reads the graph once from
// GET /api/graphs/ID, which gives the structure (task ids and
// dependencies) and the states, then follows the graph's events by long
// polls; the page applies each list of changes to the few elements
// concerned. The estimate is read again after changes (at most once a
// second) and every few seconds while the graph runs.
//
// Size: up to FULL_VIEW_MAX_TASKS every task is a box in an SVG. Past
// that the page draws the collapsed view (one row per layer or band of
// layers, coloured by counts), so that 10,000 tasks cost a hundred rows
// and state changes cost a counter update each. Past
// STRUCTURE_MAX_TASKS it draws no structure at all and shows the counts
// only.

import { api, EventGraphFeed, isFinishedGraph, stateName, TASK_STATES } from './api.js';
import { bandsOf, computeLayers, layoutFull } from './graph_layout.js';
import {
  errorBox, formatDuration, formatTime, h, progressBar, setConnection, stateBadge,
  taskHref, updateProgressBar,
} from './pages.js';

const FULL_VIEW_MAX_TASKS = 500;
const STRUCTURE_MAX_TASKS = 50000;
const MAX_BANDS = 120;
const BAND_LIST_MAX = 300;  // tasks listed when a band is opened
// The estimate is read again after changes of states (at most once every
// ESTIMATE_MIN_INTERVAL_MS) and every few seconds anyway, as running tasks
// age.
const ESTIMATE_INTERVAL_MS = 3000;
const ESTIMATE_MIN_INTERVAL_MS = 1000;
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  el.append(...children);
  return el;
}

function shortLabel(id, max = 22) {
  return id.length <= max ? id : `${id.slice(0, max - 1)}…`;
}

// --- Full view: every task a box ------------------------------------------

function drawFull(canvas, graphId, ids, deps, states) {
  const layout = layoutFull(deps);
  const { x, y, nodeWidth: w, nodeHeight: nh } = layout;
  const drawing = svg('svg', {
    width: layout.width, height: layout.height,
    viewBox: `0 0 ${layout.width} ${layout.height}`, class: 'dag', role: 'img',
    'aria-label': `${ids.length} tasks`,
  });
  const edges = svg('g', { class: 'edges' });
  const nodes = svg('g', { class: 'nodes' });
  const edgeOf = new Map();  // "from>to" -> path
  deps.forEach((ds, i) => {
    for (const d of ds) {
      const x1 = x[d] + w, y1 = y[d] + nh / 2, x2 = x[i], y2 = y[i] + nh / 2;
      const bend = (x2 - x1) / 2;
      const path = svg('path', {
        d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
        'data-from': ids[d], 'data-to': ids[i],
      });
      edgeOf.set(`${d}>${i}`, path);
      edges.append(path);
    }
  });
  const nodeOf = ids.map((id, i) => {
    const title = svg('title');
    const node = svg('g', {
      class: 'node', transform: `translate(${x[i]},${y[i]})`,
      'data-task-id': id, 'data-index': i, 'data-state': states[i],
    },
      title,
      svg('rect', { width: w, height: nh, rx: 6 }),
      svg('text', { x: 12, y: nh / 2 + 4 }, shortLabel(id, 19)));
    const link = svg('a', { href: taskHref(graphId, id) }, node);
    nodes.append(link);
    return { node, title };
  });
  drawing.append(edges, nodes);
  canvas.dataset.view = 'full';
  canvas.replaceChildren(drawing);
  // A drawing a little wider than the page is scaled down to fit; a much
  // wider one keeps its size, and the canvas scrolls.
  const available = canvas.clientWidth - 16;
  if (layout.width > available && layout.width <= 2 * available) {
    drawing.setAttribute('width', '100%');
    drawing.removeAttribute('height');
    drawing.style.maxWidth = `${layout.width}px`;
  }

  let critical = [];
  const setTitle = (i) => {
    nodeOf[i].title.textContent = `${ids[i]}: ${states[i]}`;
  };
  ids.forEach((_, i) => setTitle(i));
  return {
    apply(changes) {
      for (const [i, state] of changes) {
        nodeOf[i].node.setAttribute('data-state', state);
        setTitle(i);
      }
    },
    setCritical(path) {
      for (const el of critical) el.classList.remove('critical');
      critical = [];
      path.forEach((i, k) => {
        critical.push(nodeOf[i].node);
        const edge = k > 0 ? edgeOf.get(`${path[k - 1]}>${i}`) : null;
        if (edge) critical.push(edge);
      });
      for (const el of critical) el.classList.add('critical');
    },
  };
}

// --- Collapsed view: rows of layers with counts ---------------------------

function emptyCounts() {
  return Object.fromEntries(TASK_STATES.slice(1).map((s) => [s, 0]));
}

function drawCollapsed(canvas, graphId, ids, deps, states) {
  const { layers } = computeLayers(deps);
  const bands = bandsOf(layers, MAX_BANDS);
  const bandOf = new Int32Array(ids.length);
  const rows = bands.map((band, k) => {
    const counts = emptyCounts();
    for (const i of band.tasks) {
      bandOf[i] = k;
      counts[states[i]] = (counts[states[i]] ?? 0) + 1;
    }
    counts.total = band.tasks.length;
    const label = band.firstLayer === band.lastLayer
      ? `Layer ${band.firstLayer + 1}`
      : `Layers ${band.firstLayer + 1}–${band.lastLayer + 1}`;
    const bar = progressBar(counts);
    const numbers = h('span', { class: 'band-counts' });
    const list = h('div', { class: 'band-tasks', hidden: true });
    const head = h('button', {
      class: 'band-head', type: 'button', 'aria-expanded': 'false',
      onclick: () => {
        list.hidden = !list.hidden;
        head.setAttribute('aria-expanded', String(!list.hidden));
        if (!list.hidden) fillList(k);
      },
    }, h('span', { class: 'band-label' }, label), bar, numbers);
    const el = h('div', { class: 'band', dataset: { band: k } }, head, list);
    return { band, counts, bar, numbers, list, el };
  });

  const fillList = (k) => {
    const { band, list } = rows[k];
    const shown = band.tasks.slice(0, BAND_LIST_MAX);
    list.replaceChildren(...shown.map((i) => h('a', {
      href: taskHref(graphId, ids[i]), class: 'task-chip',
      dataset: { taskId: ids[i], state: states[i] }, title: `${ids[i]}: ${states[i]}`,
    }, shortLabel(ids[i], 28))));
    if (band.tasks.length > shown.length) {
      list.append(h('span', { class: 'muted' }, ` and ${band.tasks.length - shown.length} more`));
    }
  };
  const refreshRow = (k) => {
    const row = rows[k];
    updateProgressBar(row.bar, row.counts);
    const done = row.counts.succeeded;
    row.numbers.textContent = `${done} / ${row.counts.total}`
      + (row.counts.running ? ` · ${row.counts.running} running` : '')
      + (row.counts.failed ? ` · ${row.counts.failed} failed` : '');
    if (!row.list.hidden) fillList(k);
  };
  rows.forEach((_, k) => refreshRow(k));

  canvas.dataset.view = 'collapsed';
  canvas.replaceChildren(
    h('p', { class: 'muted' },
      `${ids.length.toLocaleString()} tasks in ${layers.length.toLocaleString()} layers: `
      + 'too many to draw one by one. Each row is a layer of tasks'
      + (bands.length < layers.length ? ' (or a band of consecutive layers)' : '')
      + ' whose dependencies are all in earlier rows. Open a row to list its tasks.'),
    h('div', { class: 'bands' }, rows.map((r) => r.el)));

  let criticalRows = new Set();
  return {
    // changes: [index, newState, oldState] triples.
    apply(changes) {
      const touched = new Set();
      for (const [i, state, old] of changes) {
        const counts = rows[bandOf[i]].counts;
        counts[old]--;
        counts[state]++;
        touched.add(bandOf[i]);
      }
      for (const k of touched) refreshRow(k);
    },
    setCritical(path) {
      for (const k of criticalRows) rows[k].el.classList.remove('critical');
      criticalRows = new Set(path.map((i) => bandOf[i]));
      for (const k of criticalRows) rows[k].el.classList.add('critical');
    },
  };
}

// --- The page ---------------------------------------------------------------

function renderEstimate(box, estimate, summary, indexOf, graphId) {
  box.replaceChildren();
  if (isFinishedGraph(summary)) {
    const took = Number(summary.finished_at_ms) - Number(summary.created_at_ms);
    box.dataset.etaMs = '0';
    box.append(h('strong', {}, `Finished ${formatTime(summary.finished_at_ms)}`),
               ` after ${formatDuration(took)}.`);
    return;
  }
  if (!estimate) {
    box.append('Estimating…');
    return;
  }
  const eta = Number(estimate.eta_ms);
  box.dataset.etaMs = String(eta);
  const left = eta - Date.now();
  const known = estimate.tasks_with_history;
  box.append(
    h('strong', {}, `ETA ${formatTime(eta)}`),
    ` (in ${formatDuration(Math.max(left, 0))})`,
    h('span', { class: 'muted' },
      ` · critical path: ${estimate.critical_path.length} tasks, `
      + `${formatDuration(Number(estimate.critical_path_ms))} left`
      + ` · ${known} of ${estimate.tasks} tasks timed by earlier runs`
      + (known < estimate.tasks
        ? ` (the others: ${formatDuration(Number(estimate.default_task_ms))} each)` : '')
      + (estimate.slots > 0 ? ` · ${estimate.slots} worker slots`
        : ' · no connected worker can take its tasks')),
    h('div', { class: 'critical-list' }, 'Critical path: ',
      estimate.critical_path.slice(0, 12).map((id, k) => [
        k ? ' → ' : '',
        h('a', { href: taskHref(graphId, id), class: indexOf.has(id) ? 'critical-link' : '' }, id),
      ]),
      estimate.critical_path.length > 12 ? ` → … (${estimate.critical_path.length - 12} more)` : ''));
}

export function graphPage(view, { graphId }) {
  const title = h('h1', {}, `Graph #${graphId}`);
  const stateSlot = h('span', { id: 'graph-state' });
  const bar = h('div', { class: 'progress big' });
  const countsLine = h('div', { class: 'counts' });
  const etaBox = h('div', { id: 'eta', class: 'eta' }, 'Estimating…');
  const error = h('div');
  const canvas = h('div', { id: 'graph-canvas', class: 'canvas', dataset: { view: 'loading' } },
                   h('p', { class: 'muted' }, 'Loading…'));
  const legend = h('div', { class: 'legend' },
    TASK_STATES.slice(1).map((s) => h('span', { class: 'legend-item', dataset: { state: s } },
                                      h('i', { class: `state-${s}` }), s)),
    h('span', { class: 'legend-item critical' }, h('i'), 'critical path'));
  view.replaceChildren(
    h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, 'Graphs'), ' / ', `#${graphId}`),
    h('div', { class: 'graph-head' }, title, stateSlot),
    error, bar, countsLine, etaBox, legend, canvas);

  let ids = null;         // task ids, once the structure is read
  let indexOf = new Map();
  let states = [];        // state name per task, always current
  let drawing = null;
  let summary = null;
  let estimate = null;
  let estimateTimer = null;
  let estimateBusy = false;
  let estimateAgain = false;  // states changed while it was read
  let estimateReadAt = 0;     // when the last read began (Date.now())
  let left = false;

  const showSummary = () => {
    title.textContent = `${summary.name || '(unnamed)'} `;
    title.append(h('span', { class: 'muted' }, `#${graphId}`));
    stateSlot.replaceChildren(stateBadge(summary.state));
    stateSlot.dataset.state = stateName(summary.state);
    updateProgressBar(bar, summary.counts);
    const c = summary.counts;
    countsLine.textContent = TASK_STATES.slice(1).filter((s) => Number(c[s]) > 0)
      .map((s) => `${c[s]} ${s}`).join(' · ') + ` — ${c.total} tasks`;
    renderEstimate(etaBox, estimate, summary, indexOf, graphId);
  };

  // The estimate may be a second older than the states: tasks that have
  // finished since are left out of the highlighted path.
  const showCritical = () => {
    if (!drawing) return;
    const unfinished = (i) => ['pending', 'ready', 'running'].includes(states[i]);
    const path = (estimate && !isFinishedGraph(summary) ? estimate.critical_path : [])
      .map((id) => indexOf.get(id)).filter((i) => i !== undefined && unfinished(i));
    drawing.setCritical(path);
  };

  const loadEstimate = async () => {
    if (left) return;
    if (estimateBusy) {
      estimateAgain = true;
      return;
    }
    estimateBusy = true;
    if (estimateTimer !== null) clearTimeout(estimateTimer);
    estimateTimer = null;
    estimateReadAt = Date.now();
    try {
      estimate = await api.estimate(graphId);
    } catch {
      estimate = null;  // the box says "Estimating…"; the feed shows errors
    }
    estimateBusy = false;
    if (left) return;
    if (summary) showSummary();
    showCritical();
    if (summary && isFinishedGraph(summary)) return;
    estimateTimer = setTimeout(loadEstimate, estimateAgain
      ? Math.max(0, estimateReadAt + ESTIMATE_MIN_INTERVAL_MS - Date.now())
      : ESTIMATE_INTERVAL_MS);
    estimateAgain = false;
  };

  // States changed: read the estimate again, at most once a second.
  const estimateSoon = () => {
    if (left) return;
    if (estimateBusy) {
      estimateAgain = true;
      return;
    }
    const wait = estimateReadAt + ESTIMATE_MIN_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      loadEstimate();
      return;
    }
    if (estimateTimer !== null) clearTimeout(estimateTimer);
    estimateTimer = setTimeout(loadEstimate, wait);
  };

  const drawStructure = (graph) => {
    ids = graph.tasks.map((t) => t.spec.id);
    indexOf = new Map(ids.map((id, i) => [id, i]));
    const deps = graph.tasks.map((t) => t.spec.deps.map((d) => indexOf.get(d)));
    drawing = ids.length <= FULL_VIEW_MAX_TASKS
      ? drawFull(canvas, graphId, ids, deps, states)
      : drawCollapsed(canvas, graphId, ids, deps, states);
    showCritical();
  };

  const feed = new EventGraphFeed(graphId);
  let structureRequested = false;
  feed.start(({ summary: s, changes, first, graph }) => {
    if (left) return;
    setConnection(true);
    error.replaceChildren();
    if (states.length === 0) states = new Array(changes.length);
    const moves = changes.map(([i, state]) => [i, state, states[i]]);
    for (const [i, state] of changes) states[i] = state;
    const wasRunning = summary && !isFinishedGraph(summary);
    summary = s;
    showSummary();
    if (drawing && moves.length > 0) {
      drawing.apply(moves);
      showCritical();
    }
    if (wasRunning && isFinishedGraph(summary)) showCritical();  // nothing left
    if (!first && moves.length > 0 && structureRequested) estimateSoon();
    if (!structureRequested && graph) {
      structureRequested = true;
      if (Number(summary.counts.total) > STRUCTURE_MAX_TASKS) {
        canvas.dataset.view = 'summary';
        canvas.replaceChildren(h('p', { class: 'muted' },
          `${summary.counts.total} tasks: too many to draw; the counts above are live.`));
      } else {
        try {
          drawStructure(graph);
        } catch (e) {
          error.replaceChildren(errorBox(e));
        }
      }
      loadEstimate();
    }
  }, (e) => {
    setConnection(e.httpStatus !== 0, e.message);
    error.replaceChildren(errorBox(e));
  });

  return () => {
    left = true;
    feed.stop();
    if (estimateTimer !== null) clearTimeout(estimateTimer);
  };
}
