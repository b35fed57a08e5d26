import { runDoctor } from '../doctor/doctor.js';
import type { PodServices } from '../sandbox/open.js';
import type { BerthRpc } from './handler.js';

/** berthctl doctor [--fix]: every namespace with records on disk is opened (and so recovered) and checked. */
export const doctor: BerthRpc<'Doctor', 'Check'> = async (request, ctx) => {
  const namespaces = async (): Promise<Map<string, PodServices>> => {
    for (const name of await ctx.namespaces.onDisk()) {
      // A directory that is no valid namespace name holds nothing berth made; the doctor leaves it alone.
      await Promise.resolve()
        .then(() => ctx.namespaces.get(name))
        .catch((err: unknown) => ctx.logger.warn({ err, namespace: name }, 'doctor skips a metadata directory'));
    }
    return ctx.namespaces.all();
  };
  const findings = await runDoctor({ config: ctx.config, namespaces, images: ctx.images, snapshotter: ctx.snapshotter, logger: ctx.logger }, request.fix);
  return {
    findings: findings.map((f) => ({ kind: f.kind, namespace: f.namespace, subject: f.subject, detail: f.detail, fixed: f.fixed ?? false, fix_error: f.fixError ?? '' })),
  };
};
