import { readFileInRoot } from '../../../snapshotter/image-file.js';
import { invalidArgument } from '../../errors/errors.js';
import { asBerthError } from '../../images/snapshot-errors.js';

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

/** An /etc/passwd or /etc/group larger than this is refused, not read: it would only serve to exhaust berthd. */
const MAX_ACCOUNT_FILE = 1 << 20;

/**
 * A file of the image's rootfs, resolved inside it as a chrooted process would (symlinks never reach the host);
 * "" when it does not exist. A FIFO, device or oversized file is refused, not opened or read without bound.
 */
async function readRootfsFile(rootfs: string, rel: string, what: string): Promise<string> {
  try {
    return (await readFileInRoot(rootfs, rel, MAX_ACCOUNT_FILE))?.toString('utf8') ?? '';
  } catch (err) {
    throw asBerthError(err, `reading /${rel} of image ${what} to look its users up`);
  }
}

/** Looks names up in the image rootfs at `rootfs` (the container's mounted rootfs). */
export async function resolveUserInRootfs(req: UserRequest, rootfs: string, what: string): Promise<ResolvedUser> {
  const [passwd, group] = await Promise.all([readRootfsFile(rootfs, 'etc/passwd', what), readRootfsFile(rootfs, 'etc/group', what)]);
  return resolveUser(req, parsePasswd(passwd), parseGroup(group), what);
}
