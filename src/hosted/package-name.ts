// The names a package may be published under: hex.pm's rules (hexpm
// lib/hexpm/repository/package.ex, Package.build/3), so that a package published here could
// also be published to hex.pm, and no package takes the name of a tool, an OTP or Elixir
// application, or a name Windows cannot have as a file.

const NAME_FORMAT = /^[a-z][a-z0-9_]*$/;

// hex.pm's list, by the same groups.
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  // Elixir's applications
  ...['eex', 'elixir', 'elixirc', 'ex_unit', 'iex', 'logger', 'mix'],
  // OTP's applications
  ...['otp', 'asn1', 'common_test', 'compiler', 'crypto', 'debugger', 'dialyzer', 'diameter', 'edoc', 'eldap', 'erl_docgen', 'erl_interface'],
  ...['erts', 'et', 'eunit', 'ftp', 'hipe', 'inets', 'jinterface', 'kernel', 'megaco', 'mnesia', 'observer', 'odbc', 'os_mon', 'parsetools'],
  ...['public_key', 'reltool', 'runtime_tools', 'sasl', 'snmp', 'ssh', 'ssl', 'stdlib', 'syntax_tools', 'toolbar', 'tools', 'typer', 'wx', 'xmerl'],
  ...['tftp', 'httpc', 'httpd'],
  // tools
  ...['erlang', 'typer', 'to_erl', 'run_erl', 'escript', 'erlc', 'erl', 'epmd', 'dialyzer', 'ct_run', 'rebar', 'rebar3', 'hex', 'hexpm', 'mix_hex'],
  ...['net', 'http', 'net_http', 'gen_http'],
  // Windows device names
  ...['nul', 'con', 'prn', 'aux', 'com1', 'com2', 'com3', 'com4', 'com5', 'com6', 'com7', 'com8', 'com9'],
  ...['lpt1', 'lpt2', 'lpt3', 'lpt4', 'lpt5', 'lpt6', 'lpt7', 'lpt8', 'lpt9'],
  // names of hex.pm's own pages and hosts
  ...['package', 'organization', 'www', 'myapp', 'lock', 'locked', 'all', 'assets'],
  ...['api', 'docs', 'preview', 'search', 'staging', 'stats', 'static'],
]);

/** Whether hex.pm keeps `name` from packages. */
export const isReservedPackageName = (name: string): boolean => RESERVED_NAMES.has(name);

/** Whether `name` has a package name's form (`^[a-z][a-z0-9_]*$`); says nothing of its length or reservation. */
export const hasPackageNameFormat = (name: string): boolean => NAME_FORMAT.test(name);

/** What is wrong with `name` as the name of a new package, with what to do; undefined when it may be published. */
export function packageNameProblem(name: string): string | undefined {
  if (!hasPackageNameFormat(name)) {
    return `${JSON.stringify(name)} is not a valid package name: use lowercase letters, digits and underscores, starting with a letter`;
  }
  if (name.length < 2) return `${JSON.stringify(name)} is too short: a package name has at least 2 characters`;
  if (isReservedPackageName(name)) {
    return `${JSON.stringify(name)} is reserved (the name of an Erlang/OTP or Elixir application, a tool, or a device name): choose another name`;
  }
  return undefined;
}
