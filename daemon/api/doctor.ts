import { allNamespaces, runDoctor } from '../doctor/doctor.js';
import type { BerthRpc } from './handler.js';

/** berthctl doctor [--fix]: every namespace with records on disk is opened (and so recovered) and checked. */
export const doctor: BerthRpc<'Doctor', 'Check'> = async (request, ctx) => {
  const deps = { config: ctx.config, namespaces: () => allNamespaces(ctx.namespaces, ctx.logger), images: ctx.images, snapshotter: ctx.snapshotter, logger: ctx.logger };
  const findings = await runDoctor(deps, request.fix);
  return {
    findings: findings.map((f) => ({ kind: f.kind, namespace: f.namespace, subject: f.subject, detail: f.detail, fixed: f.fixed ?? false, fix_error: f.fixError ?? '' })),
  };
};
