import { existsSync, readFileSync } from 'node:fs';
import { parse, stringify, TomlError } from 'smol-toml';
import { ConfigError } from './config-error.js';
import { defaultConfig } from './defaults.js';
import { CONFIG_SCHEMA, type Rule } from './schema.js';
import type { BerthConfig } from './types.js';

/** Used when no --config is given, and only if it exists: a node with no file runs on the built-in defaults. */
export const DEFAULT_CONFIG_PATH = '/etc/berth/config.toml';
const DEFAULTS_SOURCE = 'built-in defaults';

type Table = Record<string, unknown>;

const isTable = (value: unknown): value is Table =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

function tomlType(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (isTable(value)) return 'a table';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a float';
  return `a ${typeof value}`;
}

/**
 * Overlays `file` on `base` following `rule`: tables merge key by key, maps merge per entry (an entry the
 * file names starts from the built-in entry of that name, or from the rule's template), scalars and arrays
 * replace. Every value is type-checked and validated here, so the result is a complete, valid table.
 */
function overlay(rule: Rule, base: unknown, file: unknown, key: string, source: string): unknown {
  const fail = (problem: string): never => {
    throw new ConfigError(source, key, problem);
  };
  switch (rule.kind) {
    case 'string': {
      if (typeof file !== 'string') return fail(`must be a string, got ${tomlType(file)}`);
      const problem = rule.check?.(file);
      return problem === undefined ? file : fail(problem);
    }
    case 'integer': {
      if (typeof file !== 'number' || !Number.isInteger(file)) return fail(`must be an integer, got ${tomlType(file)}`);
      if (file < rule.min || file > rule.max) return fail(`must be between ${rule.min} and ${rule.max}, got ${file}`);
      return file;
    }
    case 'string-array': {
      if (!Array.isArray(file)) return fail(`must be an array of strings, got ${tomlType(file)}`);
      return file.map((item: unknown, index) => {
        if (typeof item !== 'string') return fail(`item ${index} must be a string, got ${tomlType(item)}`);
        const problem = rule.check?.(item);
        return problem === undefined ? item : fail(`item ${index} ${problem}`);
      });
    }
    case 'table': {
      if (!isTable(file)) return fail(`must be a table, got ${tomlType(file)}`);
      const merged: Table = { ...(base as Table) };
      for (const [name, value] of Object.entries(file)) {
        const child = rule.fields[name];
        const childKey = key === '' ? name : `${key}.${name}`;
        if (child === undefined) throw new ConfigError(source, childKey, 'unknown key');
        merged[name] = overlay(child, merged[name], value, childKey, source);
      }
      return merged;
    }
    case 'map': {
      if (!isTable(file)) return fail(`must be a table, got ${tomlType(file)}`);
      const merged: Table = { ...(base as Table) };
      for (const [name, value] of Object.entries(file)) {
        const entryKey = `${key}.${name}`;
        const entryBase = Object.hasOwn(merged, name) ? merged[name] : rule.template();
        const entry = overlay(rule.value, entryBase, value, entryKey, source) as Table;
        // The template leaves out what has no sensible default; a new entry must name it.
        const missing = Object.keys(rule.value.fields).find((field) => !Object.hasOwn(entry, field));
        if (missing !== undefined) throw new ConfigError(source, `${entryKey}.${missing}`, 'is required');
        merged[name] = entry;
      }
      return merged;
    }
  }
}

/** Rules that involve more than one key. */
function checkCrossKeys(config: BerthConfig, source: string): void {
  if (!Object.hasOwn(config.cri.runtimes, config.cri.default_runtime)) {
    const known = Object.keys(config.cri.runtimes).join(', ');
    throw new ConfigError(
      source,
      'cri.default_runtime',
      `names runtime "${config.cri.default_runtime}", which is not in [cri.runtimes] (known: ${known})`,
    );
  }
  if (config.root === config.state) {
    throw new ConfigError(source, 'state', `must differ from root (both are "${config.root}")`);
  }
}

/** Applies an already-parsed TOML document on top of the built-in defaults. */
function configFromDocument(document: unknown, source: string): BerthConfig {
  const config = overlay(CONFIG_SCHEMA, defaultConfig(), document, '', source) as BerthConfig;
  checkCrossKeys(config, source);
  return config;
}

/** Parses TOML text and applies it on top of the built-in defaults. */
export function parseConfig(text: string, source: string): BerthConfig {
  let document: unknown;
  try {
    document = parse(text);
  } catch (err) {
    if (err instanceof TomlError) {
      throw new ConfigError(source, undefined, `invalid TOML at line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`);
    }
    throw err;
  }
  return configFromDocument(document, source);
}

/** Reads one config file. The file may name only the keys it changes. */
export function loadConfigFile(path: string): BerthConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(path, undefined, `cannot read the config file: ${reason}`);
  }
  return parseConfig(text, path);
}

/**
 * The config berthd runs with: the file given with --config (which must exist), else DEFAULT_CONFIG_PATH when
 * present, else the built-in defaults. Returns where it came from for the startup log.
 */
export function resolveConfig(explicitPath: string | undefined): { config: BerthConfig; source: string } {
  if (explicitPath !== undefined) return { config: loadConfigFile(explicitPath), source: explicitPath };
  if (existsSync(DEFAULT_CONFIG_PATH)) return { config: loadConfigFile(DEFAULT_CONFIG_PATH), source: DEFAULT_CONFIG_PATH };
  const config = defaultConfig();
  checkCrossKeys(config, DEFAULTS_SOURCE);
  return { config, source: DEFAULTS_SOURCE };
}

/** TOML for a complete config; `berthd config default` prints this for the defaults. */
export function formatConfig(config: BerthConfig): string {
  return stringify(config);
}
