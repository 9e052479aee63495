// The commands and config entries that point Mix and rebar3 at hexproxy. One source for the
// web UI's Set me up page, the start-up banner and README (test/unit/readme-snippets.test.ts
// holds README to them); the tests run them as printed with the real clients
// (test/integration/client-setup.test.ts and friends). Pure functions of the base URL.

/** The shell variable the commands read a hexproxy token from. */
export const TOKEN_VARIABLE = 'HEXPROXY_TOKEN';
/** Where a token goes in a file a shell does not expand (rebar.config). */
export const TOKEN_PLACEHOLDER = 'YOUR_HEXPROXY_TOKEN';
/** The user name of a token sent as basic auth (hexproxy ignores it; the token is the password). */
export const TOKEN_USER = 'hexproxy';

/** The authority of a base URL as written (URL would lower-case it; Hex matches netrc hosts as the URL spells them). */
function authorityOf(baseUrl: string): string {
  return baseUrl
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/[/?#].*$/, '')
    .replace(/^.*@/, '');
}

/** The host name of a base URL, as a netrc file names it (no port, no brackets). */
export function hostOf(baseUrl: string): string {
  const authority = authorityOf(baseUrl);
  const bracketed = /^\[([^\]]*)\]/.exec(authority);
  return bracketed?.[1] ?? authority.replace(/:\d*$/, '');
}

/** The base URL with the token as basic auth, read from $HEXPROXY_TOKEN by the shell. */
export function withTokenInUrl(baseUrl: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(baseUrl)?.[0] ?? 'http://';
  return `${scheme}${TOKEN_USER}:$${TOKEN_VARIABLE}@${authorityOf(baseUrl)}`;
}

export const keyDownload = (baseUrl: string): string => `curl -fsSo hexproxy.pem ${baseUrl}/public_key`;

export const keyFingerprint = 'openssl pkey -pubin -in hexproxy.pem -outform DER | sha256sum';

/** Mix: the repository `hexpm` at hexproxy, verified with hexproxy's key; with a token, which Hex must not exchange at hex.pm. */
export function mixRepoSet(baseUrl: string, repository: string, token: boolean): string {
  const set = `mix hex.repo set ${repository} --url ${baseUrl} --public-key hexproxy.pem`;
  return token ? `${set} \\\n  --auth-key "$${TOKEN_VARIABLE}" --no-oauth-exchange` : set;
}

/** Mix: download hexproxy's key and set the repository. */
export const mixSetup = (baseUrl: string, repository: string): string => `${keyDownload(baseUrl)}\n${mixRepoSet(baseUrl, repository, false)}`;

/** Mix: back to hex.pm. */
export const mixBackToHexpm = (repository: string): string =>
  `mix hex.repo set ${repository} --url https://repo.hex.pm --public-key path/to/hexpm_public_key.pem`;

/**
 * Mix through the pass-through view, verifying with Hex's built-in key. HEX_MIRROR makes
 * Hex treat the URL as an untrusted mirror: it sends no auth key there (HEX_REPOS_KEY
 * included), so a token has to come from a netrc file, which Hex reads for every request.
 */
export const mixMirror = (baseUrl: string): string => `HEX_MIRROR=${baseUrl}/mirror mix deps.get`;

/**
 * A netrc entry for hexproxy's host, appended to ~/.netrc. Hex's netrc reader takes only
 * one keyword and value per line; a line of another shape anywhere in the file makes it
 * ignore the whole file.
 */
export function netrcEntry(baseUrl: string): string {
  return `printf 'machine %s\\nlogin ${TOKEN_USER}\\npassword %s\\n' ${hostOf(baseUrl)} "$${TOKEN_VARIABLE}" >> ~/.netrc\nchmod 600 ~/.netrc`;
}

/** Installing Hex and rebar3 through hexproxy: Mix 1.15 and later read HEX_BUILDS_URL, Mix 1.14 and earlier only HEX_MIRROR. */
export interface BuildsCommands {
  /** Who it is for, as printed above it. */
  label: string;
  text: string;
}

/** For Elixir 1.15 and later, then for 1.14 and earlier. */
export function mixBuilds(baseUrl: string, token: boolean): [BuildsCommands, BuildsCommands] {
  const url = token ? withTokenInUrl(baseUrl) : baseUrl;
  return [
    { label: 'Elixir 1.15 and later', text: `HEX_BUILDS_URL=${url} mix local.hex --force\nHEX_BUILDS_URL=${url} mix local.rebar --force` },
    { label: 'Elixir 1.14 and earlier', text: `HEX_MIRROR=${url} mix local.hex --force\nHEX_MIRROR=${url} mix local.rebar --force` },
  ];
}

