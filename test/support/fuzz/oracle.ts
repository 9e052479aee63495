// Judges what hexproxy answered to a fuzz case, and lists what it left on disk.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { header, printable, type ExchangeOutcome, type RawResponse } from './client.js';
import type { Expectation, FuzzCase } from './requests.js';

export type ProblemKind =
  | 'server-error' // a 5xx, though upstream is healthy
  | 'malformed' // bytes that are not an HTTP/1.x response
  | 'truncated' // the server closed in the middle of a response
  | 'hang' // no answer and no close within the client's timeout
  | 'unanswered' // a valid request got no answer
  | 'leak' // a canary, the SQLite header or a private key in a response
  | 'unsafe-path-served' // a path with a traversal token answered 2xx or 3xx
  | 'unsafe-path-not-400' // README promises 400 for this raw path; another 4xx came
  | 'unexpected-status' // another status than the expectation allows
  | 'request-id'; // an x-request-id that is not the sane shape

export interface Problem {
  kind: ProblemKind;
  detail: string;
  /** Reproduce with FUZZ_SEED=<seed>; the case index and bytes sent. */
  caseIndex: number;
  caseKind: string;
  request: string;
}

export interface Markers {
  /** Byte strings that must never appear in anything hexproxy sends. */
  secrets: string[];
}

const SANE_REQUEST_ID = /^[\w.:-]{1,64}$/;

function allows(expect: Expectation, status: number): boolean {
  switch (expect) {
    case 'ok':
      return status === 200 || status === 304;
    case 'not-found':
      return status === 404;
    case 'unsafe-path':
      return status === 400 || status === 414 || status === 431;
    case 'too-large':
      return status === 400 || status === 413 || status === 414 || status === 431;
    case 'hostile-path':
    case 'refused':
      return status >= 400 && status < 500;
    case 'any':
      return status < 500;
  }
}

// Node's own answer to what its parser rejects: no x-request-id (hexproxy sets one on every
// answer it makes), then the connection closes. With pipelining, Node sends it as soon as it
// parses the bad request, before the answers to the good requests ahead of it, which are lost.
const NODE_REJECTIONS = new Set([400, 408, 413, 414, 431, 505]);
const isNodeRejection = (response: RawResponse): boolean => NODE_REJECTIONS.has(response.status) && header(response, 'x-request-id') === undefined;

