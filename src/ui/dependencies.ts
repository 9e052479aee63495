// What the web UI is given: hexproxy's stores, repositories, keys and settings it shows.
import type { AccessControl } from '../auth/access-control.js';
import type { TokenStore } from '../auth/token-store.js';
import type { DocsPages } from '../hosted/docs-pages.js';
import type { HostedStore } from '../hosted/hosted-store.js';
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
  /** hexproxy's keys: the public one is shown; docs tickets are signed with a key derived from the private one. */
  keys: Pick<KeyPair, 'publicKeyPem' | 'fingerprint' | 'privateKey'>;
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
  /** The hosted repositories' store: their packages are listed, shown and their docs served; undefined when none is hosted. */
  hosted: Pick<HostedStore, 'hosts' | 'listPackages' | 'packageInfo' | 'release' | 'docsFile' | 'open'> | undefined;
  /** The tokens, as the token file holds them: a docs ticket is checked against the token it names. */
  tokens: Pick<TokenStore, 'tokens'>;
  /** Published docs, extracted for serving as pages (DATA_DIR/docs-pages). */
  docsPages: Pick<DocsPages, 'lookup'>;
}
