import { readFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { BerthError } from '../../errors/errors.js';

/** Config versions whose results berth parses (0.3.x, 0.4.0 and 1.0.0 share the `ips`/`interfaces` shape). */
export const SUPPORTED_CNI_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
const CONFIG_EXTENSIONS = new Set(['.conf', '.conflist', '.json']);

export interface CniPluginConf {
  type: string;
  /** Runtime-config keys the plugin wants (portMappings, bandwidth, dns, cgroupPath...). */
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface CniConfList {
  cniVersion: string;
  name: string;
  disableCheck: boolean;
  plugins: CniPluginConf[];
  /** The file it came from, for messages. */
  source: string;
}

/** The CNI configuration cannot be used: the message names the directory or file and what is wrong. */
export class CniConfigError extends BerthError {
  constructor(message: string, context: Record<string, unknown>) {
    super('FailedPrecondition', message, { context });
  }
}

/**
 * Loads the network config the way libcni-based runtimes do: the first file in `confDir`, in lexical order of
 * file name, ending in .conflist, .conf or .json; a .conf/.json holds one plugin and is wrapped as a one-plugin
 * list. A first file that does not parse is an error, not skipped, so a typo is reported instead of silently
 * falling through to another network.
 */
export async function loadCniConfig(confDir: string): Promise<CniConfList> {
  let names: string[];
  try {
    names = (await readdir(confDir, { withFileTypes: true }))
      .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && CONFIG_EXTENSIONS.has(extname(entry.name)))
      .map((entry) => entry.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    names = [];
  }
  const first = names[0];
  if (first === undefined) {
    throw new CniConfigError(
      `no network config found in ${confDir} (looked for *.conflist, *.conf, *.json); install a CNI config there or fix [cri.cni] conf_dir`,
      { confDir },
    );
  }
  const source = join(confDir, first);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(source, 'utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new CniConfigError(`CNI config ${source} is not valid JSON: ${err.message}`, { source });
  }
  return extname(first) === '.conflist' ? parseConfList(parsed, source) : wrapSingleConf(parsed, source);
}

/** Validates a config list (from a .conflist file or from berth's result cache). */
export function parseConfList(value: unknown, source: string): CniConfList {
  const invalid = (what: string) => new CniConfigError(`CNI config ${source} is invalid: ${what}`, { source });
  if (!isObject(value)) throw invalid('the top level must be a JSON object');
  const { name, cniVersion, plugins, disableCheck } = value;
  if (typeof name !== 'string' || name === '') throw invalid('"name" must be a non-empty string');
  const version = checkVersion(cniVersion, invalid);
  if (!Array.isArray(plugins) || plugins.length === 0) throw invalid('"plugins" must be a non-empty array');
  const checked = plugins.map((plugin, index) => {
    if (!isObject(plugin) || typeof plugin['type'] !== 'string' || plugin['type'] === '') {
      throw invalid(`plugins[${index}] must be an object with a non-empty "type"`);
    }
    return plugin as CniPluginConf;
  });
  if (disableCheck !== undefined && typeof disableCheck !== 'boolean') throw invalid('"disableCheck" must be a boolean');
  return { name, cniVersion: version, disableCheck: disableCheck === true, plugins: checked, source };
}

function wrapSingleConf(value: unknown, source: string): CniConfList {
  const invalid = (what: string) => new CniConfigError(`CNI config ${source} is invalid: ${what}`, { source });
  if (!isObject(value)) throw invalid('the top level must be a JSON object');
  if (typeof value['type'] !== 'string' || value['type'] === '') {
    throw invalid(`"type" (the plugin) is missing${Array.isArray(value['plugins']) ? '; a config list belongs in a .conflist file' : ''}`);
  }
  const name = value['name'];
  if (typeof name !== 'string' || name === '') throw invalid('"name" must be a non-empty string');
  const version = checkVersion(value['cniVersion'], invalid);
  return { name, cniVersion: version, disableCheck: false, plugins: [value as CniPluginConf], source };
}

function checkVersion(value: unknown, invalid: (what: string) => CniConfigError): string {
  if (typeof value !== 'string' || !(SUPPORTED_CNI_VERSIONS as readonly string[]).includes(value)) {
    throw invalid(`"cniVersion" ${JSON.stringify(value)} is not supported; use one of ${SUPPORTED_CNI_VERSIONS.join(', ')}`);
  }
  return value;
}

/** CHECK exists from spec 0.4.0 on; DEL and CHECK get the ADD result as prevResult from then on too. */
export function hasCheckAndPrevResultOnDel(cniVersion: string): boolean {
  return cniVersion === '0.4.0' || cniVersion === '1.0.0';
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
