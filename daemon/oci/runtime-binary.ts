import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import type { RuntimeHandlerConfig } from '../../config/types.js';
import { failedPrecondition, type BerthError } from '../errors/errors.js';

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/** Where the handler's `path` resolves the way execve via PATH would, or undefined when nothing runnable is there. */
export async function resolveRuntimeBinary(runtime: RuntimeHandlerConfig, searchPath = process.env['PATH'] ?? ''): Promise<string | undefined> {
  if (runtime.path.includes('/')) {
    const path = isAbsolute(runtime.path) ? runtime.path : join(process.cwd(), runtime.path);
    return (await isExecutableFile(path)) ? path : undefined;
  }
  for (const dir of searchPath.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, runtime.path);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** The operator-facing refusal for a handler whose binary is missing: what is missing and which key to change. */
export function missingRuntimeBinary(name: string, runtime: RuntimeHandlerConfig): BerthError {
  const where = runtime.path.includes('/') ? `${runtime.path} does not exist or is not executable` : `"${runtime.path}" is not found in PATH`;
  return failedPrecondition(
    `OCI runtime of handler "${name}": ${where}; install it or set [cri.runtimes.${name}] path in berth's config to its absolute path`,
    { handler: name, path: runtime.path },
  );
}

/** Per handler path, the binary requireRuntimeBinary found last. */
const lastFound = new Map<string, string>();

/**
 * Throws the FailedPrecondition above unless the handler's binary can be run; for the RPCs that start containers.
 * The binary found last time is checked first, so a pod start costs one stat and access instead of a PATH walk;
 * the answer is the same, since any runnable binary on the path passes.
 */
export async function requireRuntimeBinary(name: string, runtime: RuntimeHandlerConfig): Promise<void> {
  const known = lastFound.get(runtime.path);
  if (known !== undefined && (await isExecutableFile(known))) return;
  const resolved = await resolveRuntimeBinary(runtime);
  if (resolved === undefined) throw missingRuntimeBinary(name, runtime);
  lastFound.set(runtime.path, resolved);
}
