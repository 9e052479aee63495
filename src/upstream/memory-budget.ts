// One bound on the memory that upstream bodies being read and inflated take at once
// (cache.registryFetchMemoryBytes), shared by every request of every repository, so a
// hostile upstream answering many requests with gzip bombs or endless bodies cannot take
// more than it, however many it answers.
//
// Nobody ever waits for memory, so nothing can deadlock: a lease grows at once or not at
// all. When the budget is full, the lease holding the most of what is still growing is
// stopped (and its request fails with 503), whether it asked or another one did: a small
// file needing a few KiB takes them from the largest body in flight, so bombs cannot
// starve it. A lease that needs more than the whole budget on its own is refused (502).
import { RegistryMemoryFullError, UpstreamTooLargeError } from '../errors.js';

export class MemoryBudget {
  private usedBytes = 0;
  /** Leases still growing: the ones that may be stopped to make room. */
  private readonly growing = new Set<MemoryLease>();

  /** `setting` names the key that sets `limit`, for error messages. */
  constructor(
    readonly limit: number,
    readonly setting: string,
  ) {}

  /** Bytes held by every lease now. */
  get used(): number {
    return this.usedBytes;
  }

  /** A lease for one body; `what` names it in errors ("/packages/phoenix"). Release it when done. */
  lease(what: string): MemoryLease {
    const lease = new MemoryLease(this, what);
    this.growing.add(lease);
    return lease;
  }

  /** @internal MemoryLease.grow: makes room for `bytes` more, or throws. */
  take(lease: MemoryLease, bytes: number): void {
    if (lease.bytes + bytes > this.limit) {
      throw new UpstreamTooLargeError(
        `${lease.what} from upstream needs more than ${this.setting} (${this.limit} bytes) of memory on its own to read and inflate; refusing it (raise ${this.setting} if it is a real registry file)`,
      );
    }
    while (this.usedBytes + bytes > this.limit) {
      const largest = this.largestGrowing(lease);
      if (!largest || largest.bytes <= lease.bytes) throw this.full(lease, lease.bytes);
      this.stop(largest);
    }
    this.usedBytes += bytes;
  }

  /** @internal MemoryLease.shrink and release. */
  give(bytes: number): void {
    this.usedBytes -= bytes;
  }

  /** @internal MemoryLease.settle and release. */
  settle(lease: MemoryLease): void {
    this.growing.delete(lease);
  }

  private largestGrowing(except: MemoryLease): MemoryLease | undefined {
    let largest: MemoryLease | undefined;
    for (const lease of this.growing) if (lease !== except && (!largest || lease.bytes > largest.bytes)) largest = lease;
    return largest;
  }

  private stop(lease: MemoryLease): void {
    this.growing.delete(lease);
    lease.stop(this.full(lease, lease.bytes));
  }

  private full(lease: MemoryLease, bytes: number): RegistryMemoryFullError {
    return new RegistryMemoryFullError(
      `${lease.what} from upstream was stopped after taking ${bytes} bytes: the registry files being fetched at once need more than ${this.setting} (${this.limit} bytes) of memory, and it held the most; try again later, or raise ${this.setting} if real registry files are refused`,
    );
  }
}

export class MemoryLease {
  private held = 0;
  private stopped: RegistryMemoryFullError | undefined;
  private readonly controller = new AbortController();

  constructor(
    private readonly budget: MemoryBudget,
    readonly what: string,
  ) {}

  /** Bytes this lease holds. */
  get bytes(): number {
    return this.held;
  }

  /** Aborted, with the error as its reason, when the budget stops this lease to make room for another. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Takes `bytes` more from the budget; throws if they cannot be had (or this lease was stopped). */
  grow(bytes: number): void {
    if (this.stopped) throw this.stopped;
    this.budget.take(this, bytes);
    this.held += bytes;
  }

  /** Gives back `bytes` that are no longer kept (e.g. chunks copied into one buffer). */
  shrink(bytes: number): void {
    const given = Math.min(bytes, this.held);
    this.held -= given;
    this.budget.give(given);
  }

  /** Done growing: what it holds is in use and cannot be freed by stopping it. */
  settle(): void {
    this.budget.settle(this);
  }

  /** Gives everything back. */
  release(): void {
    this.budget.settle(this);
    this.shrink(this.held);
  }

  /** @internal By the budget: its bytes are taken back now, and its reader is told to stop. */
  stop(error: RegistryMemoryFullError): void {
    this.stopped = error;
    this.shrink(this.held);
    this.controller.abort(error);
  }
}
