// What the web UI is given: hexproxy's stores, repositories, keys and settings it shows.
import type { AccessControl } from '../auth/access-control.js';
import type { KeyPair } from '../keys/keypair.js';
import type { Logger } from '../log.js';
import type { Repository } from '../repository/repository.js';
import type { ActivePolicy } from '../policy/active-policy.js';
import type { CacheIndex } from '../store/cache-index.js';
import type { UpstreamHealth } from '../upstream/health.js';
import type { RecentErrors } from './recent-errors.js';

export interface UiDependencies {
  access: AccessControl;
  index: CacheIndex;
  /** The public repository's upstream health (organizations share it). */
  health: UpstreamHealth;
  keys: Pick<KeyPair, 'publicKeyPem' | 'fingerprint'>;
  /** The public repository's name ("hexpm"). */
  publicRepository: string;
  /** Every repository hexproxy serves (the public one and organizations), with its registry mirror. */
  repositories: ReadonlyMap<string, Pick<Repository, 'registry'>>;
  upstreamUrl: string;
  offline: boolean;
  /** cache.maxCacheBytes; 0 means no limit. */
  maxCacheBytes: number;
  errors: RecentErrors;
  log: Logger;
  version: string;
  /** The policy in force: package pages mark the releases it blocks, Status sums it up. */
  policy: ActivePolicy;
}
