// Hostile HTTP/1.x requests for hexproxy, generated from a seeded Random. Each case is the
// exact bytes to send, the methods and expectations of the requests in it, and how the
// client should behave (read every answer, or hang up early).
import type { Random } from './random.js';

/**
 * What a request may be answered with (any 5xx is always a failure; "or closed" means the
 * server may also hang up without answering, as Node does for what its parser rejects):
 * - ok: 200 or 304 (a resource the fake upstream has)
 * - not-found: 404
 * - unsafe-path: 400, as README promises for a raw path with a "." or ".." segment (plain
 *   or encoded), an encoded "/", a "\\", an encoded NUL, an empty segment or a control
 *   character; or closed
 * - hostile-path: a path with some other traversal token no Hex resource has: any 4xx, or closed
 * - refused: any 4xx, or closed (odd methods, control bytes)
 * - too-large: over Node's 16 KiB header limit: 400, 413, 414 or 431, or closed
 * - any: anything below 500
 */
export type Expectation = 'ok' | 'not-found' | 'unsafe-path' | 'hostile-path' | 'refused' | 'too-large' | 'any';

export interface FuzzCase {
  index: number;
  kind: string;
  chunks: Buffer[];
  methods: string[];
  /** One per request in `chunks`, in order. */
  expects: Expectation[];
  /** Stop reading after this many answers (fewer than the requests when framing is ambiguous). */
  expectedResponses: number;
  disconnect?: 'after-send' | 'after-first-byte';
  /** The server may legitimately keep waiting (e.g. half a request was sent, then nothing). */
  mayTimeOut?: boolean;
}

export interface FuzzTargets {
  /** Paths the fake upstream serves, answered 200. */
  ok: string[];
  /** Well-formed paths of things that do not exist, answered 404. */
  notFound: string[];
  /** Known package names and releases, to build paths from. */
  packages: string[];
  releases: { name: string; version: string }[];
  /** The Host header to send. */
  host: string;
}

type HeaderValue = string | Buffer;
type Header = readonly [string, HeaderValue];

interface RequestParts {
  method?: string;
  target: string | Buffer;
  version?: string;
  headers?: readonly Header[];
  body?: Buffer;
  /** The line ending; hostile cases use a bare "\n". */
  eol?: string;
}

export function buildRequest({ method = 'GET', target, version = 'HTTP/1.1', headers = [], body, eol = '\r\n' }: RequestParts): Buffer {
  const parts: Buffer[] = [Buffer.from(`${method} `, 'latin1'), typeof target === 'string' ? Buffer.from(target, 'latin1') : target];
  parts.push(Buffer.from(version === '' ? eol : ` ${version}${eol}`, 'latin1'));
  for (const [name, value] of headers) {
    parts.push(
      Buffer.from(`${name}:`, 'latin1'),
      typeof value === 'string' ? Buffer.from(value === '' ? '' : ` ${value}`, 'latin1') : Buffer.concat([Buffer.from(' '), value]),
      Buffer.from(eol),
    );
  }
  parts.push(Buffer.from(eol));
  if (body) parts.push(body);
  return Buffer.concat(parts);
}

// Tokens no Hex resource contains. "Documented" ones are those README promises a 400 for
// (a "." or ".." segment, an encoded "..", an encoded "/", a "\" plain or encoded, an
// encoded NUL, an empty segment); the classification of the final path decides, below.
const TRAVERSAL_TOKENS = [
  '..',
  '.',
  '%2e%2e',
  '%2E%2E',
  '%2e%2E',
  '.%2e',
  '%2e.',
  '%2E.',
  '%2e',
  '%2E',
  '..%2f',
  '..%2F',
  '%2f',
  '%2F',
  '%2f..%2f..%2f',
  '\\',
  '..\\',
  '..\\..\\',
  '%5c',
  '%5C',
  '%5c..%5c',
  '..%5c..%5c',
  '%00',
  '..%00',
  '%00..',
  '',
  '%252e%252e',
  '%252E%252E',
  '%252e%252e%252f',
  '..%252f',
  '%252f',
  '%255c',
  '%2500',
  '%25%32%65',
  '%c0%ae%c0%ae',
  '%c0%af',
  '%e0%80%ae%e0%80%ae',
  '%ef%bc%8e%ef%bc%8e',
  '%u002e%u002e',
  '%uff0e%uff0e',
  '..;',
  '..;a=b',
  '.;',
  '...',
  '....',
  '....//',
  '.../',
  '..%09',
  '..%20',
  '%20..',
  '..?',
];

