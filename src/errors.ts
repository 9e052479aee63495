// The errors hexproxy raises on purpose. Each has a stable `code` and the HTTP status it
// maps to; src/http/error-response.ts is the one place that turns them into responses.

export type ErrorCode =
  | 'bad_request'
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'blocked_by_policy'
  | 'name_shadows_upstream'
  | 'too_many_failures'
  | 'method_not_allowed'
  | 'unsupported_media_type'
  | 'client_closed_request'
  | 'request_too_large'
  | 'length_required'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'upstream_too_large'
  | 'registry_memory_full'
  | 'verification_failed'
  | 'offline_not_cached'
  | 'build_list_unavailable'
  | 'storage_failed'
  | 'config_invalid'
  | 'invalid_package'
  // Hosted repositories (issue 17): a publish, revert or retire refused for what is stored.
  | 'release_exists'
  | 'release_locked'
  | 'package_depended_on'
  // The publishing API (issue 17): a retirement that is not one.
  | 'invalid_retirement';

/**
 * What went wrong, field by field (e.g. each failed check of an upload): the `errors` map of
 * a Hex API error body, as hexpm writes it (field → message, nested per item).
 */
export type ErrorDetails = { readonly [field: string]: string | ErrorDetails };

export interface HexproxyErrorOptions extends ErrorOptions {
  details?: ErrorDetails;
  /** What the Hex API answers as `message` above the details, when not the message itself. */
  title?: string;
}

/** hexpm's `message` above per-field `errors` (a 422). */
export const VALIDATION_TITLE = 'Validation error(s)';

export abstract class HexproxyError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly status: number;
  /** Extra response headers the error calls for (e.g. Allow). */
  readonly headers: Readonly<Record<string, string>> = {};
  /** Field-by-field reasons; the Hex API answers them as `errors` (other responses show the message only). */
  readonly details: ErrorDetails | undefined;
  /** The Hex API answer's `message` when it is not `message` (hexpm's "Validation error(s)" above the details). */
  readonly title: string | undefined;

  constructor(message?: string, options?: HexproxyErrorOptions) {
    super(message, options);
    // Logs and stack traces name the class ("NotFoundError: …"), not "Error".
    this.name = new.target.name;
    this.details = options?.details;
    this.title = options?.title;
  }
}

export class BadRequestError extends HexproxyError {
  readonly code = 'bad_request';
  readonly status = 400;
}

export class NotFoundError extends HexproxyError {
  readonly code = 'not_found';
  readonly status = 404;
}

/** No credentials, or credentials hexproxy does not know. */
export class UnauthorizedError extends HexproxyError {
  readonly code = 'unauthorized';
  readonly status = 401;
  override readonly headers = { 'www-authenticate': 'Basic realm="hexproxy", charset="UTF-8"' };
}

/** Known credentials that do not allow this. */
export class ForbiddenError extends HexproxyError {
  readonly code = 'forbidden';
  readonly status = 403;
}

/** A request asking for more work than hexproxy does for one request (it names the limit). */
export class RequestTooLargeError extends HexproxyError {
  readonly code = 'request_too_large';
  readonly status = 413;
}

/** An upload without a Content-Length, where the size must be judged before the body is read. */
export class LengthRequiredError extends HexproxyError {
  readonly code = 'length_required';
  readonly status = 411;
}

/** A client address that failed to authenticate too often lately. */
/** A release (or a view) hexproxy's policy keeps from clients (config key policy). */
export class PolicyBlockedError extends HexproxyError {
  readonly code = 'blocked_by_policy';
  readonly status = 403;
}

/**
 * A package name refused for a hosted repository merged into the root view
 * (hosted.NAME.merge), against dependency confusion: upstream has a package of that name
 * (or cannot say it has none) and hosted.NAME.mayShadow does not list it, or another merged
 * repository already has it. 422 as hex.pm refuses a name; `field` is where its errors map files it.
 */
export class NameShadowsUpstreamError extends HexproxyError {
  readonly code = 'name_shadows_upstream';
  readonly status = 422;
  readonly field = 'name';

  // Mix prints `errors`: the reason under `name`, as hexpm files a name it refuses.
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, details: { name: message }, title: VALIDATION_TITLE });
  }
}

export class TooManyFailuresError extends HexproxyError {
  readonly code = 'too_many_failures';
  readonly status = 429;
  override readonly headers: Readonly<Record<string, string>>;

  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.headers = { 'retry-after': String(retryAfterSeconds) };
  }
}

export class MethodNotAllowedError extends HexproxyError {
  readonly code = 'method_not_allowed';
  readonly status = 405;
  override readonly headers: Readonly<Record<string, string>>;

  /** `allow`: the methods the path takes (most of hexproxy is read-only). */
  constructor(message: string, allow = 'GET, HEAD') {
    super(message);
    this.headers = { allow };
  }
}

/** A request body of a type the endpoint does not take (the admin API takes JSON only). */
export class UnsupportedMediaTypeError extends HexproxyError {
  readonly code = 'unsupported_media_type';
  readonly status = 415;
}

/**
 * The client closed the connection before its request was read (a POST body cut short):
 * not a server error. 499 is nginx's "client closed request"; the client never sees it, but
 * the access log and the metrics do.
 */
export class ClientClosedRequestError extends HexproxyError {
  readonly code = 'client_closed_request';
  readonly status = 499;
}

/** Upstream refused, reset, or answered with an error status. */
export class UpstreamUnavailableError extends HexproxyError {
  readonly code = 'upstream_unavailable';
  readonly status = 502;
}

