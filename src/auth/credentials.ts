// The secret a client presents. Mix sends its key as the raw `authorization` value
// (--auth-key), rebar3 its repo_key the same way; HTTP basic auth in a repo URL
// (http://user:TOKEN@host) and "Bearer TOKEN" work too.
export function secretFrom(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const value = authorization.trim();
  if (value === '') return undefined;
  const space = value.indexOf(' ');
  const scheme = space < 0 ? '' : value.slice(0, space).toLowerCase();
  if (scheme === 'bearer') return value.slice(space + 1).trim() || undefined;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value.slice(space + 1).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // The token may be given as the password (any user name) or as the user name alone.
    const secret = colon < 0 ? decoded : decoded.slice(colon + 1) || decoded.slice(0, colon);
    return secret || undefined;
  }
  return value;
}