// Where a traversal would like to end up: files next to and inside the data directory.
const DESTINATIONS = [
  'secret.txt',
  'hexproxy.db',
  'hexproxy.db-wal',
  'keys/hexproxy_private.pem',
  'etc/passwd',
  'data/secret.txt',
  'registry/hexpm/names',
];

// Characters the node adapter only accepts after a WHATWG URL parse, which resolves dot
// segments (including encoded ones) and so changes the path the router sees.
const URL_REPARSE_TRIGGERS = ['{', '}', '"', '<', '>', '^', '`', '|', '%7B', 'é', '\xff'];

// The raw-path checks README lists for 400 (before URL normalisation). A dot segment may be
// written "%2e" too, wholly or in part: WHATWG URL parsing (which the node adapter applies
// to any target with a "%" in it) resolves ".%2e", "%2e." and "%2e" like ".." and ".".
const DOCUMENTED_UNSAFE = /(^|\/)(\.|%2e){1,2}(\/|$)|%2e%2e|%00|%2f|%5c|\\|\/\/|[\u0000-\u001f\u007f]/i;

/** The expectation for a path with a hostile token in it, from the raw path alone. */
export function hostilePathExpectation(target: string): Expectation {
  const path = target.split('?')[0] ?? '';
  return DOCUMENTED_UNSAFE.test(path) ? 'unsafe-path' : 'hostile-path';
}

// Node counts the request target and every header name and value against its 16 KiB
// limit (not the method, version, separators or line ends). Near the limit, either answer.
const HEADER_LIMIT = 16_384;
function sizeExpectation(target: string, headers: readonly Header[], otherwise: Expectation): Expectation {
  const counted = headers.reduce((sum, [name, value]) => sum + name.length + value.length, target.length);
  if (counted > HEADER_LIMIT + 256) return 'too-large';
  if (counted > HEADER_LIMIT - 1024) return 'any';
  return otherwise;
}

const ODD_METHODS = [
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'TRACE',
  'CONNECT',
  'PROPFIND',
  'POST',
  'MKCOL',
  'COPY',
  'MOVE',
  'LOCK',
  'UNLOCK',
  'PURGE',
  'SEARCH',
  'REPORT',
  'LINK',
  'QUERY',
  'SOURCE',
  'M-SEARCH',
  'get',
  'Get',
  'HEAD ',
  'GET\t',
  'G',
  'GETX',
  'X'.repeat(64),
];
const TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~";

type CaseBody = Omit<FuzzCase, 'index' | 'kind'>;

// Kinds of random case and their weights; each is drawn hundreds of times in 10,000 cases.
const KIND_WEIGHTS = [
  [12, 'valid'],
  [22, 'traversal'],
  [6, 'encodedControl'],
  [6, 'rawControl'],
  [6, 'overlong'],
  [8, 'oddMethod'],
  [5, 'hugeHeader'],
  [4, 'manyHeaders'],
  [8, 'ifNoneMatch'],
  [6, 'disconnect'],
  [3, 'emptyTe'],
  [4, 'http10'],
  [6, 'pipeline'],
  [5, 'absoluteForm'],
  [4, 'chunkedGet'],
  [5, 'contentLength'],
  [3, 'hostHeader'],
  [2, 'requestId'],
  [3, 'junk'],
  [2, 'upgradeOrExpect'],
] as const;
type Kind = (typeof KIND_WEIGHTS)[number][1];
export const FUZZ_KINDS: readonly string[] = KIND_WEIGHTS.map(([, kind]) => kind);

