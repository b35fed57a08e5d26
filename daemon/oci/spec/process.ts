import { invalidArgument } from '../../errors/errors.js';
import type { KeyValue } from './cri-input.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The argv of a container by Kubernetes' rules: `command` replaces the image's Entrypoint, `args` replace its
 * Cmd, and a `command` without `args` drops the image's Cmd too.
 */
export function processArgs(
  cri: { command: string[]; args: string[] },
  image: { Entrypoint?: string[] | null; Cmd?: string[] | null },
  what: string,
): string[] {
  let argv: string[];
  if (cri.command.length > 0) argv = [...cri.command, ...cri.args];
  else argv = [...(image.Entrypoint ?? []), ...(cri.args.length > 0 ? cri.args : (image.Cmd ?? []))];
  if (argv.length === 0) {
    throw invalidArgument(`container ${what} has no command: neither the container config nor the image sets one; set command or args`);
  }
  return argv;
}

/** The image's environment, then the CRI's, a later key replacing an earlier one in place; PATH is always set. */
export function processEnv(imageEnv: string[], criEnvs: KeyValue[], extra: string[]): string[] {
  const out: string[] = [];
  const index = new Map<string, number>();
  const put = (entry: string): void => {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    const at = index.get(key);
    if (at === undefined) {
      index.set(key, out.length);
      out.push(entry);
    } else out[at] = entry;
  };
  put(DEFAULT_PATH);
  for (const e of extra) put(e);
  for (const e of imageEnv) put(e);
  // The value is bytes in berth's proto (see proto/cri/api.proto); String() decodes a Buffer as UTF-8.
  for (const kv of criEnvs) put(`${kv.key ?? ''}=${String(kv.value ?? '')}`);
  return out;
}
