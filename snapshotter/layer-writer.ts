/**
 * Writes the entries of one layer tar into an active snapshot's overlay upper dir, without mounting, so that the
 * overlay of (upper, lowers) shows what the layer means (OCI image-spec "Applying changesets").
 *
 * Safety rules — a hostile layer must not create, change or delete anything outside the upper dir:
 * - names are resolved lexically (layer-path.ts); `..` above the root refuses the layer;
 * - symlinks among an entry's parent directories are resolved by hand, scoped to the image root as securejoin does:
 *   an absolute target starts at the image root, `..` stops there, lookups follow the overlay's merged view (upper
 *   first, then the lowers, honouring whiteouts and opaque dirs). A layer can write through `/bin -> usr/bin`, and
 *   a symlink to `/etc` or `../../..` only ever leads back into the image. The file system is then only asked
 *   about real directories: the resolved path is re-checked to hold no symlink before anything is written;
 * - the last component is never followed: an existing object is unlinked (or, for a directory, removed
 *   recursively, which does not follow symlinks) before a new one is made; files are opened O_CREAT|O_EXCL|
 *   O_NOFOLLOW and their owner and mode are set on the open descriptor; symlinks get lchown/lutimes;
 * - hard links point at objects resolved by the same rules; a target found only in a lower layer is copied up;
 * - lower dirs are only read.
 * The unpack is the only writer of the upper dir while it runs, so a path checked here stays what it was.
 *
 * File system calls are synchronous on purpose: each takes microseconds, while a round trip through libuv's thread
 * pool for the ~8 calls an entry needs made unpacking many small files several times slower. The event loop still
 * turns between entries and between chunks of file content; only copying a lower file up is asynchronous.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Header } from 'tar-stream';
import { invalidLayer } from './errors.js';
import { entryComponents, whiteoutOf } from './layer-path.js';
import { isErrno, lgetxattr, llistxattr, lsetxattr, makedev, mknod } from './libc.js';
import type { SnapshotLogger } from './log.js';
import { RAW_XATTR_PREFIX } from './pax-xattrs.js';
import { resolveScoped } from './scoped-path.js';

const OPAQUE_XATTR = 'trusted.overlay.opaque';
/** Xattrs that steer overlayfs itself (opaque, redirect, metacopy, origin); a layer may not set them directly. */
const OVERLAY_XATTR_PREFIXES = ['trusted.overlay.', 'user.overlay.'];
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/**
 * A tar entry's header as tar-stream parses it: PAX records (decoded as UTF-8 strings) under `pax`, and a null
 * `type` for a type flag it does not know.
 */
export type LayerHeader = Omit<Header, 'pax' | 'type'> & { pax?: Record<string, string> | null; type: Header['type'] | null };

interface Times {
  atime: Date;
  mtime: Date;
}

/** The object the merged view shows at a path: where it lives and what it is. */
interface Found {
  path: string;
  st: Stats;
}

export class LayerWriter {
  /** Upper-relative paths known to be real directories in the upper dir (saves re-resolving every entry). */
  private readonly upperDirs = new Set<string>(['']);
  /** Directory times to set once the whole layer is written, since writing into a directory changes its mtime. */
  private readonly dirTimes = new Map<string, Times>();

  constructor(
    private readonly upper: string,
    private readonly lowers: readonly string[],
    private readonly log: SnapshotLogger,
  ) {}