export class FuzzCaseGenerator {
  private index = 0;
  private readonly kinds: Record<Kind, () => CaseBody> = {
    valid: () => this.valid(),
    traversal: () => this.traversal(),
    encodedControl: () => this.encodedControl(),
    rawControl: () => this.rawControl(),
    overlong: () => this.overlong(),
    oddMethod: () => this.oddMethod(),
    hugeHeader: () => this.hugeHeader(),
    manyHeaders: () => this.manyHeaders(),
    ifNoneMatch: () => this.ifNoneMatch(),
    disconnect: () => this.disconnect(),
    emptyTe: () => this.emptyTe(),
    http10: () => this.http10(),
    pipeline: () => this.pipeline(),
    absoluteForm: () => this.absoluteForm(),
    chunkedGet: () => this.chunkedGet(),
    contentLength: () => this.contentLength(),
    hostHeader: () => this.hostHeader(),
    requestId: () => this.requestId(),
    junk: () => this.junk(),
    upgradeOrExpect: () => this.upgradeOrExpect(),
  };

  constructor(
    private readonly random: Random,
    private readonly targets: FuzzTargets,
  ) {}

  /** A random case of a random kind. */
  next(): FuzzCase {
    const kind = this.random.weighted(KIND_WEIGHTS);
    return { index: this.index++, kind, ...this.kinds[kind]() };
  }

  // --- building blocks -------------------------------------------------------------------

  private headers(extra: readonly Header[] = [], close = this.random.chance(0.7)): Header[] {
    const headers: Header[] = [['Host', this.targets.host], ...extra];
    if (this.random.chance(0.2))
      headers.push(['User-Agent', this.random.pick(['hex/2.0.6 (elixir/1.15.0) (OTP/26.0)', 'rebar3/3.22.1', 'curl/8.0'])]);
    if (this.random.chance(0.1)) headers.push(['X-Fuzz-Marker', 'must-not-reach-upstream']);
    if (close) headers.push(['Connection', 'close']);
    return headers;
  }

  private single(request: RequestParts, expect: Expectation, extra: Partial<FuzzCase> = {}): CaseBody {
    const method = (request.method ?? 'GET').trim();
    const target = typeof request.target === 'string' ? request.target : request.target.toString('latin1');
    return {
      chunks: [buildRequest(request)],
      methods: [method],
      expects: [sizeExpectation(target, request.headers ?? [], expect)],
      expectedResponses: 1,
      ...extra,
    };
  }

  private validTarget(): { target: string; expect: Expectation } {
    const r = this.random;
    return r.chance(0.8) ? { target: r.pick(this.targets.ok), expect: 'ok' } : { target: r.pick(this.targets.notFound), expect: 'not-found' };
  }

  private release(): { name: string; version: string } {
    return this.random.pick(this.targets.releases);
  }

  /** A path with hostile tokens in one or more segments, and what it may be answered with. */
  /** The segments of every route, and a few near misses, for a release. */
  private static templates(name: string, version: string): string[][] {
    return [
      ['packages', name],
      ['tarballs', `${name}-${version}.tar`],
      ['docs', `${name}-${version}.tar.gz`],
      ['installs', 'hex-1.x.csv'],
      ['installs', 'a', 'b', 'hex-1.x.csv'],
      ['names'],
      ['versions'],
      ['public_key'],
      ['healthz'],
      ['packages', name, 'x'],
      ['tarballs', name, `${name}-${version}.tar`],
      [],
    ];
  }

  /**
   * Every traversal token in every segment of every route: replacing each segment, and
   * inserted before each one and at the end. Deterministic; run before the random cases.
   */
  sweep(): FuzzCase[] {
    const { name, version } = this.targets.releases[0] ?? { name: 'alpha', version: '1.0.0' };
    const cases: FuzzCase[] = [];
    for (const segments of FuzzCaseGenerator.templates(name, version)) {
      for (const token of TRAVERSAL_TOKENS) {
        const paths = new Set<string>();
        for (let i = 0; i <= segments.length; i++) {
          paths.add(`/${[...segments.slice(0, i), token, ...segments.slice(i)].join('/')}`);
          if (i < segments.length) paths.add(`/${[...segments.slice(0, i), token, ...segments.slice(i + 1)].join('/')}`);
        }
        for (const target of paths) {
          const request = buildRequest({
            target,
            headers: [
              ['Host', this.targets.host],
              ['Connection', 'close'],
            ],
          });
          cases.push({
            index: this.index++,
            kind: 'traversalSweep',
            chunks: [request],
            methods: ['GET'],
            expects: [hostilePathExpectation(target)],
            expectedResponses: 1,
          });
        }
      }
    }
    return cases;
  }

