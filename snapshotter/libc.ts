/**
 * The few Linux syscalls the snapshotter needs that Node lacks (mount, umount2, mknod, the l*xattr family), bound
 * from libc with koffi. Each wrapper throws a Node-style error (code 'EPERM', errno, syscall, path) so callers
 * handle them like fs errors.
 */
import koffi from 'koffi';
import { constants as osConstants } from 'node:os';

const libc = koffi.load('libc.so.6');

const mountFn = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
const umount2Fn = libc.func('int umount2(const char *target, int flags)');
const mknodFn = libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');
const lsetxattrFn = libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)');
const lgetxattrFn = libc.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)');
const llistxattrFn = libc.func('intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)');
const syncfsFn = libc.func('int syncfs(int fd)');

export const MS_RDONLY = 0x1;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MNT_DETACH = 0x2;

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));

export interface SyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path: string;
}

function fail(syscall: string, path: string): never {
  const errno = koffi.errno();
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const err = new Error(`${syscall} ${path}: ${code}`) as SyscallError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  err.path = path;
  throw err;
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as Partial<SyscallError>).code ?? '');
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
  if (mountFn(source, target, fstype, flags, data) !== 0) fail('mount', target);
}

export function umount2(target: string, flags: number): void {
  if (umount2Fn(target, flags) !== 0) fail('umount2', target);
}

/** The kernel's encoding of a device number (glibc's makedev). */
export function makedev(major: number, minor: number): bigint {
  const maj = BigInt(major);
  const min = BigInt(minor);
  return ((maj & 0xfffff000n) << 32n) | ((maj & 0xfffn) << 8n) | ((min & 0xffffff00n) << 12n) | (min & 0xffn);
}

/** mknod(2): `mode` carries the file type bits (S_IFCHR, S_IFBLK, S_IFIFO) and the permission bits. */
export function mknod(path: string, mode: number, dev: bigint): void {
  if (mknodFn(path, mode, dev) !== 0) fail('mknod', path);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  if (lsetxattrFn(path, name, value, value.length, 0) !== 0) fail('lsetxattr', path);
}

/** The value of xattr `name`, or undefined when the file does not carry it. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  for (;;) {
    const size = Number(lgetxattrFn(path, name, null, 0));
    if (size < 0) {
      if (koffi.errno() === osConstants.errno.ENODATA) return undefined;
      fail('lgetxattr', path);
    }
    const buf = Buffer.alloc(size);
    const got = Number(lgetxattrFn(path, name, buf, size));
    if (got >= 0) return buf.subarray(0, got);
    // The value grew between the two calls: ask for its size again.
    if (koffi.errno() !== osConstants.errno.ERANGE) fail('lgetxattr', path);
  }
}

/**
 * syncfs(2) on koffi's worker thread (writing back a layer can take seconds on a busy disk; the event loop must not
 * wait) and without spawning sync(1). Resolves to its return value: 0, or -1 on failure, whose errno koffi does not
 * carry back from the worker thread.
 */
export function syncfs(fd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    syncfsFn.async(fd, (err: unknown, result: number) => (err ? reject(err) : resolve(result)));
  });
}

export function llistxattr(path: string): string[] {
  for (;;) {
    const size = Number(llistxattrFn(path, null, 0));
    if (size < 0) fail('llistxattr', path);
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const got = Number(llistxattrFn(path, buf, size));
    if (got >= 0) return buf.subarray(0, got).toString('utf8').split('\0').filter((name) => name !== '');
    if (koffi.errno() !== osConstants.errno.ERANGE) fail('llistxattr', path);
  }
}