  /** Writes one entry; `body` is its content stream (read only for regular files). */
  async write(header: LayerHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    const entry = header.name;
    checkHeader(header);
    const parts = entryComponents(entry);
    const base = parts[parts.length - 1];
    if (base === undefined) {
      if (header.type !== 'directory') throw invalidLayer(`layer entry "${entry}" names the image root but is a ${header.type ?? 'unknown entry'}`, { entry });
      this.setMetadata(this.upper, header, entry);
      this.dirTimes.set('', timesOf(header));
      return;
    }
    for (const component of parts.slice(0, -1)) {
      if (whiteoutOf(component, entry).kind !== 'none') throw invalidLayer(`layer entry "${entry}" has a whiteout as a directory on its path`, { entry });
    }
    const parentParts = this.resolveDir(parts.slice(0, -1), entry);
    const whiteout = whiteoutOf(base, entry);
    if (whiteout.kind === 'opaque') {
      const dir = this.ensureDir(parentParts, entry, false);
      if (dir !== undefined) lsetxattr(dir, OPAQUE_XATTR, Buffer.from('y'));
      return;
    }
    if (whiteout.kind === 'whiteout') {
      this.whiteout([...parentParts, whiteout.name], entry);
      return;
    }
    const dir = this.ensureDir(parentParts, entry, true);
    if (dir === undefined) throw new Error(`unreachable: ensureDir created no parent for "${entry}"`);
    await this.writeObject([...parentParts, base], join(dir, base), header, body);
  }

  /** Sets the directory times recorded during the unpack; call once after the last entry. */
  finish(): void {
    for (const [rel, times] of this.dirTimes) lutimesSync(join(this.upper, rel), times.atime, times.mtime);
  }

