// The dashboard's entry point: a hash router over the pages. Every page
// lives at a URL of its own (#/, #/graphs/ID, #/graphs/ID/tasks/TASK,
// #/workers), so links can be shared and the back button works, and
// moving between pages never reloads the document.

import { graphPage } from './graph_page.js';
import { graphsPage, taskPage, workersPage } from './pages.js';

// [pattern, page name, menu entry, page(match) -> (view) -> leave]
const routes = [
  [/^#?\/?$/, 'graphs', 'graphs', () => graphsPage],
  [/^#\/workers$/, 'workers', 'workers', () => workersPage],
  [/^#\/graphs\/([^/]+)$/, 'graph', 'graphs', (m) => (view) => graphPage(view, {
    graphId: decodeURIComponent(m[1]),
  })],
  // Task ids may hold '/', encoded as %2F in the hash.
  [/^#\/graphs\/([^/]+)\/tasks\/(.+)$/, 'task', 'graphs', (m) => (view) => taskPage(view, {
    graphId: decodeURIComponent(m[1]), taskId: decodeURIComponent(m[2]),
  })],
];

let leave = null;  // stops the current page's timers

function route() {
  if (leave) leave();
  leave = null;
  const view = document.getElementById('view');
  const hash = location.hash;
  for (const [pattern, name, section, page] of routes) {
    const m = hash.match(pattern);
    if (!m) continue;
    for (const link of document.querySelectorAll('[data-nav]')) {
      link.classList.toggle('active', link.dataset.nav === section);
    }
    view.dataset.page = name;
    leave = page(m)(view);
    window.scrollTo(0, 0);
    return;
  }
  view.replaceChildren(Object.assign(document.createElement('p'), {
    textContent: `Nothing at ${hash}.`,
  }));
}

window.addEventListener('hashchange', route);
route();
