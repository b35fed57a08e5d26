/**
 * Path resolution scoped to a root, as for a process chrooted there (what securejoin does): symlinks are followed
 * by reading them, an absolute target starts again at the root, and `..` at the root stays at the root. The caller
 * supplies the lookup (a plain directory tree, or the merged view of an overlay's layers), so nothing here asks
 * the kernel to follow a symlink.
 */
import type { Stats } from 'node:fs';
import { readlinkSync } from 'node:fs';

/** Linux's limit on symlinks followed in one path resolution (ELOOP). */
const MAX_SYMLINK_HOPS = 40;
/** Components one resolution may visit: bounds the work a chain of long symlink targets can cause. */
const MAX_RESOLVE_STEPS = 8192;

/** What is at `parts` (components below the root, each a resolved directory but the last): where it lives, or undefined. */
export type ScopedLookup = (parts: string[]) => { path: string; st: Stats } | undefined;

export type ScopeFailure = { reason: 'loop' | 'too-long' } | { reason: 'not-a-directory'; at: string };

/**
 * Resolves `parts` below the root, following every symlink on the way (the last component's too), and returns the
 * real components: every one but the last a directory, the last whatever is there (or absent). A non-directory with
 * components after it, too many symlinks or too long a walk ends in `fail`.
 */
export function resolveScoped(parts: readonly string[], lookup: ScopedLookup, fail: (failure: ScopeFailure) => Error): string[] {
  const resolved: string[] = [];
  const pending = [...parts];
  let hops = 0;
  let steps = 0;
  for (let component = pending.shift(); component !== undefined; component = pending.shift()) {
    if (++steps > MAX_RESOLVE_STEPS) throw fail({ reason: 'too-long' });
    if (component === '' || component === '.') continue;
    if (component === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, component];
    const found = lookup(candidate);
    if (found?.st.isSymbolicLink() === true) {
      if (++hops > MAX_SYMLINK_HOPS) throw fail({ reason: 'loop' });
      const target = readlinkSync(found.path, 'utf8');
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/'));
      continue;
    }
    if (found !== undefined && !found.st.isDirectory() && pending.some((c) => c !== '' && c !== '.')) {
      throw fail({ reason: 'not-a-directory', at: candidate.join('/') });
    }
    resolved.push(component);
  }
  return resolved;
}
