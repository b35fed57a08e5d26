import type { BerthConfig } from './types.js';

/**
 * Keys berthd applies without a restart. Anything else is fixed at start: the socket and directories are
 * bound, services were built from it (cgroup driver, runtimes, CNI dirs, limits). A component that makes
 * another key live reads it from the ConfigHolder at use and adds it here.
 */
export const RELOADABLE_KEYS: readonly string[] = ['log.level', 'cri.registry.config_path', 'metrics.address'];

export interface ReloadPlan {
  /** What berthd runs with after the reload: the current config with the reloadable keys taken from the file. */
  effective: BerthConfig;
  /** Reloadable keys whose value changed. */
  applied: string[];
  /** Keys that changed in the file but keep their running value until berthd restarts. */
  needsRestart: string[];
}

type Table = Record<string, unknown>;
const isTable = (value: unknown): value is Table => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Dotted keys whose values differ; maps such as cri.runtimes compare entry by entry, arrays as a whole. */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (isTable(a) && isTable(b)) {
    const names = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...names].sort().flatMap((name) => changedKeys(a[name], b[name], prefix === '' ? name : `${prefix}.${name}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

function withValue(table: Table, path: string[], value: unknown): Table {
  const [head, ...rest] = path as [string, ...string[]];
  return { ...table, [head]: rest.length === 0 ? value : withValue(table[head] as Table, rest, value) };
}

function valueAt(table: Table, path: string[]): unknown {
  return path.reduce<unknown>((node, name) => (node as Table)[name], table);
}

/** Splits the difference between the running config and a newly loaded one into what applies now and what waits. */
export function planReload(running: BerthConfig, loaded: BerthConfig): ReloadPlan {
  const changed = changedKeys(running, loaded);
  const applied = changed.filter((key) => RELOADABLE_KEYS.includes(key));
  const needsRestart = changed.filter((key) => !RELOADABLE_KEYS.includes(key));
  let effective = running as unknown as Table;
  for (const key of applied) {
    const path = key.split('.');
    effective = withValue(effective, path, valueAt(loaded as unknown as Table, path));
  }
  return { effective: effective as unknown as BerthConfig, applied, needsRestart };
}
