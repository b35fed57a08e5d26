import type { RuntimeRpc } from '../handler.js';
import { podSandboxes } from './list-pod-sandbox.js';
import { writePages } from './pages.js';

/** ListPodSandbox in pages. */
export const streamPodSandboxes: RuntimeRpc<'StreamPodSandboxes'> = async (request, ctx, sink) =>
  writePages(podSandboxes(request.filter, ctx), (page) => sink.write({ pod_sandboxes: page }));
