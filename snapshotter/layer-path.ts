/**
 * Pure rules for the names inside a layer tar: how an entry name maps to a path inside the snapshot, and which
 * names are OCI whiteouts. Anything that would leave the snapshot is refused here, before the disk is touched.
 */
import { invalidLayer } from './errors.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_WHITEOUT = '.wh..wh..opq';
const PATH_MAX = 4096;

/**
 * The components of entry `name` relative to the snapshot root, as tar resolves them: leading `/` stripped, `.` and
 * empty components dropped, `..` removing the previous component. A `..` that would climb above the root, or a NUL,
 * refuses the layer. The empty list is the root itself.
 */
export function entryComponents(name: string, entry: string = name): string[] {
  if (name.includes('\0')) throw invalidLayer(`layer entry "${entry}" has a NUL byte in its name`, { entry });
  // No syscall takes a longer path, and resolving one component at a time must stay cheap.
  if (Buffer.byteLength(name) > PATH_MAX) throw invalidLayer(`layer entry "${entry.slice(0, 100)}..." has a name longer than ${PATH_MAX} bytes`, { entry: entry.slice(0, 100) });
  const parts: string[] = [];
  for (const component of name.split('/')) {
    if (component === '' || component === '.') continue;
    if (component === '..') {
      if (parts.length === 0) {
        throw invalidLayer(`layer entry "${entry}" climbs out of the image root with "..": the layer is refused`, { entry, name });
      }
      parts.pop();
      continue;
    }
    parts.push(component);
  }
  return parts;
}

export type WhiteoutKind = { kind: 'opaque' } | { kind: 'whiteout'; name: string } | { kind: 'none' };

/** Whether the last component is an OCI whiteout, and of what. A whiteout of `.`, `..` or nothing is refused. */
export function whiteoutOf(basename: string, entry: string): WhiteoutKind {
  if (basename === OPAQUE_WHITEOUT) return { kind: 'opaque' };
  if (!basename.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  const name = basename.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') {
    throw invalidLayer(`layer entry "${entry}" is a whiteout of "${name}", which names no file: the layer is refused`, { entry });
  }
  return { kind: 'whiteout', name };
}
