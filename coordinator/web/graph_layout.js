// Layered layout of a DAG, for drawing it left to right.
//
// Layers are longest-path layers: a task sits one layer right of its
// deepest dependency, so every edge points rightwards. Within a layer,
// tasks are ordered by the mean row of their dependencies (one barycentre
// pass, left to right), which removes most crossings in build graphs at
// linear cost. Everything here is linear in tasks + edges, so the same code
// serves the collapsed view of a graph of 10,000 tasks.

// deps[i]: indices of the tasks task i depends on. Returns layerOf[i] and
// layers[k] (the tasks of layer k, in submission order).
export function computeLayers(deps) {
  const n = deps.length;
  const dependents = Array.from({ length: n }, () => []);
  const waiting = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    waiting[i] = deps[i].length;
    for (const d of deps[i]) dependents[d].push(i);
  }
  const layerOf = new Int32Array(n);
  const queue = [];
  for (let i = 0; i < n; i++) if (waiting[i] === 0) queue.push(i);
  // Kahn's order: a task is visited after all its dependencies.
  for (let head = 0; head < queue.length; head++) {
    const i = queue[head];
    for (const next of dependents[i]) {
      layerOf[next] = Math.max(layerOf[next], layerOf[i] + 1);
      if (--waiting[next] === 0) queue.push(next);
    }
  }
  const layers = [];
  for (let i = 0; i < n; i++) {
    while (layers.length <= layerOf[i]) layers.push([]);
    layers[layerOf[i]].push(i);
  }
  return { layerOf, layers };
}

// Orders each layer (in place) by the mean row of the tasks' dependencies
// in earlier layers; returns rowOf[i], the row of task i in its layer.
export function orderLayers(layers, deps) {
  const rowOf = new Float64Array(deps.length);
  for (let k = 0; k < layers.length; k++) {
    const layer = layers[k];
    if (k > 0) {
      const key = new Map();
      for (const i of layer) {
        let sum = 0;
        for (const d of deps[i]) sum += rowOf[d];
        // Ties keep submission order (Array.prototype.sort is stable).
        key.set(i, deps[i].length > 0 ? sum / deps[i].length : Infinity);
      }
      layer.sort((a, b) => key.get(a) - key.get(b));
    }
    layer.forEach((i, row) => { rowOf[i] = row; });
  }
  return rowOf;
}

// Positions for drawing every task as a box: x, y of each box's top-left
// corner, and the size of the whole drawing.
export function layoutFull(deps, { nodeWidth = 156, nodeHeight = 30, columnGap = 48,
                                   rowGap = 12, margin = 16 } = {}) {
  const { layerOf, layers } = computeLayers(deps);
  const rowOf = orderLayers(layers, deps);
  const tallest = Math.max(1, ...layers.map((l) => l.length));
  const n = deps.length;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Short layers are centred on the tallest one.
    const offset = (tallest - layers[layerOf[i]].length) / 2;
    x[i] = margin + layerOf[i] * (nodeWidth + columnGap);
    y[i] = margin + (rowOf[i] + offset) * (nodeHeight + rowGap);
  }
  return {
    x, y, layerOf, layers, nodeWidth, nodeHeight,
    width: 2 * margin + layers.length * (nodeWidth + columnGap) - columnGap,
    height: 2 * margin + tallest * (nodeHeight + rowGap) - rowGap,
  };
}

// Groups consecutive layers into at most `maxBands` bands of about equal
// layer counts, for the collapsed view: a chain of 10,000 tasks has 10,000
// layers, which no page can show one by one.
export function bandsOf(layers, maxBands) {
  const perBand = Math.max(1, Math.ceil(layers.length / maxBands));
  const bands = [];
  for (let first = 0; first < layers.length; first += perBand) {
    const last = Math.min(layers.length, first + perBand) - 1;
    const tasks = [];
    for (let k = first; k <= last; k++) tasks.push(...layers[k]);
    bands.push({ firstLayer: first, lastLayer: last, tasks });
  }
  return bands;
}
