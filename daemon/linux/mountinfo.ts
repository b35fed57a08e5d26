import { readFile } from 'node:fs/promises';

/**
 * Mount points as the kernel sees them (/proc/self/mountinfo), for the callers that must find what is still
 * mounted under berth's directories however it got there: the doctor, restart sweeps, the tests' leak checks.
 * Reading mountinfo rather than berth's records is the point: it also shows what a crash left behind.
 */

/** Decodes the octal escapes mountinfo writes for space, tab, newline and backslash in paths (\040 ...). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * Mount points (field 5 of each mountinfo line) at or below any of `dirs`, in mount order, so a mount stacked
 * on or inside another comes after it: unmount in reverse.
 */
export function mountPointsIn(mountinfo: string, dirs: string[]): string[] {
  const prefixes = dirs.map((dir) => (dir.endsWith('/') ? dir : `${dir}/`));
  const under = (point: string): boolean => dirs.includes(point) || prefixes.some((prefix) => point.startsWith(prefix));
  return mountinfo
    .split('\n')
    .map((line) => unescapeMountPath(line.split(' ')[4] ?? ''))
    .filter((point) => point !== '' && under(point));
}

/** This mount namespace's mount points at or below any of `dirs`; see mountPointsIn. */
export async function mountPoints(dirs: string[]): Promise<string[]> {
  return mountPointsIn(await readFile('/proc/self/mountinfo', 'utf8'), dirs);
}
