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

interface Snapshot {
  /** Each member's generation, taken before its /names was read. */
  generations: readonly number[];
  owners: ReadonlyMap<string, MergedMember>;
}

export class MergedOwners {
  private snapshot: Snapshot | undefined;
  private readonly flight = new SingleFlight<Snapshot>();

  constructor(readonly members: readonly MergedMember[]) {}

  /**
   * The owners of every merged name as of now, or undefined when a member may have changed
   * since they were read (the caller takes the slow way, which reads them again). No I/O.
   */
  peek(): ReadonlyMap<string, MergedMember> | undefined {
    const snapshot = this.snapshot;
    return snapshot && this.isCurrent(snapshot) ? snapshot.owners : undefined;
  }

  /** The owners of every merged name, read again from the members' /names if one changed. */
  async get(): Promise<ReadonlyMap<string, MergedMember>> {
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
      const read: Snapshot = { generations, owners };
      this.snapshot = read;
      return read;
    });
    return snapshot.owners;
  }

  private isCurrent(snapshot: Snapshot): boolean {
    for (let at = 0; at < this.members.length; at += 1) {
      if (this.members[at]?.generation() !== snapshot.generations[at]) return false;
    }
    return true;
  }
}