/** rebar3 takes the `hexpm` repository's URL only from HEX_CDN (it ignores repo_url for hexpm). */
export const rebar3Cdn = (baseUrl: string): string => `export HEX_CDN=${baseUrl}`;

/** The PEM inside an Erlang binary, as rebar3's global config takes it. */
const erlangBinary = (text: string): string => `<<"${text.trim()}">>`;

/**
 * The `hex` entry of rebar3's global config (~/.config/rebar3/rebar.config): organizations
 * first (rebar3 looks packages up in the listed order; each inherits HEX_CDN and appends
 * /repos/ORG), then `hexpm`, all verified with hexproxy's key; `token` adds a repo_key to
 * `hexpm` (organizations always need one).
 */
export function rebar3Config(publicKeyPem: string, repository: string, organizations: readonly string[], token: boolean): string {
  const key = erlangBinary(publicKeyPem);
  const indent = '                  ';
  const repoKey = `,\n${indent}repo_key => ${erlangBinary(TOKEN_PLACEHOLDER)}`;
  const entries = [
    ...organizations.map((org) => `#{name => <<"${repository}:${org}">>,\n${indent}repo_public_key => ${key}${repoKey}}`),
    `#{name => <<"${repository}">>,\n${indent}repo_public_key => ${key}${token ? repoKey : ''}}`,
  ];
  return `{hex, [{repos, [${entries.join(',\n                ')}]}]}.`;
}

/** Prints rebar3's config entry with hexproxy's key filled in. */
export function rebar3ConfigPrintf(baseUrl: string, repository: string): string {
  return `printf '{hex, [{repos, [#{name => <<"${repository}">>, repo_public_key => <<"%s">>}]}]}.\\n' \\\n  "$(curl -fsS ${baseUrl}/public_key)"`;
}

/** rebar3 through the pass-through view, verifying with its built-in key. */
export const rebar3Mirror = (baseUrl: string): string => `HEX_CDN=${baseUrl}/mirror rebar3 get-deps`;

/** With a token: the `hexpm` entry of rebar3's global config gets only a repo_key (the key stays rebar3's built-in one). */
export function rebar3MirrorConfig(repository: string): string {
  return `{hex, [{repos, [#{name => <<"${repository}">>, repo_key => ${erlangBinary(TOKEN_PLACEHOLDER)}}]}]}.`;
}

// Publishing to a hosted repository (issue 17): Mix and rebar3_hex send API calls to
// HEX_API_URL with HEX_API_KEY as the key (rebar3_hex reads both with -r), and a hosted
// repository is addressed as an organization of the `hexpm` repository.

/** Where hexproxy answers the Hex API (publishing, `mix hex.info`). */
export const hexApiUrl = (baseUrl: string): string => `${baseUrl}/api`;

/** The API URL and a token that may write (hexproxy token create NAME --write REPO), for Mix and rebar3 alike. */
export const publishEnvironment = (baseUrl: string): string => `export HEX_API_URL=${hexApiUrl(baseUrl)} HEX_API_KEY="$${TOKEN_VARIABLE}"`;

/** Mix: publish the package and its docs to hosted repository `repository`. */
export const mixPublish = (repository: string): string => `mix hex.publish --organization ${repository}`;

/** rebar3 (rebar3_hex): publish to hosted repository `repository`, listed as `hexpm:REPO` in rebar3's global config. */
export const rebar3Publish = (publicRepository: string, repository: string): string => `rebar3 hex publish -r ${publicRepository}:${repository}`;

/** Mix: take a release back (within the repository's replace window). */
export const mixRevert = (repository: string, version: string): string => `mix hex.publish --organization ${repository} --revert ${version}`;

/** Mix: retire a release, with a reason (other, invalid, security, deprecated, renamed) and a message of 3 to 140 characters. */
export const mixRetire = (repository: string, name: string, version: string, reason: string, message: string): string =>
  `mix hex.retire ${name} ${version} ${reason} --message "${message}" --organization ${repository}`;

/** Any build tool or script: the package tarball as the body of a PUT, the token as the authorization header. */
export const curlDeploy = (baseUrl: string, repository: string, file: string): string =>
  `curl -sS --fail-with-body -X PUT -H "authorization: $${TOKEN_VARIABLE}" --data-binary @${file} \\\n  ${baseUrl}/repos/${repository}/tarballs/${file}`;
