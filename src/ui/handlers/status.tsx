// /ui/status: upstream, the cache's figures, recent errors and the policy, each as far as the
// viewer may see it.
import { cacheStats } from '../../cache/stats.js';
import { describePolicy } from '../../policy/describe.js';
import { displayUrl } from '../../upstream/display-url.js';
import { StatusPage } from '../pages/status.js';
import { mayRead } from '../viewer.js';
import type { UiContext, UiHandler } from './ui-context.js';

export function statusPage(ui: UiContext): UiHandler {
  const { deps } = ui;
  const { index, health, publicRepository } = deps;
  return (c) => {
    const viewer = c.get('viewer');
    // Figures of the repositories the viewer may read (admin rights or not).
    const stats = cacheStats(index, 0, viewer.everything ? undefined : { repositories: viewer.repositories, publicRepository });
    const errors = deps.errors.list((repo) => mayRead(viewer, repo), viewer.everything);
    const summary = describePolicy(deps.policy.current);
    // Organizations the viewer may not read are not named to it.
    const policyRepositories = summary.repositories.filter((repo) => mayRead(viewer, repo));
    return ui.page(
      <StatusPage
        chrome={ui.chromeOf(viewer)}
        upstream={{
          url: displayUrl(deps.upstreamUrl),
          state: health.state,
          lastContact: health.lastContact,
          coolingDownUntil: health.coolingDownUntil(),
          // Upstream messages name the path that failed, of any repository.
          lastFailure: viewer.everything && health.state !== 'online' ? health.lastFailure : undefined,
          offline: deps.offline,
        }}
        stats={stats}
        maxCacheBytes={deps.maxCacheBytes}
        errors={errors}
        errorsFiltered={!viewer.everything}
        figuresScoped={!viewer.everything}
        now={Date.now()}
        policy={{
          ...summary,
          repositories: policyRepositories,
          hiddenRepositories: summary.repositories.length - policyRepositories.length,
          generation: deps.policy.generation,
        }}
      />,
    );
  };
}
