import { readFile, readdir, readlink, rm } from 'node:fs/promises';
import { execa } from 'execa';
import { MNT_DETACH, umount2, isSyscallError } from '../../daemon/linux/libc.js';

/** Mount points at or below `dir`, from /proc/self/mountinfo (field 5). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n');
  return lines.map((line) => line.split(' ')[4] ?? '').filter((point) => point === dir || point.startsWith(`${dir}/`));
}

/** Namespace links of every thread of this process, e.g. ["net:[4026531833]", ...] per kind. */
export async function threadNamespaces(kind: 'net' | 'ipc' | 'uts'): Promise<Map<string, string>> {
  const links = new Map<string, string>();
  for (const tid of await readdir('/proc/self/task')) {
    try {
      links.set(tid, await readlink(`/proc/self/task/${tid}/ns/${kind}`));
    } catch (err) {
      // A thread may end between readdir and readlink.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return links;
}

/** Thread ids of this process whose name (comm) is `name`. */
export async function threadsNamed(name: string): Promise<string[]> {
  const found: string[] = [];
  for (const tid of await readdir('/proc/self/task')) {
    const comm = await readFile(`/proc/self/task/${tid}/comm`, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    if (comm.trim() === name) found.push(tid);
  }
  return found;
}

/** Removes a NamespacePins state dir: the self bind mounts of netns/ and ns/ (pins first), then the files. */
export async function removePinRoot(stateDir: string): Promise<void> {
  for (const point of (await mountsUnder(stateDir)).reverse()) {
    try {
      umount2(point, MNT_DETACH);
    } catch (err) {
      if (!isSyscallError(err, 'EINVAL') && !isSyscallError(err, 'ENOENT')) throw err;
    }
  }
  await rm(stateDir, { recursive: true, force: true });
}

/** Runs a command inside the network namespace pinned at `pin`, as `ip netns exec` would. */
export function inNetns(pin: string, command: string[], options: { input?: string; timeout?: number } = {}) {
  return execa('nsenter', [`--net=${pin}`, '--', ...command], { timeout: options.timeout ?? 10_000, ...(options.input === undefined ? {} : { input: options.input }) });
}