export function judge(fuzzCase: FuzzCase, outcome: ExchangeOutcome, markers: Markers): Problem[] {
  const problems: Problem[] = [];
  const request = printable(Buffer.concat(fuzzCase.chunks), 240);
  const add = (kind: ProblemKind, detail: string): void => {
    problems.push({ kind, detail, caseIndex: fuzzCase.index, caseKind: fuzzCase.kind, request });
  };
  const text = outcome.raw.toString('latin1');
  for (const secret of markers.secrets) if (text.includes(secret)) add('leak', `the response contains ${JSON.stringify(secret)}`);

  const { parsed } = outcome;
  const hungUpOurselves = fuzzCase.disconnect !== undefined;
  if (parsed.malformed !== undefined) add('malformed', `${parsed.malformed}; received ${printable(outcome.raw, 200)}`);
  // Something in the case is not a plain valid request, so Node may reject the connection.
  const hostile = fuzzCase.expects.some((e) => e !== 'ok' && e !== 'not-found');
  let rejected = false;
  for (const [i, response] of parsed.responses.entries()) {
    if (response.status >= 500) add('server-error', `${response.statusLine} (${printable(response.body, 200)})`);
    const id = header(response, 'x-request-id');
    if (id !== undefined && !SANE_REQUEST_ID.test(id)) add('request-id', `x-request-id ${printable(id)}`);
    if (hungUpOurselves || rejected) continue;
    if (hostile && fuzzCase.expects.length > 1 && isNodeRejection(response)) {
      rejected = true;
      continue;
    }
    const expect = fuzzCase.expects[i] ?? 'any';
    if (!allows(expect, response.status)) {
      const pathExpectation = expect === 'unsafe-path' || expect === 'hostile-path';
      const kind: ProblemKind =
        pathExpectation && response.status < 400
          ? 'unsafe-path-served'
          : expect === 'unsafe-path' && response.status < 500
            ? 'unsafe-path-not-400'
            : 'unexpected-status';
      add(kind, `request ${i + 1} of ${fuzzCase.expects.length}: expected ${expect}, got ${response.statusLine} (${printable(response.body, 160)})`);
    }
  }
  if (hungUpOurselves || rejected || parsed.malformed !== undefined) return problems;

  const answered = parsed.responses.length;
  if (parsed.incomplete.length > 0 && outcome.closedByServer && !outcome.reset) {
    add('truncated', `the connection closed after ${parsed.incomplete.length} bytes of a response: ${printable(parsed.incomplete, 120)}`);
  }
  if (outcome.timedOut && !fuzzCase.mayTimeOut && answered < fuzzCase.expectedResponses) {
    add('hang', `${answered} of ${fuzzCase.expectedResponses} answers, then nothing for the client's timeout (${Math.round(outcome.ms)} ms in all)`);
  }
  // A request that must be served got no answer, though nothing before it could have made the server hang up.
  const firstUnanswered = fuzzCase.expects[answered];
  const earlierAllValid = fuzzCase.expects.slice(0, answered).every((e) => e === 'ok' || e === 'not-found');
  // Node's parser hangs up on a malformed request later in a pipeline, dropping answers
  // still pending before it; it writes its own 400 first only if nothing was written yet
  // (answers served from memory are written at once, so often something was).
  const hostileLater = fuzzCase.expects.slice(answered + 1).some((e) => e !== 'ok' && e !== 'not-found');
  if (
    !outcome.timedOut &&
    (firstUnanswered === 'ok' || firstUnanswered === 'not-found') &&
    earlierAllValid &&
    !hostileLater &&
    answered < fuzzCase.expectedResponses
  ) {
    add('unanswered', `request ${answered + 1} (expected ${firstUnanswered}) got no answer; the connection closed${outcome.reset ? ' (reset)' : ''}`);
  }
  return problems;
}

/** Every file and directory under `root`, as "a/b/c" paths relative to it, sorted. */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = prefix ? `${prefix}/${entry.name}` : entry.name;
      out.push(entry.isDirectory() ? `${path}/` : path);
      if (entry.isDirectory()) walk(join(dir, entry.name), path);
    }
  };
  walk(root, '');
  return out.sort();
}

/**
 * The data directory layout README documents, for a repository and the packages, releases
 * and installs files the fake upstream has; anything else is a stray file.
 */
export function dataDirLayout(repository: string, releases: readonly { name: string; version: string }[], installs: readonly string[]): RegExp[] {
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const names = [...new Set(releases.map((r) => r.name))].map(escape).join('|');
  const tarballs = releases.map((r) => `${escape(r.name)}/${escape(r.name)}-${escape(r.version)}\\.tar`).join('|');
  const docs = releases.map((r) => `${escape(r.name)}-${escape(r.version)}\\.tar\\.gz`).join('|');
  const repo = escape(repository);
  return [
    /^hexproxy\.db(-wal|-shm|-journal)?$/,
    /^keys\/(hexproxy_private\.pem|hexproxy_public\.pem)?$/,
    new RegExp(`^registry/(${repo}/((names|versions)|packages/((${names}))?)?)?$`),
    new RegExp(`^tarballs/(${repo}/((${names})/|${tarballs})?)?$`),
    new RegExp(`^passthrough/((docs/(${docs})?)|(installs/(${installs.map(escape).join('|')})?))?$`),
    /^\.tmp\/$/,
    // Documented for what `cache verify` finds bad; a fuzz run must put nothing in it.
    /^quarantine\/$/,
  ];
}
