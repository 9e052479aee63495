// The upstream client of hexproxy --offline: it asks nobody, and answers every request with
// one error, OfflineMissError. Mirrors ask upstream only for what they have not cached, or
// to revalidate a copy (which they then serve as it is: allowsStale), so this is a miss.
import { OfflineMissError } from '../errors.js';
import type { UpstreamClient, UpstreamOk, UpstreamResult } from './upstream-client.js';

export class OfflineUpstreamClient implements UpstreamClient {
  constructor(readonly baseUrl: string) {}

  refusal(what: string): OfflineMissError {
    return new OfflineMissError(`${what} is not cached and hexproxy runs offline`);
  }

  get(path: string): Promise<UpstreamOk> {
    return Promise.reject(this.refusal(`/${path.replace(/^\/+/, '')}`));
  }

  getIfChanged(path: string): Promise<UpstreamResult> {
    return Promise.reject(this.refusal(`/${path.replace(/^\/+/, '')}`));
  }

  async close(): Promise<void> {
    // Nothing was opened.
  }
}
