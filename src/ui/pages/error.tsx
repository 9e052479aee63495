// What the UI shows instead of a page it cannot show.
import type { FC } from 'hono/jsx';
import { Layout, type Chrome } from '../layout.js';

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Sign in needed',
  403: 'Not allowed',
  404: 'Not found',
  429: 'Too many attempts',
  500: 'Something went wrong',
  502: 'Upstream unavailable',
  504: 'Upstream timed out',
  507: 'Storage failed',
};

// Where the status alone would mislead: a 504 in offline mode is no timeout.
const CODE_TITLES: Record<string, string> = {
  offline_not_cached: 'Not cached (offline mode)',
};

/** `code`: the error's x-hexproxy-error code, when it has one. */
export const ErrorPage: FC<{ chrome: Chrome; status: number; code?: string | undefined; message: string }> = ({ chrome, status, code, message }) => {
  const title =
    (code !== undefined ? CODE_TITLES[code] : undefined) ?? TITLES[status] ?? (status >= 500 ? 'Something went wrong' : 'Cannot show this page');
  return (
    <Layout title={title} chrome={chrome}>
      <div class="error-page">
        <div class="status">{status}</div>
        <h1 id="error-title">{title}</h1>
        <p id="error-message">{message}</p>
        {status === 401 ? (
          <p class="muted">
            Use a hexproxy token as the password (any user name); ask an administrator for one (<code>hexproxy token create</code>).
          </p>
        ) : null}
        <p>
          <a href="/ui/packages">Back to the packages</a>
        </p>
      </div>
    </Layout>
  );
};
