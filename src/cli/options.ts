// The configuration flags every command takes, generated from the settings table, and
// the step from parsed options to a validated config.
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { envName, settings } from '../config/settings.js';

export type CommandOptions = Record<string, string | string[] | boolean | undefined>;

export function withSettings(command: Command, { serve = false } = {}): Command {
  command.option('-c, --config <file>', 'JSON config file (env HEXPROXY_CONFIG)');
  for (const setting of settings) {
    if (setting.serveOnly && !serve) continue;
    const valueName =
      setting.kind === 'integer'
        ? 'n'
        : setting.kind === 'path'
          ? 'file'
          : setting.kind === 'url'
            ? 'url'
            : setting.kind === 'list'
              ? 'list'
              : 'value';
    const flags = setting.kind === 'boolean' ? `--${setting.flag}` : `--${setting.flag} <${setting.key === 'dataDir' ? 'dir' : valueName}>`;
    command.addOption(new Option(flags, `${setting.description} (env ${envName(setting)})`).helpGroup('Configuration:'));
  }
  return command;
}

export function configFrom(options: CommandOptions): Readonly<Config> {
  // commander camelCases flag names; the loader wants them as typed on the command line.
  const flags: Record<string, string | boolean | undefined> = {};
  const config = options['config'];
  if (typeof config === 'string') flags['config'] = config;
  for (const setting of settings) {
    const value = options[camel(setting.flag)];
    if (typeof value === 'string' || typeof value === 'boolean') flags[setting.flag] = value;
  }
  return loadConfig({ flags, env: process.env });
}

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** Collects a repeatable option (`--mix-lock a --mix-lock b`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function positiveInteger(name: string) {
  return (value: string): number => {
    if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError(`${name} must be a positive whole number, got "${value}"`);
    return Number(value);
  };
}
