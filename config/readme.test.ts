import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from './defaults.js';

/** Dotted key → JSON of its default, for every leaf of the default config. */
function leaves(value: object, prefix = ''): Array<[string, string]> {
  return Object.entries(value).flatMap(([key, child]): Array<[string, string]> => {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    return typeof child === 'object' && child !== null && !Array.isArray(child)
      ? leaves(child as object, path)
      : [[path, JSON.stringify(child)]];
  });
}

describe('README Configuration table', () => {
  it('lists every key with its built-in default', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const [key, value] of leaves(defaultConfig())) {
      expect(readme, `README row for ${key}`).toContain(`| \`${key}\` | \`${value}\` |`);
    }
  });
});
