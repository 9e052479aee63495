// Published docs as pages: /ui/docs/REPO/PKG/VERSION/[PATH] signs the viewer in (a token
// that may read REPO) and sends the browser on to the same path below a ticket,
// /ui/docs/~TICKET/REPO/PKG/VERSION/[PATH] (docs-tickets.ts), which serves the file from the
// docs tarball (src/hosted/docs-pages.ts). Docs are HTML and JavaScript written by whoever
// published them, so they are served with a sandbox policy: an opaque origin, which holds
// none of the UI's credentials and whose requests to hexproxy carry none (docs/security.md,
// "Private docs pages").
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { BadRequestError, ForbiddenError, NotFoundError, UnauthorizedError } from '../../errors.js';
import type { DocsArchive } from '../../hosted/docs-pages.js';
import { isPackageName, isVersion } from '../../registry/resource.js';
import type { DocsScope } from '../docs-tickets.js';
import { addressOf, type UiContext, type UiEnv, type UiHandler } from './ui-context.js';

/**
 * The policy of every docs file: a sandbox (an opaque origin) where scripts may run (ex_doc's
 * sidebar and search need them) and links may open new windows, but nothing may load from
 * anywhere but hexproxy (nor send anything elsewhere), and no other page may frame it.
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  'sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox',
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** How long a browser may keep a docs file (they never change under one ticket). */
const DOCS_CACHE_CONTROL = 'private, max-age=600';

const STABLE_PREFIX = '/ui/docs/';

/** GET /ui/docs/REPO/PKG/VERSION[/PATH]: the viewer's token must read REPO; then on, with a ticket. */
export function docsEntry(ui: UiContext): UiHandler {
  const { access, hosted } = ui.deps;
  return (c) => {
    const target = parseStable(c);
    // Only a page the browser opens as one: a script or style of another site's page could
    // otherwise follow the redirect with the viewer's credentials and read what it loads.
    const mode = c.req.header('sec-fetch-mode');
    if (mode !== undefined && mode !== 'navigate')
      throw new ForbiddenError(`docs pages are opened by following a link to them, not loaded by another page (Sec-Fetch-Mode: ${mode})`);
    if (!hosted?.hosts(target.scope.repository))
      throw new NotFoundError(`hexproxy hosts no repository ${target.scope.repository}; docs pages are those of hosted repositories`);
    const viewer = c.get('viewer');
    const token = access.check(c.req.header('authorization'), addressOf(c), 'read', target.scope.repository) ?? viewer.token;
    if (!token) throw new UnauthorizedError('sign in with a hexproxy token as the password (any user name) to read these docs');
    archiveOf(ui, target.scope);
    const ticket = ui.docsTickets.issue(target.scope, token);
    // The ticket is the viewer's: kept by no cache, sent to no other site.
    c.header('cache-control', 'no-store');
    c.header('referrer-policy', 'no-referrer');
    return c.redirect(ticketedPath(ticket, target.scope, target.segments, target.directory) + queryOf(c), 302);
  };
}

/** GET /ui/docs/~TICKET/REPO/PKG/VERSION/[PATH]: the file, if the ticket opens these docs. */
export function docsFile(ui: UiContext): UiHandler {
  const { access, tokens, docsPages } = ui.deps;
  return async (c) => {
    const [ticket = '', ...rest] = pathSegments(c, '/ui/docs/~');
    const target = parseTarget(rest, c.req.path.endsWith('/'));
    const holder = (name: string) => tokens.tokens().find((token) => token.name === name);
    const check = ui.docsTickets.check(ticket, target.scope, holder);
    const token = check.ok ? holder(check.tokenName) : undefined;
    if (!check.ok || !token || !access.mayRead(token, target.scope.repository)) {
      // A page being opened signs in again; what a page loads cannot, and is refused.
      if (c.req.header('sec-fetch-mode') === 'navigate' || c.req.header('sec-fetch-mode') === undefined)
        return c.redirect(stablePath(target.scope, target.segments, target.directory) + queryOf(c), 302);
      throw new ForbiddenError(
        check.ok
          ? `the token this docs page was opened with may no longer read ${target.scope.repository}`
          : `this docs page's ticket ${check.reason === 'expired' ? 'has expired' : 'is not valid'}; open the docs again from the package page`,
      );
    }
    const archive = archiveOf(ui, target.scope);
    const path = target.segments.join('/');
    const found = await docsPages.lookup(archive, target.directory ? (path === '' ? 'index.html' : `${path}/index.html`) : path);
    if (found.kind === 'directory') return c.redirect(`${ticketedPath(ticket, target.scope, target.segments, true)}${queryOf(c)}`, 302);
    if (found.kind === 'missing') throw new NotFoundError(`${describe(target.scope)} has no file ${path === '' ? 'index.html' : path}`);
    const { page } = found;
    const headers: Record<string, string> = {
      'content-type': page.contentType,
      'content-length': String(page.size),
      'content-security-policy': DOCS_CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': DOCS_CACHE_CONTROL,
      // What the pages load in CORS mode (fonts, fetch) comes from their opaque origin.
      'access-control-allow-origin': '*',
    };
    const body = c.req.method === 'HEAD' ? null : (Readable.toWeb(createReadStream(page.file)) as ReadableStream<Uint8Array>);
    return new Response(body, { status: 200, headers });
  };
}

