// Answering the Hex HTTP API: Erlang terms (application/vnd.hex+erlang) for the clients that
// ask for them (Mix, rebar3_hex and hex_core send `accept: application/vnd.hex+erlang` and
// crash on anything else), JSON for everyone else (curl, browsers, scripts).
import { encodeTerm, type Term } from './etf.js';

export const HEX_ERLANG_TYPE = 'application/vnd.hex+erlang';
export const HEX_JSON_TYPE = 'application/json; charset=utf-8';

/** How a Hex API answer is written. */
export type HexFormat = 'erlang' | 'json';

/** Erlang terms when the client names application/vnd.hex+erlang (with a q above 0), else JSON. */
export function hexFormat(accept: string | undefined): HexFormat {
  if (accept === undefined) return 'json';
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    if (type !== HEX_ERLANG_TYPE) continue;
    const q = params.find((param) => param.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return 'erlang';
  }
  return 'json';
}

export const contentTypeOf = (format: HexFormat): string => (format === 'erlang' ? HEX_ERLANG_TYPE : HEX_JSON_TYPE);

/** `value` in `format`: ETF, or JSON (bigints as numbers where exact, else strings; bytes as base64). */
export function encodeHex(value: Term, format: HexFormat): Buffer {
  if (format === 'erlang') return encodeTerm(value);
  return Buffer.from(
    JSON.stringify(value, (_key, item: unknown) => {
      if (typeof item === 'bigint') return Number.isSafeInteger(Number(item)) ? Number(item) : item.toString();
      if (item instanceof Uint8Array) return Buffer.from(item).toString('base64');
      return item;
    }),
  );
}

/**
 * A Hex API answer: `value` in `format` (hexFormat of the client's Accept). Not stored by
 * shared caches unless `headers` say otherwise.
 */
export function hexResponse(format: HexFormat, value: Term, status = 200, headers: Record<string, string> = {}): Response {
  const body = encodeHex(value, format);
  return new Response(body as Uint8Array<ArrayBuffer>, {
    status,
    headers: {
      'content-type': contentTypeOf(format),
      'content-length': String(body.length),
      'cache-control': 'no-store',
      vary: 'accept',
      ...headers,
    },
  });
}

/** An error as hexpm writes one: `%{"status" => N, "message" => "...", "errors" => ...}` (errors only when there are some). */
export function hexErrorBody(status: number, message: string, errors?: Term): Term {
  return { status, message, ...(errors !== undefined && { errors }) };
}
