// Which hosted repository merged into the root view (hosted.NAME.merge) owns a package name:
// the one whose packages the root view serves under that name instead of upstream's. Read
// from the members' /names, kept until a member changes (a publish, a revert, another
// process's commit), so the hot path can ask without I/O; the first member in config order
// that has a name owns it.
import { decodeNames } from '../registry/codec.js';
import { SingleFlight } from '../mirror/single-flight.js';
import type { RepositorySource } from './repository.js';

/** A hosted repository whose packages appear in the root view: its source, and when it last changed. */
export interface MergedMember extends Pick<RepositorySource, 'name' | 'registry' | 'tarballs' | 'docs'> {
  /** A number that changes whenever its packages may have (HostedStore.generation). */
  generation(): number;
}

/** Who owns which name, as of the members' generations. */
export interface OwnersSnapshot {
  /** Each member's generation (in member order), taken before its /names was read. */
  readonly generations: readonly number[];
  readonly owners: ReadonlyMap<string, MergedMember>;
}

export class MergedOwners {
  private snapshot: OwnersSnapshot | undefined;
  private readonly flight = new SingleFlight<OwnersSnapshot>();

  constructor(readonly members: readonly MergedMember[]) {}

  /**
   * The owners of every merged name as of now (its generations are the members' now), or
   * undefined when a member may have changed since they were read (the caller takes the
   * slow way, which reads them again). No I/O; one generation() per member.
   */
  peek(): OwnersSnapshot | undefined {
    const snapshot = this.snapshot;
    return snapshot && this.isCurrent(snapshot) ? snapshot : undefined;
  }

  /**
   * The owners of every merged name, read again from the members' /names if one changed.
   * Files read from the members after this are at least as new as its generations.
   */
  async get(): Promise<OwnersSnapshot> {
    const known = this.peek();
    if (known) return known;
    // Taken before reading: a commit meanwhile makes this snapshot stale at once.
    const generations = this.members.map((member) => member.generation());
    const snapshot = await this.flight.run(generations.join('/'), async () => {
      const owners = new Map<string, MergedMember>();
      for (const member of this.members) {
        const { file } = await member.registry.get({ kind: 'names' });
        for (const { name } of decodeNames(file.payload).packages) if (!owners.has(name)) owners.set(name, member);
      }
      const read: OwnersSnapshot = { generations, owners };
      this.snapshot = read;
      return read;
    });
    return snapshot;
  }

  private isCurrent(snapshot: OwnersSnapshot): boolean {
    for (let at = 0; at < this.members.length; at += 1) {
      if (this.members[at]?.generation() !== snapshot.generations[at]) return false;
    }
    return true;
  }
}
