// Set me up: copy-paste configuration for Mix and rebar3, filled in with the address the
// browser used and hexproxy's public key. The snippets come from src/clients/snippets.ts,
// which README shows too and the tests run with the real clients.
import type { FC } from 'hono/jsx';
import {
  TOKEN_PLACEHOLDER,
  TOKEN_VARIABLE,
  hexApiUrl,
  keyDownload,
  keyFingerprint,
  mixBuilds,
  mixMirror,
  mixPublish,
  mixRepoSet,
  mixSetup,
  netrcEntry,
  publishEnvironment,
  rebar3Cdn,
  rebar3Config,
  rebar3Mirror,
  rebar3MirrorConfig,
  rebar3Publish,
} from '../../clients/snippets.js';
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
  /** A policy filters the public repository: the pass-through view refuses its registry files. */
  policyApplies: boolean;
  /** Hosted repositories this viewer may read (among `organizations`). */
  hosted: string[];
  /** Hosted repositories this viewer may publish to (its token's --write). */
  writable: string[];
}

/** Why /mirror is not offered while a policy is in force. */
const MirrorOff: FC<{ id: string }> = ({ id }) => (
  <p id={id} class="muted">
    Not while a policy is in force: the pass-through view (<code>/mirror</code>) serves upstream's own signed files and cannot take the releases the
    policy blocks out of them, so it refuses every registry file (<code>403 blocked_by_policy</code>). Mix then says "No package with name …", rebar3
    "Package not found in any repo: …". Use the commands above, with hexproxy's key.
  </p>
);

export const SetupPage: FC<SetupPageProps> = ({
  chrome,
  baseUrl,
  publicKeyPem,
  fingerprint,
  publicRepository,
  tokenRequired,
  organizations,
  policyApplies,
  hosted,
  writable,
}) => {
  const withToken = tokenRequired || organizations.length > 0;
  const keyUrl = `${baseUrl}/public_key`;
  const [builds, oldBuilds] = mixBuilds(baseUrl, tokenRequired);
  return (
    <Layout title="Set me up" section="setup" chrome={chrome}>
      <h1>Set me up</h1>
      <p class="lead">
        Point Mix and rebar3 at this hexproxy. Everything below is filled in with the address your browser used: <code id="base-url">{baseUrl}</code>.
      </p>

      <div class="card">
        <h2 id="key">hexproxy's public key</h2>
        <p>
          hexproxy re-signs the registry with its own key, so clients check it with this key instead of hex.pm's. Download it:{' '}
          <a href="/public_key" id="public-key-link" download="hexproxy.pem">
            {keyUrl}
          </a>
        </p>
        <dl class="facts">
          <dt>SHA-256 fingerprint</dt>
          <dd>
            <code id="fingerprint">{fingerprint}</code>
          </dd>
        </dl>
        <CodeBlock id="public-key" label="hexproxy's public key (PEM)" text={publicKeyPem.trim()} />
        <p class="muted">To check a downloaded key, this prints the fingerprint above:</p>
        <CodeBlock id="fingerprint-check" text={keyFingerprint} />
      </div>

      <h2 id="mix">Mix</h2>
      <CodeBlock id="mix-setup" text={mixSetup(baseUrl, publicRepository)} />
      {withToken ? (
        <>
          <p>
            {tokenRequired ? 'This hexproxy needs a token from every client.' : 'Organizations need a token that may read them.'} Give Mix yours (in{' '}
            <code>$HEXPROXY_TOKEN</code>), and keep Hex from exchanging it at hex.pm:
          </p>
          <CodeBlock id="mix-token" text={`${keyDownload(baseUrl)}\n${mixRepoSet(baseUrl, publicRepository, true)}`} />
        </>
      ) : null}
      {organizations.length > 0 ? (
        <p>
          Hex finds organization repositories under the same URL: depend on them with{' '}
          {organizations.map((org, index) => (
            <>
              {index > 0 ? ', ' : null}
              <code>{`organization: "${org}"`}</code>
            </>
          ))}{' '}
          in <code>mix.exs</code>.
        </p>
      ) : null}
      <h3>No key to distribute: the pass-through view</h3>
      {policyApplies ? (
        <MirrorOff id="mix-mirror-off" />
      ) : (
        <>
          <p>
            Clients that keep verifying with hex.pm's built-in key can use <code>/mirror</code>, which serves the upstream's own signed files (checked
            by hexproxy before they are cached or served):
          </p>
          {tokenRequired ? (
            <>
              <p>
                Hex sends no key to a <code>HEX_MIRROR</code>; it reads the token from <code>~/.netrc</code> (one keyword per line, as written here):
              </p>
              <CodeBlock id="mix-netrc" text={netrcEntry(baseUrl)} />
            </>
          ) : null}
          <CodeBlock id="mix-mirror" text={mixMirror(baseUrl)} />
        </>
      )}
      <h3>Installing Hex and rebar3 through hexproxy</h3>
      {tokenRequired ? <p>With the token in the URL (Mix sends it as basic auth):</p> : null}
      <p>{builds.label}:</p>
      <CodeBlock id="mix-builds" text={builds.text} />
      <p>
        {oldBuilds.label} (they ignore <code>HEX_BUILDS_URL</code>):
      </p>
      <CodeBlock id="mix-builds-old" text={oldBuilds.text} />
      <p class="muted">
        Back to hex.pm: <code>mix hex.repo remove {publicRepository}</code>.
      </p>

      <h2 id="rebar3">rebar3</h2>
      <p>
        rebar3 takes the repository URL from <code>HEX_CDN</code> only:
      </p>
      <CodeBlock id="rebar3-cdn" text={rebar3Cdn(baseUrl)} />
      <p>
        and the key from its global config, <code>~/.config/rebar3/rebar.config</code>; add this entry
        {withToken ? (
          <>
            , with your token in place of <code>{TOKEN_PLACEHOLDER}</code>
          </>
        ) : null}
        :
      </p>
      <CodeBlock id="rebar3-config" text={rebar3Config(publicKeyPem, publicRepository, organizations, tokenRequired)} />
      <h3>No key to distribute: the pass-through view</h3>
      {policyApplies ? (
        <MirrorOff id="rebar3-mirror-off" />
      ) : (
        <>
          {tokenRequired ? (
            <>
              <p>
                With your token as the <code>hexpm</code> entry's only setting in <code>~/.config/rebar3/rebar.config</code> (rebar3 keeps its
                built-in key):
              </p>
              <CodeBlock id="rebar3-mirror-config" text={rebar3MirrorConfig(publicRepository)} />
            </>
          ) : null}
          <CodeBlock id="rebar3-mirror" text={rebar3Mirror(baseUrl)} />
        </>
      )}
      {hosted.length > 0 ? <Publish baseUrl={baseUrl} publicRepository={publicRepository} hosted={hosted} writable={writable} /> : null}
    </Layout>
  );
};

