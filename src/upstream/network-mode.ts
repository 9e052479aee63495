// The one place the network mode is decided: with --offline every mirror gets a client that
// asks nobody (offline-client.ts); otherwise the HTTP client. The mirrors only see the
// errors either answers with.
import { HttpUpstreamClient, type HttpUpstreamClientOptions } from './client.js';
import { OfflineUpstreamClient } from './offline-client.js';
import type { UpstreamClient } from './upstream-client.js';

export function upstreamClientFor(offline: boolean, options: HttpUpstreamClientOptions): UpstreamClient {
  return offline ? new OfflineUpstreamClient(options.baseUrl) : new HttpUpstreamClient(options);
}
