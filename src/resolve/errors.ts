// Errors for text a user or a registry gave us that is not a valid version, requirement or
// prewarm spec. They are plain Errors with a stable `code` rather than HexproxyErrors: they
// never reach the HTTP layer (the prewarm command reports them), so they map to no status.

export type ResolveErrorCode = 'invalid_version' | 'invalid_requirement' | 'invalid_spec';

export abstract class ResolveInputError extends Error {
  abstract readonly code: ResolveErrorCode;

  constructor(
    /** The text that was rejected, exactly as given. */
    readonly input: string,
    /** What is wrong with it, without the input itself. */
    readonly problem: string,
    what: string,
    options?: ErrorOptions,
  ) {
    super(`invalid ${what} ${JSON.stringify(input)}: ${problem}`, options);
    this.name = new.target.name;
  }
}

export class InvalidVersionError extends ResolveInputError {
  readonly code = 'invalid_version';
  constructor(input: string, problem: string) {
    super(input, problem, 'version');
  }
}

export class InvalidRequirementError extends ResolveInputError {
  readonly code = 'invalid_requirement';
  constructor(input: string, problem: string) {
    super(input, problem, 'requirement');
  }
}

export class InvalidSpecError extends ResolveInputError {
  readonly code = 'invalid_spec';
  constructor(input: string, problem: string, options?: ErrorOptions) {
    super(input, problem, 'package spec', options);
  }
}
