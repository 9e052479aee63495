// The policy in force and its generation: replaced whole on reload (SIGHUP, admin API), so
// every view built under an older generation is rebuilt on its next use. The clock is
// injectable: minimum ages are tested by moving it, not by waiting.
import { OPEN_POLICY, type Policy } from './rules.js';

export type Clock = () => number;

export class ActivePolicy {
  private policy: Policy;
  private generationNumber = 0;

  constructor(
    policy: Policy = OPEN_POLICY,
    private readonly clock: Clock = Date.now,
  ) {
    this.policy = policy;
  }

  get current(): Policy {
    return this.policy;
  }

  /** Bumped on every replace; views remember the generation they were built under. */
  get generation(): number {
    return this.generationNumber;
  }

  replace(policy: Policy): void {
    this.policy = policy;
    this.generationNumber += 1;
  }

  /** Milliseconds since the epoch. */
  nowMs(): number {
    return this.clock();
  }

  /** Whether the policy restricts what `repository` serves. */
  appliesTo(repository: string): boolean {
    return this.policy.active && this.policy.repositories.has(repository);
  }
}
