import type { BerthConfig } from './types.js';

/**
 * The config berthd runs with now. A reload (SIGHUP) replaces it; a component that honours a reloadable key
 * reads `current()` where it uses the value (per pull, per scrape) instead of keeping the startup object.
 * The object handed out is never mutated, so a caller may keep one for the length of an operation.
 */
export class ConfigHolder {
  private config: BerthConfig;

  constructor(initial: BerthConfig) {
    this.config = initial;
  }

  current(): BerthConfig {
    return this.config;
  }

  replace(next: BerthConfig): void {
    this.config = next;
  }
}