interface DocsTarget {
  scope: DocsScope;
  /** The path in the docs, decoded, segment by segment. */
  segments: string[];
  /** It ends with `/` (or is the docs' top): its index.html. */
  directory: boolean;
}

function parseStable(c: Context<UiEnv>): DocsTarget {
  const segments = pathSegments(c, STABLE_PREFIX);
  return parseTarget(segments, segments.length <= 3 || c.req.path.endsWith('/'));
}

function parseTarget(segments: string[], directory: boolean): DocsTarget {
  const [repository = '', name = '', version = '', ...path] = segments;
  if (!/^[a-z0-9_]{1,128}$/.test(repository)) throw new BadRequestError(`"${repository}" is not a repository name`);
  if (!isPackageName(name))
    throw new BadRequestError(`"${name}" is not a valid package name (a lowercase letter, then lowercase letters, digits or _)`);
  if (!isVersion(version)) throw new BadRequestError(`"${version}" is not a SemVer version`);
  return { scope: { repository, name, version }, segments: path, directory };
}

/** The request's path after `prefix`, split and decoded; a segment that could climb out or hide a separator is refused. */
function pathSegments(c: Context<UiEnv>, prefix: string): string[] {
  const raw = new URL(c.req.url).pathname;
  if (!raw.startsWith(prefix)) throw new NotFoundError(`no docs at ${raw}`);
  const parts = raw.slice(prefix.length).split('/');
  if (parts.at(-1) === '') parts.pop();
  return parts.map((part) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(part);
    } catch {
      throw new BadRequestError(`the path segment "${part.slice(0, 100)}" is not valid percent-encoding`);
    }
    if (decoded === '' || decoded === '.' || decoded === '..' || /[/\\\0-\x1f\x7f]/.test(decoded))
      throw new BadRequestError(`the path segment "${part.slice(0, 100)}" is not allowed in a docs path`);
    return decoded;
  });
}

/** The published docs of `scope`, as DocsPages reads them; NotFoundError when there are none. */
function archiveOf(ui: UiContext, scope: DocsScope): DocsArchive {
  const { hosted } = ui.deps;
  const file = hosted?.docsFile(scope.repository, scope.name, scope.version);
  if (!hosted || !file) {
    const published = hosted?.release(scope.repository, scope.name, scope.version) !== undefined;
    throw new NotFoundError(
      published
        ? `${describe(scope)} has no published docs; publish them with mix hex.publish docs`
        : `${scope.repository} has no release ${scope.name} ${scope.version}`,
    );
  }
  const label = `the docs of ${describe(scope)}`;
  return { sha256: file.sha256, label, open: async () => (await hosted.open(file, label)).stream() };
}

const describe = (scope: DocsScope): string => `${scope.repository}/${scope.name} ${scope.version}`;

const encodePath = (scope: DocsScope, segments: readonly string[], directory: boolean): string =>
  `${[scope.repository, scope.name, scope.version, ...segments].map(encodeURIComponent).join('/')}${directory ? '/' : ''}`;

/** Where the docs page of `scope` at `segments` is opened: what the package page links to. */
export const stablePath = (scope: DocsScope, segments: readonly string[] = [], directory = true): string =>
  `${STABLE_PREFIX}${encodePath(scope, segments, directory)}`;

const ticketedPath = (ticket: string, scope: DocsScope, segments: readonly string[], directory: boolean): string =>
  `${STABLE_PREFIX}~${ticket}/${encodePath(scope, segments, directory)}`;

function queryOf(c: Context<UiEnv>): string {
  const query = new URL(c.req.url).search;
  return query.length > 1 ? query : '';
}
