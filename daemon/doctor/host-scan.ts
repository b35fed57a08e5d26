import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/**
 * What the kernel and the runtime hold, read directly rather than from berth's records: shim processes and runc
 * containers (mount points: daemon/linux/mountinfo.ts). The doctor compares these with the records.
 */

export interface ShimProcess {
  pid: number;
  /**
   * For a container: <bundle>/shim.sock. A shim started as a spare (<state>/spares/spare-*.sock) keeps that
   * --socket in argv after it takes a container; it then works in its bundle (cwd), which names the socket.
   */
  socket: string;
}

/** The `--socket` of a berth-shim command line (NUL-separated argv), or undefined for any other process. */
export function shimSocketOf(cmdline: string): string | undefined {
  const argv = cmdline.split('\0');
  // dist/shim-cjs/main.js is the build berthd starts; dist/shim/main.js the ESM one tests may start.
  if (!argv.some((arg) => /(^|\/)shim(-cjs)?\/main\.js$/.test(arg))) return undefined;
  const at = argv.indexOf('--socket');
  return at >= 0 ? argv[at + 1] : undefined;
}

/** Running berth-shim processes. */
export async function shimProcesses(): Promise<ShimProcess[]> {
  const found: ShimProcess[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      // The process ended between readdir and read.
      continue;
    }
    const socket = shimSocketOf(cmdline);
    if (socket === undefined) continue;
    const spare = path.basename(path.dirname(socket)) === 'spares';
    const cwd = spare ? await readlink(`/proc/${entry}/cwd`).catch(() => '/') : '/';
    found.push({ pid: Number(entry), socket: cwd === '/' ? socket : path.join(cwd, 'shim.sock') });
  }
  return found;
}

/** Ids of the containers the runtime keeps state for under `root`; none when the root does not exist. */
export async function runtimeContainers(runtime: { path: string; args: string[] }, root: string): Promise<string[]> {
  const result = await execa(runtime.path, [...runtime.args, '--root', root, 'list', '-q'], { reject: false });
  if (result.exitCode !== 0) {
    if (/no such file or directory/i.test(result.stderr)) return [];
    throw new Error(`${runtime.path} --root ${root} list failed: ${result.stderr.trim()}`);
  }
  return result.stdout.split('\n').filter((line) => line !== '');
}
