// POST /api/policy/check: a lock file in, what the policy blocks in it out. The CI gate for
// build agents that have curl and a token but no hexproxy config: `curl -f` fails the step
// when something locked is blocked.
import { Hono } from 'hono';
import type { IncomingMessage } from 'node:http';
import type { AccessControl } from '../auth/access-control.js';
import { BadRequestError, MethodNotAllowedError, RequestTooLargeError } from '../errors.js';
import type { CheckReport, LockFileSource } from '../ops/policy-check.js';
import type { ContinueChecks } from './continue-checks.js';
import type { RequestVariables } from './request-context.js';
import { requestText } from './request-body.js';

export interface PolicyCheckDependencies {
  access: AccessControl;
  publicRepository: string;
  /** Checks one lock's text; `mayRead` says which repositories the caller may read. */
  check: (lock: LockFileSource, mayRead: (repository: string) => boolean) => Promise<CheckReport>;
}

type Env = { Bindings: { incoming?: IncomingMessage }; Variables: RequestVariables };

// Lock files of large projects are tens of KiB.
const MAX_LOCK_BYTES = 1024 * 1024;

/** Mounted at /api/policy; `continueChecks`: where its upload rule is registered, so a lock sent with `expect: 100-continue` is judged before it is read. */
export function policyRoutes({ access, publicRepository, check }: PolicyCheckDependencies, continueChecks?: ContinueChecks): Hono<Env> {
  const routes = new Hono<Env>();
  continueChecks?.register({
    method: 'POST',
    path: /^\/api\/policy\/check$/,
    maxBytes: MAX_LOCK_BYTES,
    limitName: 'the lock file limit of /api/policy/check',
    // curl streams `-T -` chunked (with expect): the route counts those bytes itself.
    requireLength: false,
    errors: 'text',
    authorize: ({ authorization, client }) => void access.check(authorization, client.address, 'read', publicRepository),
  });
  routes.post('/check', async (c) => {
    const token = access.check(c.req.header('authorization'), c.get('client').address, 'read', publicRepository);
    const mayRead = (repository: string): boolean => access.mayRead(token, repository);
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > MAX_LOCK_BYTES)
      throw new RequestTooLargeError(`a lock file of ${declared} bytes is over the ${MAX_LOCK_BYTES} bytes this endpoint reads`);
    const text = await requestText(() => c.req.text(), c.env?.incoming);
    if (Buffer.byteLength(text) > MAX_LOCK_BYTES)
      throw new RequestTooLargeError(`the lock file is over the ${MAX_LOCK_BYTES} bytes this endpoint reads`);
    if (text.trim() === '') throw new BadRequestError('send a mix.lock or rebar.lock as the request body (curl --data-binary @mix.lock)');
    const format = c.req.query('format') ?? (text.trimStart().startsWith('%{') ? 'mix' : 'rebar');
    if (format !== 'mix' && format !== 'rebar') throw new BadRequestError(`format=${format} is neither mix nor rebar`);
    const file = format === 'mix' ? 'mix.lock' : 'rebar.lock';
    const report = await check({ file, kind: format, text, hints: { give: { mix: '?format=mix', rebar: '?format=rebar' } } }, mayRead);
    // A lock that does not parse is the request's fault; a release that cannot be checked is not.
    if (report.checked === 0 && report.errors.some((error) => error.name === undefined)) {
      throw new BadRequestError(`the body is not a ${file}: ${report.errors.map((error) => error.message).join('; ')}`);
    }
    const status = report.blocked.length > 0 ? 409 : report.errors.length > 0 ? 422 : 200;
    return c.json(report, status, { 'cache-control': 'no-store' });
  });
  routes.all('/check', (c) => {
    throw new MethodNotAllowedError(`${c.req.method} is not allowed here; POST a mix.lock or rebar.lock to /api/policy/check`, 'POST');
  });
  return routes;
}
