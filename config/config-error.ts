/**
 * A configuration problem. It always names the file (or "built-in defaults") and, when one key is at fault,
 * the dotted key, so an operator can fix the file without reading code. config/ may not import daemon/, so this
 * is its own class; berthd reports it and exits non-zero before anything is served.
 */
export class ConfigError extends Error {
  readonly file: string;
  readonly key: string | undefined;

  constructor(file: string, key: string | undefined, problem: string) {
    super(key === undefined ? `${file}: ${problem}` : `${file}: ${key}: ${problem}`);
    this.name = 'ConfigError';
    this.file = file;
    this.key = key;
  }
}
