// Any other path under /ui: /ui/ goes to /ui, the rest is a 404 naming the pages there are.
import { NotFoundError } from '../../errors.js';
import type { UiHandler } from './ui-context.js';

export const notFound: UiHandler = (c) => {
  if (c.req.path === '/ui/') return c.redirect('/ui', 301);
  throw new NotFoundError(
    `the web UI has no page ${c.req.path}; it has /ui/packages, /ui/packages/NAME, /ui/repos/REPO/packages/NAME, /ui/docs/REPO/NAME/VERSION/, /ui/setup and /ui/status`,
  );
};
