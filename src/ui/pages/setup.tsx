// Set me up: copy-paste configuration for Mix and rebar3, filled in with the address the
// browser used and hexproxy's public key.
import type { FC } from 'hono/jsx';
import { CodeBlock, Layout, type Chrome } from '../layout.js';

export interface SetupPageProps {
  chrome: Chrome;
  baseUrl: string;
  publicKeyPem: string;
  fingerprint: string;
  publicRepository: string;
  /** Anonymous clients may not read: every client needs a token. */
  tokenRequired: boolean;
  /** Organizations this viewer may read. */
  organizations: string[];
}

/** The PEM inside an Erlang binary, as rebar3's global config takes it. */
const erlangPem = (pem: string): string => `<<"${pem.trim()}">>`;

function rebarConfig(pem: string, publicRepository: string, organizations: string[], withToken: boolean): string {
  const key = erlangPem(pem);
  const indent = '                  ';
  const entries = [
    ...organizations.map((org) => `#{name => <<"${publicRepository}:${org}">>,\n${indent}repo_public_key => ${key},\n${indent}repo_key => <<"YOUR_HEXPROXY_TOKEN">>}`),
    `#{name => <<"${publicRepository}">>,\n${indent}repo_public_key => ${key}${withToken ? `,\n${indent}repo_key => <<"YOUR_HEXPROXY_TOKEN">>` : ''}}`,
  ];
  return `{hex, [{repos, [${entries.join(',\n                ')}]}]}.`;
}

export const SetupPage: FC<SetupPageProps> = ({ chrome, baseUrl, publicKeyPem, fingerprint, publicRepository, tokenRequired, organizations }) => {
  const withToken = tokenRequired || organizations.length > 0;
  const keyUrl = `${baseUrl}/public_key`;
  const mixSet = `mix hex.repo set ${publicRepository} --url ${baseUrl} --public-key hexproxy.pem`;
  return (
    <Layout title="Set me up" section="setup" chrome={chrome}>
      <h1>Set me up</h1>
      <p class="lead">Point Mix and rebar3 at this hexproxy. Everything below is filled in with the address your browser used: <code id="base-url">{baseUrl}</code>.</p>

      <div class="card">
        <h2 id="key">hexproxy's public key</h2>
        <p>
          hexproxy re-signs the registry with its own key, so clients check it with this key instead of hex.pm's.
          Download it: <a href="/public_key" id="public-key-link" download="hexproxy.pem">{keyUrl}</a>
        </p>
        <dl class="facts">
          <dt>SHA-256 fingerprint</dt>
          <dd><code id="fingerprint">{fingerprint}</code></dd>
        </dl>
        <CodeBlock id="public-key" label="hexproxy's public key (PEM)" text={publicKeyPem.trim()} />
        <p class="muted">To check a downloaded key, this prints the fingerprint above:</p>
        <CodeBlock id="fingerprint-check" text="openssl pkey -pubin -in hexproxy.pem -outform DER | sha256sum" />
      </div>

      <h2 id="mix">Mix</h2>
      <CodeBlock id="mix-setup" text={`curl -fsSo hexproxy.pem ${keyUrl}\n${mixSet}`} />
      {withToken
        ? (
          <>
            <p>{tokenRequired ? 'This hexproxy needs a token from every client.' : 'Organizations need a token that may read them.'} Give Mix yours, and keep Hex from exchanging it at hex.pm:</p>
            <CodeBlock id="mix-token" text={`${mixSet} \\\n  --auth-key "$HEXPROXY_TOKEN" --no-oauth-exchange`} />
          </>
        )
        : null}
      {organizations.length > 0
        ? <p>Hex finds organization repositories under the same URL: depend on them with {organizations.map((org, index) => <>{index > 0 ? ', ' : null}<code>{`organization: "${org}"`}</code></>)} in <code>mix.exs</code>.</p>
        : null}
      <h3>No key to distribute: the pass-through view</h3>
      <p>Clients that keep verifying with hex.pm's built-in key can use <code>/mirror</code>, which serves the upstream's own signed files (checked by hexproxy before they are cached or served):</p>
      <CodeBlock id="mix-mirror" text={`HEX_MIRROR=${baseUrl}/mirror mix deps.get`} />
      <h3>Installing Hex and rebar3 through hexproxy</h3>
      <CodeBlock id="mix-builds" text={`HEX_BUILDS_URL=${baseUrl} mix local.hex --force\nHEX_BUILDS_URL=${baseUrl} mix local.rebar --force`} />
      <p class="muted">Back to hex.pm: <code>mix hex.repo remove {publicRepository}</code>.</p>

      <h2 id="rebar3">rebar3</h2>
      <p>rebar3 takes the repository URL from <code>HEX_CDN</code>:</p>
      <CodeBlock id="rebar3-cdn" text={`export HEX_CDN=${baseUrl}`} />
      <p>and the key from its global config, <code>~/.config/rebar3/rebar.config</code>; add this entry{withToken ? ', with your token' : ''}:</p>
      <CodeBlock id="rebar3-config" text={rebarConfig(publicKeyPem, publicRepository, organizations, tokenRequired)} />
      <h3>No key to distribute: the pass-through view</h3>
      <CodeBlock id="rebar3-mirror" text={`HEX_CDN=${baseUrl}/mirror rebar3 get-deps`} />
    </Layout>
  );
};
