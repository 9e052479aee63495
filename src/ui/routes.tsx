// The web UI at /ui: server-rendered HTML (Hono's JSX), no JavaScript needed, no external
// assets. Packages (what is cached), a page per package (with what the policy blocks), Set
// me up, Status. Private organizations' packages are shown only to viewers whose token may
// read them; with auth.requireToken the UI itself needs a token (same 401/429 as the
// repository routes). This file wires the pages; each page's handler is in handlers/, its
// view in pages/.
import { Hono } from 'hono';
import type { UiDependencies } from './dependencies.js';
import { docsEntry, docsFile } from './handlers/docs.js';
import { login } from './handlers/login.js';
import { notFound } from './handlers/not-found.js';
import { organizationPackagePage, publicPackagePage } from './handlers/package.js';
import { packagesPage } from './handlers/packages.js';
import { setupPage } from './handlers/setup.js';
import { statusPage } from './handlers/status.js';
import { addressOf, createUiContext, type UiEnv } from './handlers/ui-context.js';
import { viewerOf } from './viewer.js';

export type { UiDependencies } from './dependencies.js';

export function createUiRoutes(deps: UiDependencies): Hono<UiEnv> {
  const ui = createUiContext(deps);
  const routes = new Hono<UiEnv>();

  routes.onError((error, c) => ui.errorPage(c, error));

  // Docs pages below a ticket carry no credentials (their pages have an opaque origin): the
  // ticket is checked instead, before any viewer is judged.
  routes.get('/docs/:ticket{~[^/]+}/*', docsFile(ui));

  routes.use('*', async (c, next) => {
    c.set('viewer', viewerOf(deps.access, c.req.header('authorization'), addressOf(c), deps.publicRepository, ui.served));
    await next();
  });

  const packages = packagesPage(ui);
  routes.get('/', packages);
  routes.get('/packages', packages);
  routes.get('/packages/:name', publicPackagePage(ui));
  routes.get('/repos/:org/packages/:name', organizationPackagePage(ui));
  routes.get('/setup', setupPage(ui));
  routes.get('/status', statusPage(ui));
  routes.get('/docs/*', docsEntry(ui));
  routes.get('/login', login);
  routes.get('*', notFound);

  return routes;
}