  private async writeObject(parts: string[], path: string, header: LayerHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    const entry = header.name;
    const rel = parts.join('/');
    const existing = lstatOrUndefined(path);
    switch (header.type) {
      case 'directory': {
        if (existing?.isDirectory() !== true) {
          if (existing !== undefined) this.removeExisting(rel, existing);
          mkdirSync(path, { mode: 0o700 });
          // This replaced a non-directory of this layer, which hid whatever the lower layers hold here; a fresh
          // directory must keep hiding it rather than merge with it.
          if (existing !== undefined) lsetxattr(path, OPAQUE_XATTR, Buffer.from('y'));
          this.upperDirs.add(rel);
        }
        this.setMetadata(path, header, entry);
        this.dirTimes.set(rel, timesOf(header));
        return;
      }
      case 'file':
      case 'contiguous-file': {
        if (existing !== undefined) this.removeExisting(rel, existing);
        const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          // A zero-length entry's body never ends: only read a body that has bytes.
          if (header.size > 0) {
            for await (const chunk of body) {
              for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done);
            }
          }
          fchownSync(fd, header.uid, header.gid);
          // After chown, which clears set-user-ID and set-group-ID.
          fchmodSync(fd, header.mode & 0o7777);
        } finally {
          closeSync(fd);
        }
        this.setXattrs(path, header, entry);
        lutimesSync(path, timesOf(header).atime, timesOf(header).mtime);
        return;
      }
      case 'symlink': {
        if (existing !== undefined) this.removeExisting(rel, existing);
        symlinkSync(header.linkname ?? '', path);
        lchownSync(path, header.uid, header.gid);
        this.setXattrs(path, header, entry);
        lutimesSync(path, timesOf(header).atime, timesOf(header).mtime);
        return;
      }
      case 'link': {
        const linkParts = entryComponents(header.linkname ?? '', entry);
        const linkBase = linkParts[linkParts.length - 1];
        if (linkBase === undefined) throw invalidLayer(`layer entry "${entry}" is a hard link to the image root`, { entry });
        const targetParts = [...this.resolveDir(linkParts.slice(0, -1), entry), linkBase];
        const targetRel = targetParts.join('/');
        // Making the link replaces what is at `rel`, which would delete a target at or below it first.
        if (targetRel === rel || targetRel.startsWith(`${rel}/`)) throw invalidLayer(`layer entry "${entry}" is a hard link to itself or into what it replaces`, { entry });
        const target = await this.upperObjectFor(targetParts, entry);
        const current = lstatOrUndefined(path);
        if (current !== undefined) this.removeExisting(rel, current);
        // link(2) does not follow a symlink target: the new name shares the symlink's inode, as tar does.
        linkSync(target, path);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        if (existing !== undefined) this.removeExisting(rel, existing);
        const typeBits = header.type === 'fifo' ? S_IFIFO : header.type === 'block-device' ? S_IFBLK : S_IFCHR;
        try {
          mknod(path, typeBits | 0o600, makedev(header.devmajor ?? 0, header.devminor ?? 0));
        } catch (err) {
          if (!isErrno(err, 'EPERM')) throw err;
          this.log.warn({ entry, type: header.type }, 'layer unpack: skipping a device node this process may not create (EPERM); the container gets its devices from the runtime');
          return;
        }
        this.setMetadata(path, header, entry);
        lutimesSync(path, timesOf(header).atime, timesOf(header).mtime);
        return;
      }
      default:
        throw invalidLayer(`layer entry "${entry}" has tar type ${header.type ?? 'unknown'}, which berth does not unpack: the layer is refused`, { entry });
    }
  }

  /**
   * The real path of directory `parts` in the merged view, symlinks on the way followed inside the image root (see
   * the safety rules above, and scoped-path.ts). Every component of the result is a directory in the merged view or
   * absent (to be created), bar a non-directory last one, which ensureDir refuses; a file on the way, too many
   * symlinks or too long a resolution refuses the layer.
   */
  private resolveDir(parts: string[], entry: string): string[] {
    if (this.upperDirs.has(parts.join('/'))) return parts;
    return resolveScoped(
      parts,
      (candidate) => this.lookup(candidate, entry),
      (failure) => {
        if (failure.reason === 'not-a-directory') return invalidLayer(`layer entry "${entry}" lies under "${failure.at}", which is not a directory: the layer is refused`, { entry, path: failure.at });
        const why = failure.reason === 'loop' ? 'more than 40 symlinks on its path' : 'resolving its directory visits too many path components';
        return invalidLayer(`layer entry "${entry}": ${why}: the layer is refused`, { entry });
      },
    );
  }

  /**
   * Makes sure the directory `parts` (resolved: no symlinks) exists as a real directory in the upper dir and returns its path. A directory
   * the merged view shows only in a lower layer is created in the upper dir with the lower one's owner, mode, xattrs
   * and times (what overlayfs' copy-up does). Absent everywhere: created 0755 root-owned as tar does, or, with
   * `create` false, undefined. A symlink or non-directory on the way (which resolveDir rules out) refuses the layer.
   */
  private ensureDir(parts: string[], entry: string, create: boolean): string | undefined {
    if (this.upperDirs.has(parts.join('/'))) return join(this.upper, ...parts);
    let rel = '';
    for (let i = 1; i <= parts.length; i++) {
      rel = i === 1 ? parts[0]! : `${rel}/${parts[i - 1]!}`;
      if (this.upperDirs.has(rel)) continue;
      const path = join(this.upper, rel);
      const inUpper = lstatOrUndefined(path);
      if (inUpper?.isDirectory() === true) {
        this.upperDirs.add(rel);
        continue;
      }
      if (inUpper !== undefined && !isWhiteout(inUpper)) throw this.notADirectory(entry, rel, inUpper);
      if (inUpper !== undefined) {
        // Deleted earlier in this layer and used again: a new directory, hiding the lower layers' one.
        if (!create) return undefined;
        unlinkSync(path);
        this.makeDir(path, undefined);
        lsetxattr(path, OPAQUE_XATTR, Buffer.from('y'));
        this.upperDirs.add(rel);
        continue;
      }
      const found = this.lookup(parts.slice(0, i), entry);
      if (found === undefined && !create) return undefined;
      if (found !== undefined && !found.st.isDirectory()) throw this.notADirectory(entry, rel, found.st);
      this.makeDir(path, found);
      this.upperDirs.add(rel);
    }
    return join(this.upper, ...parts);
  }

  private makeDir(path: string, lower: Found | undefined): void {
    mkdirSync(path, { mode: 0o700 });
    if (lower === undefined) {
      chmodSync(path, 0o755);
      return;
    }
    lchownSync(path, lower.st.uid, lower.st.gid);
    chmodSync(path, lower.st.mode & 0o7777);
    this.copyXattrs(lower.path, path);
    this.dirTimes.set(path.slice(this.upper.length + 1), { atime: lower.st.atime, mtime: lower.st.mtime });
  }

  /**
   * What the merged view (upper, then lowers topmost first) shows at `parts`, or undefined. Walks one component at a
   * time and only descends into real directories, so no lstat here passes through a symlink; a symlink or file
   * before the last component refuses the layer (callers pass resolved paths, so this is a second line of defence).
   */
  private lookup(parts: string[], entry: string): Found | undefined {
    let layers = [this.upper, ...this.lowers];
    let found: Found | undefined;
    for (let i = 0; i < parts.length; i++) {
      const rel = parts.slice(0, i + 1).join('/');
      found = undefined;
      const merged: string[] = [];
      for (const layer of layers) {
        const path = join(layer, rel);
        const st = lstatOrUndefined(path);
        if (st === undefined) continue;
        if (isWhiteout(st)) break;
        found ??= { path, st };
        // overlayfs merges directories only, down to the first opaque one; anything else below stops the merge.
        if (!st.isDirectory()) break;
        merged.push(layer);
        if (lgetxattr(path, OPAQUE_XATTR)?.toString() === 'y') break;
      }
      if (found === undefined) return undefined;
      if (i < parts.length - 1 && !found.st.isDirectory()) throw this.notADirectory(entry, rel, found.st);
      layers = merged;
    }
    return found;
  }

  /** The upper-dir path of hard link target `parts`, copying it up from a lower layer first if needed. */
  private async upperObjectFor(parts: string[], entry: string): Promise<string> {
    const rel = parts.join('/');
    const found = parts.length === 0 ? undefined : this.lookup(parts, entry);
    if (found === undefined) throw invalidLayer(`layer entry "${entry}" is a hard link to "${rel}", which does not exist in the image`, { entry });
    if (found.st.isDirectory()) throw invalidLayer(`layer entry "${entry}" is a hard link to directory "${rel}"`, { entry });
    const path = join(this.upper, rel);
    if (found.path === path) return path;
    const dir = this.ensureDir(parts.slice(0, -1), entry, true);
    if (dir === undefined) throw new Error(`unreachable: ensureDir created no parent for "${entry}"`);
    await this.copyUp(found, path);
    return path;
  }

  private async copyUp(from: Found, to: string): Promise<void> {
    const { st } = from;
    if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(from.path), to);
    } else if (st.isFile()) {
      // The source is a regular file in an immutable lower layer (checked with lstat just now).
      await copyFile(from.path, to, constants.COPYFILE_EXCL);
    } else {
      mknod(to, st.mode, BigInt(st.rdev));
    }
    lchownSync(to, st.uid, st.gid);
    if (!st.isSymbolicLink()) chmodSync(to, st.mode & 0o7777);
    this.copyXattrs(from.path, to);
    lutimesSync(to, st.atime, st.mtime);
  }

  private whiteout(parts: string[], entry: string): void {
    const dir = this.ensureDir(parts.slice(0, -1), entry, false);
    // Nothing on the merged path: there is nothing to hide.
    if (dir === undefined) return;
    const path = join(this.upper, ...parts);
    const existing = lstatOrUndefined(path);
    if (existing === undefined) {
      mknod(path, S_IFCHR, makedev(0, 0));
      return;
    }
    // A whiteout hides the lower layers only; what this layer put here stays. A directory of this layer must stop
    // merging with the lower ones; a non-directory already hides them.
    if (existing.isDirectory()) lsetxattr(path, OPAQUE_XATTR, Buffer.from('y'));
  }

  private removeExisting(rel: string, st: Stats): void {
    const path = join(this.upper, rel);
    if (!st.isDirectory()) {
      unlinkSync(path);
      return;
    }
    // rm removes symlinks inside the tree rather than following them.
    rmSync(path, { recursive: true });
    for (const known of [...this.upperDirs]) if (known === rel || known.startsWith(`${rel}/`)) this.upperDirs.delete(known);
    for (const known of [...this.dirTimes.keys()]) if (known === rel || known.startsWith(`${rel}/`)) this.dirTimes.delete(known);
  }

  /** Owner, then mode (chown clears set-ID bits), then xattrs (chown clears security.capability). Never a symlink. */
  private setMetadata(path: string, header: LayerHeader, entry: string): void {
    lchownSync(path, header.uid, header.gid);
    chmodSync(path, header.mode & 0o7777);
    this.setXattrs(path, header, entry);
  }

  private setXattrs(path: string, header: LayerHeader, entry: string): void {
    for (const [name, value] of xattrsOf(header, entry, this.log)) {
      try {
        lsetxattr(path, name, value);
      } catch (err) {
        // user.* xattrs are not allowed on symlinks and some file systems lack a namespace; the file stays usable.
        if (!isErrno(err, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP')) throw err;
        this.log.warn({ entry, xattr: name, err }, 'layer unpack: skipping an xattr this file system or file type does not take');
      }
    }
  }

  private copyXattrs(from: string, to: string): void {
    for (const name of llistxattr(from)) {
      if (OVERLAY_XATTR_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
      const value = lgetxattr(from, name);
      if (value !== undefined) lsetxattr(to, name, value);
    }
  }

  private notADirectory(entry: string, rel: string, st: Stats): Error {
    const what = st.isSymbolicLink() ? 'a symlink where a resolved path must hold none' : 'not a directory';
    return invalidLayer(`layer entry "${entry}" lies under "${rel}", which is ${what}: the layer is refused`, { entry, path: rel });
  }
}

/**
 * xattrs carried as PAX records: SCHILY.xattr.<name> (raw bytes, kept exact by pax-xattrs.ts) and
 * LIBARCHIVE.xattr.<url-encoded name> (base64).
 */
function xattrsOf(header: LayerHeader, entry: string, log: SnapshotLogger): Array<[string, Buffer]> {
  const result: Array<[string, Buffer]> = [];
  for (const [key, value] of Object.entries(header.pax ?? {})) {
    let name: string;
    let bytes: Buffer;
    if (key.startsWith(RAW_XATTR_PREFIX)) {
      name = key.slice(RAW_XATTR_PREFIX.length);
      bytes = Buffer.from(value, 'base64');
    } else if (key.startsWith('LIBARCHIVE.xattr.')) {
      name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
      bytes = Buffer.from(value, 'base64');
    } else {
      continue;
    }
    if (OVERLAY_XATTR_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      log.warn({ entry, xattr: name }, 'layer unpack: ignoring an overlayfs control xattr carried in the layer');
      continue;
    }
    result.push([name, bytes]);
  }
  return result;
}

function timesOf(header: LayerHeader): Times {
  const mtime = paxTime(header.pax?.['mtime']) ?? validDate(header.mtime) ?? new Date(0);
  return { atime: paxTime(header.pax?.['atime']) ?? mtime, mtime };
}

function paxTime(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  return validDate(new Date(Number(value) * 1000));
}

/** A Date the file system can take, or undefined (NaN, or beyond ±8.64e15 ms). */
function validDate(date: Date | undefined): Date | undefined {
  return date !== undefined && Number.isFinite(date.getTime()) ? date : undefined;
}

const MAX_ID = 2 ** 32 - 2;

/** Header fields the syscalls would reject with an untyped error: refused as a malformed layer instead. */
function checkHeader(header: LayerHeader): void {
  const entry = header.name;
  for (const [what, id] of [['uid', header.uid], ['gid', header.gid]] as const) {
    if (!Number.isInteger(id) || id < 0 || id > MAX_ID) throw invalidLayer(`layer entry "${entry}" has ${what} ${id}, which no file can have`, { entry });
  }
  if (header.type === 'symlink' || header.type === 'link') {
    const target = header.linkname ?? '';
    if (target === '' || target.includes('\0') || Buffer.byteLength(target) > 4095) {
      throw invalidLayer(`layer entry "${entry}" is a ${header.type} with an empty, NUL-bearing or overlong target`, { entry });
    }
  }
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}