/** Publishing to the hosted repositories: the commands for those the viewer may write, else what it takes. */
const Publish: FC<{ baseUrl: string; publicRepository: string; hosted: string[]; writable: string[] }> = ({
  baseUrl,
  publicRepository,
  hosted,
  writable,
}) => (
  <>
    <h2 id="publish">Publish to hexproxy</h2>
    <p>
      hexproxy hosts{' '}
      {hosted.map((repo, index) => (
        <>
          {index > 0 ? ', ' : null}
          <code>{repo}</code>
        </>
      ))}
      : packages published there are served at <code>/repos/NAME</code> like an organization's, and shown here with their docs.
    </p>
    {writable.length === 0 ? (
      <p class="muted" id="publish-needs-write">
        Publishing needs a token with the write right (<code>hexproxy token create NAME --write REPO</code>); sign in with one to see the commands.
      </p>
    ) : (
      <>
        <p>
          Your token may publish to{' '}
          {writable.map((repo, index) => (
            <>
              {index > 0 ? ', ' : null}
              <code>{repo}</code>
            </>
          ))}
          . Mix and rebar3 send publishing calls to the Hex API at <code id="hex-api-url">{hexApiUrl(baseUrl)}</code>, with the token (in{' '}
          <code>${TOKEN_VARIABLE}</code>) as the key:
        </p>
        <CodeBlock id="publish-env" text={publishEnvironment(baseUrl)} />
        <h3>Mix</h3>
        <p>The package and its docs, as with hex.pm:</p>
        <CodeBlock id="publish-mix" text={writable.map(mixPublish).join('\n')} />
        <h3>rebar3</h3>
        <p>
          With the <code>{`${publicRepository}:REPO`}</code> entries of the config above in rebar3's global config:
        </p>
        <CodeBlock id="publish-rebar3" text={writable.map((repo) => rebar3Publish(publicRepository, repo)).join('\n')} />
      </>
    )}
  </>
);