  private hostilePath(): string {
    const r = this.random;
    const { name, version } = this.release();
    const segments = [...r.pick(FuzzCaseGenerator.templates(name, version))];
    const insertions = r.int(1, 3);
    for (let i = 0; i < insertions; i++) {
      let token = r.pick(TRAVERSAL_TOKENS);
      if (r.chance(0.3)) token = `${token}/${r.pick(DESTINATIONS)}`;
      const position = r.int(0, segments.length);
      const mode = r.int(0, 3);
      if (mode === 0 || segments.length === 0 || position === segments.length) segments.splice(position, 0, token);
      else if (mode === 1) segments[position] = token;
      else if (/[%\\]/.test(token)) segments[position] = mode === 2 ? `${segments[position] ?? ''}${token}` : `${token}${segments[position] ?? ''}`;
      else segments.splice(position, 0, token);
    }
    let path = `/${segments.join('/')}`;
    if (r.chance(0.05)) path = path.replace(/\//g, r.pick(['\\', '%2f', '%5c']));
    if (r.chance(0.25)) path += `?${r.pick(URL_REPARSE_TRIGGERS)}${r.chance(0.5) ? '=../../secret.txt' : ''}`;
    else if (r.chance(0.15)) path = path.replace(/\/([^/]*)$/, `/$1${r.pick(URL_REPARSE_TRIGGERS)}`);
    if (r.chance(0.05)) path += '#../../secret.txt';
    return path;
  }

  // --- the kinds -------------------------------------------------------------------------

  private valid(): CaseBody {
    const r = this.random;
    const { target, expect } = this.validTarget();
    const query = r.chance(0.15) ? `?${r.pick(['x=1', 'a=../../secret.txt', '%2e%2e', 'q=%00', ''])}` : '';
    return this.single({ method: r.chance(0.25) ? 'HEAD' : 'GET', target: `${target}${query}`, headers: this.headers() }, expect);
  }

  private traversal(): CaseBody {
    const r = this.random;
    const target = this.hostilePath();
    return this.single({ method: r.chance(0.2) ? 'HEAD' : 'GET', target, headers: this.headers() }, hostilePathExpectation(target));
  }

  private encodedControl(): CaseBody {
    const r = this.random;
    const code = r.chance(0.3) ? 0 : r.pick([...Array.from({ length: 32 }, (_, i) => i), 0x7f]);
    const encoded = `%${code.toString(16).padStart(2, '0')}`;
    const { name, version } = this.release();
    const target = r.pick([
      `/packages/${name}${encoded}`,
      `/packages/${encoded}${name}`,
      `/tarballs/${name}-${version}.tar${encoded}`,
      `/tarballs/${name}-${version}${encoded}.tar`,
      `/docs/${name}${encoded}-${version}.tar.gz`,
      `/installs/hex-1.x.csv${encoded}`,
      `/installs/${encoded}/hex-1.x.csv`,
      `/${encoded}/names`,
      `/names${encoded}`,
      `/packages/${encoded}`,
    ]);
    // README promises 400 for an encoded NUL; other encoded control characters are at least refused.
    const expect: Expectation = code === 0 ? 'unsafe-path' : 'hostile-path';
    return this.single({ method: r.pick(['GET', 'HEAD']), target, headers: this.headers() }, expect);
  }

  private rawControl(): CaseBody {
    const r = this.random;
    const byte = Buffer.from([r.chance(0.3) ? 0 : r.pick([...Array.from({ length: 32 }, (_, i) => i), 0x7f])]);
    const { target } = this.validTarget();
    const where = r.int(0, 3);
    if (where === 0) {
      const cut = r.int(1, target.length);
      return this.single(
        { target: Buffer.concat([Buffer.from(target.slice(0, cut)), byte, Buffer.from(target.slice(cut))]), headers: this.headers() },
        'unsafe-path',
      );
    }
    if (where === 1)
      return this.single({ target, headers: this.headers([['X-Evil', Buffer.concat([Buffer.from('a'), byte, Buffer.from('b')])]]) }, 'any');
    if (where === 2) return this.single({ target, headers: this.headers([[`X-Ev${byte.toString('latin1')}il`, 'x']]) }, 'any');
    return this.single({ target, headers: this.headers([['If-None-Match', Buffer.concat([Buffer.from('"'), byte, Buffer.from('"')])]]) }, 'any');
  }

  private overlong(): CaseBody {
    const r = this.random;
    const length = r.pick([64, 128, 129, 200, 256, 257, 1000, 4000, 8000, 15_000, 17_000, 40_000]);
    const { name, version } = this.release();
    const longName = `a${r.string('abcdefghijklmnopqrstuvwxyz0123456789_', length - 1)}`;
    const longVersion = r.pick([
      () => `1.0.0-${r.string('abcdefghij0123456789', length)}`,
      () => `1.0.0+${r.string('abcdefghij0123456789', length)}`,
      () => `1.0.0-${Array.from({ length: Math.max(1, length >> 1) }, () => 'a').join('.')}`,
      () => `${'9'.repeat(length)}.0.0`,
    ])();
    const choice = r.int(0, 4);
    let target: string;
    let expect: Expectation;
    // Names are at most 128 characters, versions too, installs paths 256: longer ones are refused.
    if (choice === 0) {
      target = `/packages/${longName}`;
      expect = length <= 128 ? 'not-found' : 'refused';
    } else if (choice === 1) {
      target = `/tarballs/${name}-${longVersion}.tar`;
      expect = longVersion.length <= 128 ? 'not-found' : 'refused';
    } else if (choice === 2) {
      target = `/docs/${longName}-${version}.tar.gz`;
      expect = length <= 128 ? 'not-found' : 'refused';
    } else if (choice === 3) {
      target = `/installs/${r.string('abcdefghijklmnopqrstuvwxyz', length)}.csv`;
      expect = length + 4 <= 256 ? 'not-found' : 'refused';
    } else {
      // Random slashes make empty segments: refused or not found.
      target = `/${r.string('abcdefghijklmnopqrstuvwxyz/', length)}`;
      expect = 'any';
    }
    return this.single({ method: r.pick(['GET', 'HEAD']), target, headers: this.headers() }, expect);
  }

  private oddMethod(): CaseBody {
    const r = this.random;
    const method = r.chance(0.8) ? r.pick(ODD_METHODS) : r.string(TOKEN_CHARS, r.int(1, 24));
    const target = r.chance(0.7) ? this.validTarget().target : this.hostilePath();
    const body = r.chance(0.4) ? r.bytes(r.int(0, 2000)) : undefined;
    const extra: Header[] = body ? [['Content-Length', String(body.length)]] : [];
    // GET and HEAD are the only methods served; a random token may happen to be one.
    // Node's parser is lenient about the whitespace after a method.
    const expect: Expectation = method.trim() === 'GET' || method.trim() === 'HEAD' ? 'any' : 'refused';
    // CONNECT takes an authority, not a path; Node closes it without an answer.
    return this.single(
      {
        method,
        target: method === 'CONNECT' && r.chance(0.5) ? 'evil.example:443' : target,
        headers: this.headers(extra),
        ...(body ? { body } : {}),
      },
      expect,
    );
  }

  private hugeHeader(): CaseBody {
    const r = this.random;
    const size = r.pick([4000, 8000, 15_000, 16_000, 16_300, 16_384, 16_500, 20_000, 65_536, 300_000]);
    const name = r.pick(['X-Huge', 'Cookie', 'If-None-Match', 'User-Agent', 'Accept']);
    const value =
      name === 'If-None-Match'
        ? Array.from({ length: Math.ceil(size / 12) }, () => `"${r.string('0123456789abcdef', 8)}"`)
            .join(', ')
            .slice(0, size)
        : r.string(TOKEN_CHARS, size);
    const { target, expect } = this.validTarget();
    return this.single({ target, headers: this.headers([[name, value]]) }, expect);
  }

  private manyHeaders(): CaseBody {
    const r = this.random;
    const count = r.pick([50, 100, 500, 1000, 2000, 2500, 5000]);
    const repeat = r.chance(0.3) ? r.pick(['If-None-Match', 'Host', 'Content-Length', 'Transfer-Encoding', 'X-Request-Id', 'Te']) : undefined;
    const headers: Header[] = Array.from({ length: count }, (_, i) => [
      repeat ?? `X-H${i}`,
      repeat === 'Content-Length' ? '0' : repeat === 'Transfer-Encoding' ? 'identity' : repeat === 'Host' ? this.targets.host : `${i}`,
    ]);
    const { target, expect } = this.validTarget();
    // Repeated framing or Host headers may be refused; repeated others change nothing.
    const framing = repeat === 'Transfer-Encoding' || repeat === 'Content-Length' || repeat === 'Host';
    return this.single({ target, headers: this.headers(headers) }, framing ? 'any' : expect);
  }

  private ifNoneMatch(): CaseBody {
    const r = this.random;
    const tag = (): string => `"${r.string('0123456789abcdef', r.int(0, 64))}"`;
    const value: HeaderValue = r.pick<() => HeaderValue>([
      () => '"unbalanced',
      () => 'unbalanced"',
      () => '"',
      () => '""',
      () => '"""',
      () => 'W/',
      () => 'W/"',
      () => 'W/""',
      () => 'w/"x"',
      () => 'W/W/"x"',
      () => '*',
      () => '*, "x"',
      () => ' * ',
      () => ',',
      () => ',,,,',
      () => ', ,',
      () => 'W/*',
      () => '"a" "b"',
      () => '"a",W/',
      () => Array.from({ length: r.int(10, 1200) }, tag).join(','),
      () => Array.from({ length: r.int(10, 3000) }, () => ',').join(''),
      () => Array.from({ length: r.int(10, 1000) }, () => 'W/"x"').join(', '),
      () => Buffer.concat([Buffer.from('"'), Buffer.from(Array.from({ length: r.int(1, 200) }, () => r.int(0x80, 0xff))), Buffer.from('"')]),
      () =>
        Buffer.from(
          Array.from({ length: r.int(1, 200) }, () =>
            r.pick([0x09, ...Array.from({ length: 95 }, (_, i) => i + 0x20), ...Array.from({ length: 128 }, (_, i) => i + 0x80)]),
          ),
        ),
      () => Buffer.from('"\xe2\x80\xae"', 'latin1'),
      () => `${tag()}`,
    ])();
    const { target, expect } = this.validTarget();
    // If-None-Match never makes a response an error: 200 or 304 for a resource, 404 for none.
    return this.single({ method: r.pick(['GET', 'HEAD']), target, headers: this.headers([['If-None-Match', value]]) }, expect);
  }

  private disconnect(): CaseBody {
    const r = this.random;
    const { target } = r.chance(0.7) ? this.validTarget() : { target: this.hostilePath() };
    const full = buildRequest({ target, headers: this.headers([], false) });
    const mode = r.int(0, 2);
    if (mode === 0) {
      // Half a request line (or half the headers), then hang up.
      const cut = r.int(1, full.length - 1);
      return { chunks: [full.subarray(0, cut)], methods: ['GET'], expects: ['any'], expectedResponses: 1, disconnect: 'after-send' };
    }
    if (mode === 1) return { chunks: [full], methods: ['GET'], expects: ['any'], expectedResponses: 1, disconnect: 'after-send' };
    // A whole request, then hang up on the first byte of a (possibly streamed) answer.
    const { name, version } = this.release();
    const tarball = buildRequest({ target: r.pick([`/tarballs/${name}-${version}.tar`, target]), headers: this.headers([], false) });
    return { chunks: [tarball], methods: ['GET'], expects: ['any'], expectedResponses: 1, disconnect: 'after-first-byte' };
  }

  private emptyTe(): CaseBody {
    const r = this.random;
    const { target, expect } = this.validTarget();
    // Erlang's httpc sends "te: " with nothing after it.
    const te: Header = r.pick<Header>([
      ['te', ''],
      ['TE', ''],
      ['te', 'trailers'],
      ['Te', ' '],
      ['te', 'trailers, deflate;q=0.5'],
      ['te', ','],
    ]);
    return this.single({ method: r.pick(['GET', 'HEAD']), target, headers: this.headers([te]) }, expect);
  }

  private http10(): CaseBody {
    const r = this.random;
    const { target, expect } = this.validTarget();
    const variant = r.int(0, 5);
    if (variant === 0) return this.single({ target, version: 'HTTP/1.0' }, expect);
    if (variant === 1) return this.single({ target, version: 'HTTP/1.0', headers: [['Host', this.targets.host]] }, expect);
    if (variant === 2) return this.single({ method: 'HEAD', target, version: 'HTTP/1.0', headers: [['Connection', 'keep-alive']] }, expect);
    if (variant === 3) return { ...this.single({ target, version: '' }, 'any'), mayTimeOut: true }; // HTTP/0.9 style: no version
    if (variant === 4)
      return this.single(
        {
          target,
          version: r.pick(['HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTP/9.9', 'http/1.1', 'HTTP/1', 'HTTP/1.1.1', 'HTTPS/1.1', 'HTTP/11']),
          headers: this.headers(),
        },
        'any',
      );
    return this.single({ target, headers: this.headers(), eol: '\n' }, 'any');
  }

  private pipeline(): CaseBody {
    const r = this.random;
    const count = r.int(2, 8);
    const requests: Buffer[] = [];
    const methods: string[] = [];
    const expects: Expectation[] = [];
    for (let i = 0; i < count; i++) {
      const last = i === count - 1;
      const method = r.chance(0.2) ? 'HEAD' : 'GET';
      const hostile = r.chance(0.35);
      const { target, expect } = hostile
        ? (() => {
            const t = this.hostilePath();
            return { target: t, expect: hostilePathExpectation(t) };
          })()
        : this.validTarget();
      requests.push(buildRequest({ method, target, headers: this.headers(r.chance(0.2) ? [['te', '']] : [], last && r.chance(0.5)) }));
      methods.push(method);
      expects.push(expect);
    }
    // All at once, or split at random places across several writes.
    const joined = Buffer.concat(requests);
    const chunks = r.chance(0.5)
      ? [joined]
      : splitAt(
          joined,
          Array.from({ length: r.int(1, 5) }, () => r.int(1, joined.length - 1)),
        );
    return { chunks, methods, expects, expectedResponses: count };
  }

  private absoluteForm(): CaseBody {
    const r = this.random;
    const valid = this.validTarget();
    const hostile = this.hostilePath();
    const options: [string, Expectation][] = [
      [`http://evil${valid.target}`, 'any'],
      [`http://evil.example:8080${valid.target}`, 'any'],
      [`https://evil${valid.target}`, 'any'],
      [`HTTP://EVIL${valid.target}`, 'any'],
      [`http://user:pass@evil${valid.target}`, 'any'],
      [`http://[::1]${valid.target}`, 'any'],
      [`http://evil${hostile}`, hostilePathExpectation(hostile)],
      [`http://evil`, 'any'],
      [`http://evil?x=1`, 'any'],
      [`http://evil/../../secret.txt`, 'unsafe-path'],
      [`http://evil/%2e%2e/%2e%2e/secret.txt`, 'unsafe-path'],
      [`http://evil\\..\\secret.txt`, 'hostile-path'],
      [`ftp://evil${valid.target}`, 'any'],
      [`http:${valid.target}`, 'any'],
      [`//evil${valid.target}`, 'any'],
      [`*`, 'hostile-path'],
      [`evil.example:443`, 'refused'],
      [`http://evil:99999${valid.target}`, 'any'],
      [`http://ev il${valid.target}`, 'any'],
      [`file:///etc/passwd`, 'hostile-path'],
      [`http://127.0.0.1:1/names`, 'any'],
      [`http://evil/names/..`, 'unsafe-path'],
      [`http://evil/x/.%2e/names`, 'unsafe-path'],
    ];
    const [target, expect] = r.pick(options);
    return this.single({ method: r.pick(['GET', 'HEAD']), target, headers: this.headers() }, expect);
  }

  private chunkedGet(): CaseBody {
    const r = this.random;
    const { target } = this.validTarget();
    const payload = r.bytes(r.int(0, 3000));
    const body = r.pick<() => Buffer>([
      () => Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]),
      () => Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n')]), // no last chunk
      () => Buffer.from('zz\r\nhello\r\n0\r\n\r\n'),
      () => Buffer.from('ffffffffffffffffffff\r\nx'),
      () => Buffer.from('5;ext="a"\r\nhello\r\n0\r\nTrailer: x\r\n\r\n'),
      () => Buffer.from('-1\r\nx\r\n0\r\n\r\n'),
      () => Buffer.concat([Buffer.from('3\r\n'), payload, Buffer.from('\r\n0\r\n\r\n')]), // size lies
      () => Buffer.from('0\r\n\r\nGET /names HTTP/1.1\r\nHost: x\r\n\r\n'), // a smuggled second request
    ])();
    const te = r.pick(['chunked', 'Chunked', 'gzip, chunked', 'chunked, identity', 'identity', ' chunked', 'chunked\t', 'xchunked']);
    const extra: Header[] = [['Transfer-Encoding', te]];
    if (r.chance(0.2)) extra.push(['Content-Length', String(body.length)]);
    return this.single({ target, headers: this.headers(extra), body }, 'any');
  }

  private contentLength(): CaseBody {
    const r = this.random;
    const { target } = this.validTarget();
    const body = r.bytes(r.int(0, 500));
    const declared = r.pick<() => string>([
      () => String(body.length + r.int(1, 10_000)),
      () => String(Math.max(0, body.length - r.int(1, 50))),
      () => '-1',
      () => 'abc',
      () => '1e3',
      () => '0x10',
      () => ' 5',
      () => '5, 6',
      () => '99999999999999999999999',
      () => '',
      () => '+5',
      () => String(body.length),
    ])();
    const extra: Header[] = [['Content-Length', declared]];
    if (r.chance(0.2)) extra.push(['Content-Length', String(body.length + 1)]);
    return this.single({ method: r.pick(['GET', 'HEAD', 'POST']), target, headers: this.headers(extra), body }, 'any');
  }

  private hostHeader(): CaseBody {
    const r = this.random;
    const { target } = this.validTarget();
    const host = r.pick([
      '',
      'evil',
      'evil:99999',
      'evil/../..',
      'evil@127.0.0.1',
      '[::1',
      'a'.repeat(2000),
      'ev il',
      'évil',
      '127.0.0.1:0',
      'localhost:abc',
      '%2e%2e',
      '..',
      'evil\\x',
      'evil?x',
      'evil#x',
    ]);
    const headers: Header[] = r.chance(0.2)
      ? [
          ['Host', host],
          ['Host', 'second'],
        ]
      : [['Host', host]];
    if (r.chance(0.5)) headers.push(['Connection', 'close']);
    return this.single({ target, headers }, 'any');
  }

  private requestId(): CaseBody {
    const r = this.random;
    const { target, expect } = this.validTarget();
    const id = r.pick([
      '',
      'a'.repeat(65),
      'a'.repeat(64),
      'x y',
      '<script>',
      '../../x',
      'ok-id.1:2',
      Buffer.from([0xc3, 0xa9]).toString('latin1'),
      '"quoted"',
      'a,b',
    ]);
    return this.single({ target, headers: this.headers([['X-Request-Id', id]]) }, expect);
  }

  private junk(): CaseBody {
    const r = this.random;
    const variant = r.int(0, 4);
    let bytes: Buffer;
    if (variant === 0) bytes = r.bytes(r.int(1, 4000));
    else if (variant === 1) bytes = Buffer.from(r.string(TOKEN_CHARS + ' /:\r\n', r.int(1, 2000)), 'latin1');
    else if (variant === 2) bytes = Buffer.from(`GET/names HTTP/1.1\r\nHost: x\r\n\r\n`);
    else if (variant === 3) bytes = Buffer.from(`GET  /names  HTTP/1.1\r\nHost: x\r\n\r\n`);
    else bytes = Buffer.from(`\r\n\r\n\r\nGET /names HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    return { chunks: [bytes], methods: ['GET'], expects: ['any'], expectedResponses: 1, mayTimeOut: true };
  }

  private upgradeOrExpect(): CaseBody {
    const r = this.random;
    const { target, expect } = this.validTarget();
    const headers = r.pick<Header[]>([
      [
        ['Connection', 'Upgrade'],
        ['Upgrade', 'websocket'],
      ],
      [
        ['Connection', 'Upgrade, HTTP2-Settings'],
        ['Upgrade', 'h2c'],
        ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA'],
      ],
      [['Expect', '100-continue']],
      [['Expect', 'something-else']],
      [['Upgrade', 'websocket']],
    ]);
    return this.single(
      { target, headers: this.headers(headers) },
      headers.some(([name]) => name === 'Expect' || name === 'Connection') ? 'any' : expect,
    );
  }
}

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const sorted = [...new Set(cuts)].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const cut of sorted) {
    out.push(bytes.subarray(start, cut));
    start = cut;
  }
  out.push(bytes.subarray(start));
  return out;
}
