// The repository as clients see it: one method per endpoint of the Hex repository
// protocol. Routes validate, call one of these, and write headers.
import type { KeyPair } from '../keys/keypair.js';
import type { PassthroughMirror, PassthroughResult } from './passthrough-mirror.js';
import type { RegistryMirror, RegistryResult } from './registry-mirror.js';
import type { TarballMirror, TarballResult } from './tarball-mirror.js';

export class HexRepository {
  constructor(
    private readonly registry: RegistryMirror,
    private readonly tarballs: TarballMirror,
    private readonly passthrough: PassthroughMirror,
    private readonly keys: KeyPair,
  ) {}

  names(): Promise<RegistryResult> {
    return this.registry.get({ kind: 'names' });
  }

  versions(): Promise<RegistryResult> {
    return this.registry.get({ kind: 'versions' });
  }

  package(name: string): Promise<RegistryResult> {
    return this.registry.get({ kind: 'package', name });
  }

  tarball(name: string, version: string): Promise<TarballResult> {
    return this.tarballs.get(name, version);
  }

  /** Documentation tarballs never change once published. */
  docs(name: string, version: string): Promise<PassthroughResult> {
    return this.passthrough.get(`docs/${name}-${version}.tar.gz`, true);
  }

  /** CSV lists change; the archives they point to do not. */
  installs(path: string): Promise<PassthroughResult> {
    return this.passthrough.get(`installs/${path}`, !/\.csv(\.signed)?$/.test(path));
  }

  publicKey(): string {
    return this.keys.publicKeyPem;
  }
}
