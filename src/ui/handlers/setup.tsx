// /ui/setup: how to point Mix and rebar3 at this hexproxy, with its address and key.
import { SetupPage } from '../pages/setup.js';
import { baseUrlOf, mayWrite } from '../viewer.js';
import type { UiContext, UiHandler } from './ui-context.js';

export function setupPage(ui: UiContext): UiHandler {
  const { deps } = ui;
  const { access, keys, publicRepository, hosted } = deps;
  return (c) => {
    const viewer = c.get('viewer');
    const hostedRepositories = viewer.repositories.filter((repo) => hosted?.hosts(repo) === true);
    return ui.page(
      <SetupPage
        chrome={ui.chromeOf(viewer)}
        baseUrl={baseUrlOf((name) => c.req.header(name), c.req.url, c.get('client').viaTrustedProxy)}
        publicKeyPem={keys.publicKeyPem}
        fingerprint={keys.fingerprint}
        publicRepository={publicRepository}
        tokenRequired={!access.anonymousMayRead(publicRepository)}
        organizations={viewer.repositories.filter((repo) => repo !== publicRepository)}
        policyApplies={deps.policy.appliesTo(publicRepository)}
        hosted={hostedRepositories}
        writable={hostedRepositories.filter((repo) => mayWrite(access, viewer, repo))}
      />,
    );
  };
}
