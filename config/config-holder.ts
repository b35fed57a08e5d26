import type { BerthConfig } from './types.js';

export type ConfigListener = (next: BerthConfig, previous: BerthConfig) => void;

/**
 * The config berthd runs with now. A reload (SIGHUP) replaces it; a component that honours a reloadable key
 * reads `current()` where it uses the value (per pull, per log line) instead of keeping the startup object.
 * The object handed out is never mutated, so a caller may keep one for the length of an operation.
 */
export class ConfigHolder {
  private config: BerthConfig;
  private readonly listeners: ConfigListener[] = [];

  constructor(initial: BerthConfig) {
    this.config = initial;
  }

  current(): BerthConfig {
    return this.config;
  }

  /** Called after each replacement, in registration order; a listener that throws stops the ones after it. */
  onChange(listener: ConfigListener): void {
    this.listeners.push(listener);
  }

  replace(next: BerthConfig): void {
    const previous = this.config;
    this.config = next;
    for (const listener of this.listeners) listener(next, previous);
  }
}
