// Which package names may be published to a hosted repository merged into the root view
// (hosted.NAME.merge), against dependency confusion. In the root view a hosted package hides
// upstream's package of the same name, so publishing a name hex.pm has would take that
// package away from every project reading the root view: refused unless
// hosted.NAME.mayShadow lists it. When upstream cannot say whether it has the name, the
// name is refused too: guessing wrong is what the check is there to prevent. A repository
// that is not merged needs no check (its packages are asked for with `organization:`).
import { NameShadowsUpstreamError, NotFoundError, OfflineMissError, errorMessage } from '../errors.js';
import { decodeNames } from '../registry/codec.js';
import type { RegistryFiles } from './repository.js';

/** One hosted repository's settings that the check reads (config hosted.NAME). */
export interface ShadowSettings {
  merge: boolean;
  mayShadow: readonly string[];
}

export interface ShadowGuardOptions {
  /** The public repository's name ("hexpm"), whose view the merged repositories join. */
  publicRepository: string;
  /** The hosted repositories, in config order. */
  hosted: Readonly<Record<string, ShadowSettings>>;
  /** Whether hosted repository `repo` has a package `name` (HostedStore.has). */
  holds: (repo: string, name: string) => boolean;
  /** The public repository's registry as mirrored from upstream (not merged). */
  upstream: Pick<RegistryFiles, 'get'>;
}

export class ShadowGuard {
  constructor(private readonly options: ShadowGuardOptions) {}

  /**
   * Resolves when `name` may be published to hosted repository `repo`; throws
   * NameShadowsUpstreamError (422, naming hosted.REPO.mayShadow) when it may not. A name
   * the repository already has stays publishable (its new versions, replacements).
   */
  async mayPublishName(repo: string, name: string): Promise<void> {
    const { hosted, holds, publicRepository } = this.options;
    const settings = Object.hasOwn(hosted, repo) ? hosted[repo] : undefined;
    if (!settings?.merge || holds(repo, name)) return;
    for (const [other, otherSettings] of Object.entries(hosted)) {
      if (other !== repo && otherSettings.merge && holds(other, name)) {
        throw new NameShadowsUpstreamError(
          `${name} cannot be published to ${repo}: hosted repository ${other}, also merged into the root view (hosted.${other}.merge), already has a package of that name, and the root view serves one package per name; publish it to ${other}, or choose another name`,
        );
      }
    }
    if (settings.mayShadow.includes(name)) return;
    const upstream = await this.upstreamHas(name);
    const why = `${repo} is merged into the root view (hosted.${repo}.merge), where a hosted package hides ${publicRepository}'s package of the same name from every project`;
    const allow = `list it in hosted.${repo}.mayShadow to shadow ${publicRepository}'s ${name} on purpose, or choose another name`;
    if (upstream === true) {
      throw new NameShadowsUpstreamError(
        `${name} cannot be published to ${repo}: ${publicRepository} has a package named ${name}, and ${why}; ${allow}`,
      );
    }
    if (upstream !== false) {
      throw new NameShadowsUpstreamError(
        `${name} cannot be published to ${repo} now: hexproxy cannot tell whether ${publicRepository} has a package named ${name} (${upstream.reason}), and ${why}; try again once upstream is reachable, or ${allow}`,
      );
    }
  }

  /**
   * Whether upstream has a package `name`: asked anew (its answer, or the cached file when
   * it cannot be asked). Offline, the cached /names is upstream as this instance knows it.
   */
  private async upstreamHas(name: string): Promise<boolean | { reason: string }> {
    const { upstream } = this.options;
    try {
      await upstream.get({ kind: 'package', name }, true);
      return true;
    } catch (error: unknown) {
      if (error instanceof NotFoundError) return false;
      if (!(error instanceof OfflineMissError)) return { reason: errorMessage(error) };
    }
    try {
      const { file } = await upstream.get({ kind: 'names' });
      return decodeNames(file.payload).packages.some((entry) => entry.name === name);
    } catch (error: unknown) {
      return { reason: errorMessage(error) };
    }
  }
}
