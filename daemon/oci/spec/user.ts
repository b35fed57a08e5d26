import { lstat, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { invalidArgument } from '../../errors/errors.js';

/**
 * Resolves the user a container runs as, the way containerd does: an explicit uid or user name from the CRI
 * security context wins over the image's `User`; names are looked up in the image's own /etc/passwd and
 * /etc/group (never the host's); the additional groups are the primary gid, every group naming the user as a
 * member, and the pod's supplemental groups.
 */
export interface PasswdEntry { name: string; uid: number; gid: number; home: string }
export interface GroupEntry { name: string; gid: number; members: string[] }

export interface UserRequest {
  runAsUser?: number;
  runAsUsername?: string;
  runAsGroup?: number;
  supplementalGroups: number[];
  /** The image config's `User` ("name", "uid", "name:group", "uid:gid"), used when the CRI names no user. */
  imageUser?: string;
}

export interface ResolvedUser { uid: number; gid: number; additionalGids: number[]; home: string }

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (f.length < 4 || !Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = Number(f[2]);
    if (f.length < 3 || !Number.isInteger(gid)) continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    out.push({ name: f[0]!, gid, members });
  }
  return out;
}

const isNumeric = (s: string): boolean => /^\d+$/.test(s);

/** The pure resolution over already-parsed files; `what` names the image for error messages. */
export function resolveUser(req: UserRequest, passwd: PasswdEntry[], groups: GroupEntry[], what: string): ResolvedUser {
  let uid: number;
  let gid: number | undefined = req.runAsGroup;
  let entry: PasswdEntry | undefined;
  if (req.runAsUser !== undefined) {
    uid = req.runAsUser;
    entry = passwd.find((p) => p.uid === uid);
  } else if (req.runAsUsername) {
    entry = passwd.find((p) => p.name === req.runAsUsername);
    if (!entry) {
      throw invalidArgument(
        `user "${req.runAsUsername}" is not in /etc/passwd of image ${what}; set runAsUser to a numeric uid or use a user the image defines`,
      );
    }
    uid = entry.uid;
  } else {
    const [userPart = '', groupPart] = (req.imageUser ?? '').split(':', 2);
    if (userPart === '') {
      uid = 0;
      entry = passwd.find((p) => p.uid === 0);
    } else if (isNumeric(userPart)) {
      uid = Number(userPart);
      entry = passwd.find((p) => p.uid === uid);
    } else {
      entry = passwd.find((p) => p.name === userPart);
      if (!entry) throw invalidArgument(`image ${what} runs as user "${userPart}", which its /etc/passwd does not define; set runAsUser in the pod spec`);
      uid = entry.uid;
    }
    if (gid === undefined && groupPart !== undefined && groupPart !== '') {
      if (isNumeric(groupPart)) gid = Number(groupPart);
      else {
        const g = groups.find((x) => x.name === groupPart);
        if (!g) throw invalidArgument(`image ${what} runs as group "${groupPart}", which its /etc/group does not define; set runAsGroup in the pod spec`);
        gid = g.gid;
      }
    }
  }
  const primary = gid ?? entry?.gid ?? 0;
  const extra: number[] = [primary];
  if (entry) for (const g of groups) if (g.members.includes(entry.name)) extra.push(g.gid);
  extra.push(...req.supplementalGroups);
  return { uid, gid: primary, additionalGids: [...new Set(extra)], home: entry?.home || '/' };
}

/** Symlink hops allowed while resolving a path, as the kernel's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;

/**
 * The host path of `rel` as a process chrooted at `root` would reach it: symlinks are followed with absolute
 * targets taken relative to `root`, and `..` stops at `root`. So an image's /etc/passwd -> /usr/lib/passwd works,
 * and /etc/passwd -> /etc/shadow or ../../../etc/shadow reads the image's file, never the host's. The rootfs is
 * not yet in use by any container here, so nothing can swap a component between the checks and the read.
 */
export async function resolveInRoot(root: string, rel: string): Promise<string | undefined> {
  const pending = rel.split('/').filter((p) => p !== '');
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    let isLink: boolean;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++hops > MAX_SYMLINKS) return undefined;
    const target = await readlink(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter((p) => p !== ''));
  }
  return path.join(root, ...resolved);
}

/** A file of the image's rootfs, resolved inside it; "" when it does not exist. */
async function readRootfsFile(rootfs: string, rel: string): Promise<string> {
  const file = await resolveInRoot(rootfs, rel);
  if (file === undefined) return '';
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/** Looks names up in the image rootfs at `rootfs` (the container's mounted rootfs). */
export async function resolveUserInRootfs(req: UserRequest, rootfs: string, what: string): Promise<ResolvedUser> {
  const [passwd, group] = await Promise.all([readRootfsFile(rootfs, 'etc/passwd'), readRootfsFile(rootfs, 'etc/group')]);
  return resolveUser(req, parsePasswd(passwd), parseGroup(group), what);
}
