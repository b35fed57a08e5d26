import { readFile, readdir, readlink, rm } from 'node:fs/promises';
import { execa } from 'execa';
import { MNT_DETACH, umount2, isSyscallError } from '../../daemon/linux/libc.js';
import { mountPoints } from '../../daemon/linux/mountinfo.js';

/** Mount points at or below `dir`, in mount order (unmount in reverse). */
export function mountsUnder(dir: string): Promise<string[]> {
  return mountPoints([dir]);
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

/**
 * Removes the node-wide chains the portmap plugin creates on first use (its DEL removes only per-pod rules), once
 * no pod rule is left in them, so a test run leaves iptables as it found it.
 */
export async function removeIdlePortmapChains(): Promise<void> {
  const rules = (await execa('iptables', ['-t', 'nat', '-S'])).stdout.split('\n');
  if (rules.some((rule) => rule.startsWith('-A CNI-HOSTPORT-DNAT ') || rule.startsWith('-A CNI-DN-'))) return;
  for (const rule of rules.filter((line) => /^-A (PREROUTING|OUTPUT|POSTROUTING) .*-j CNI-HOSTPORT-/.test(line))) {
    await execa('iptables', ['-t', 'nat', '-D', ...splitRule(rule.slice(3))]);
  }
  for (const chain of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']) {
    await execa('iptables', ['-t', 'nat', '-F', chain], { reject: false });
    await execa('iptables', ['-t', 'nat', '-X', chain], { reject: false });
  }
}

/** Splits an `iptables -S` rule into arguments, keeping quoted comments whole. */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2]!);
}