export class UpstreamTimeoutError extends HexproxyError {
  readonly code = 'upstream_timeout';
  readonly status = 504;
}

export class UpstreamTooLargeError extends HexproxyError {
  readonly code = 'upstream_too_large';
  readonly status = 502;
}

/**
 * Registry files being fetched at once took all the memory cache.registryFetchMemoryBytes
 * allows, and this one held the most: a load (or attack) condition, not a fault of the
 * file itself, so 503.
 */
export class RegistryMemoryFullError extends HexproxyError {
  readonly code = 'registry_memory_full';
  readonly status = 503;
}

/** Upstream bytes failed a signature, repository, package-name or checksum check. */
export class VerificationError extends HexproxyError {
  readonly code = 'verification_failed';
  readonly status = 502;
}

/**
 * Not cached, and upstream may not be asked (--offline): what the offline upstream client
 * (src/upstream/offline-client.ts) answers every request with.
 */
export class OfflineMissError extends HexproxyError {
  readonly code = 'offline_not_cached';
  readonly status = 504;
}

// Upstream failures after which a cached copy is still served, stale: upstream could not be
// asked (offline, or cooling down), did not answer in time, failed, or sent something too
// large or that does not verify, or the memory to check it ran out. Not when upstream says
// it has no such file (NotFoundError: the copy is dropped), nor when the cache itself fails
// (StorageError), nor on anything unforeseen.
const STALE_ALLOWED = [
  OfflineMissError,
  UpstreamUnavailableError,
  UpstreamTimeoutError,
  UpstreamTooLargeError,
  VerificationError,
  RegistryMemoryFullError,
] as const;

/** Whether a failed fetch from upstream still lets a cached copy be served (stale). */
export function allowsStale(error: unknown): error is HexproxyError {
  return STALE_ALLOWED.some((kind) => error instanceof kind);
}

/**
 * A build list (/installs/*.csv or its .signed file) that is not cached and cannot be
 * fetched now: hexproxy runs offline, or the builds server cannot be reached. Hex asks for
 * hex-1.x.csv on every run of a fresh Mix home (its update check), so this is a miss, not
 * a server fault: 404, not logged as a failure nor shown among the UI's recent errors.
 */
export class BuildListUnavailableError extends HexproxyError {
  readonly code = 'build_list_unavailable';
  readonly status = 404;
}

export class StorageError extends HexproxyError {
  readonly code = 'storage_failed';
  readonly status = 507;
}

export class ConfigError extends HexproxyError {
  readonly code = 'config_invalid';
  readonly status = 500;
}

/**
 * What is wrong with an upload, field by field, in the shape hex.pm answers and Mix prints:
 * `{ tar: "..." }`, or `{ version: "...", meta: { app: "..." }, requirements: { jason: "..." } }`.
 * A value is a message, or the messages of a field's parts.
 */
export interface ValidationErrors {
  readonly [field: string]: string | ValidationErrors;
}

/**
 * A package or docs tarball that fails validation (src/hosted/): nothing is stored. 422 with
 * `errors`, as hex.pm answers; `title` is hex.pm's `message` ("Validation error(s)"), while
 * `message` also spells every error out, for logs and plain-text answers.
 */
export class InvalidPackageError extends HexproxyError {
  readonly code = 'invalid_package';
  readonly status = 422;

  constructor(readonly errors: ValidationErrors) {
    super(`${VALIDATION_TITLE}: ${flattenValidationErrors(errors).join('; ')}`, { details: errors, title: VALIDATION_TITLE });
  }
}

/**
 * A retirement (POST …/releases/VERSION/retire) with an unknown reason or a message that is
 * not 3 to 140 characters: 422 with `errors`, as hex.pm answers; nothing changes.
 */
export class InvalidRetirementError extends HexproxyError {
  readonly code = 'invalid_retirement';
  readonly status = 422;

  constructor(readonly errors: ValidationErrors) {
    super(`${VALIDATION_TITLE}: ${flattenValidationErrors(errors).join('; ')}`, { details: errors, title: VALIDATION_TITLE });
  }
}

/** `["tar: ...", "meta.app: ...", "requirements.jason: ..."]`. */
export function flattenValidationErrors(errors: ValidationErrors, prefix = ''): string[] {
  return Object.entries(errors).flatMap(([field, value]) =>
    typeof value === 'string' ? [`${prefix}${field}: ${value}`] : flattenValidationErrors(value, `${prefix}${field}.`),
  );
}

// Hosted repositories (issue 17): what the store refuses a publish or revert for, given
// what it holds. 422, as hexpm answers (Mix prints the answer's `message` and `errors`);
// `field` is the key hexpm files the message under in `errors`.

/** The release exists and the publish did not ask to replace it. */
export class ReleaseExistsError extends HexproxyError {
  readonly code = 'release_exists';
  readonly status = 422;
  readonly field = 'inserted_at';

  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, details: { inserted_at: message }, title: VALIDATION_TITLE });
  }
}

/** The release is past its repository's replace window (hosted.NAME.replaceWindowSeconds): it may no longer be replaced or reverted. */
export class ReleaseLockedError extends HexproxyError {
  readonly code = 'release_locked';
  readonly status = 422;
  readonly field = 'inserted_at';

  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, details: { inserted_at: message }, title: VALIDATION_TITLE });
  }
}

/** Reverting the package's last release would remove a package other packages of the repository depend on. */
export class PackageDependedOnError extends HexproxyError {
  readonly code = 'package_depended_on';
  readonly status = 422;
  readonly field = 'name';

  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, details: { name: message }, title: VALIDATION_TITLE });
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
