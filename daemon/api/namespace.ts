import { CRI_NAMESPACE } from '../images/image-service.js';
import { checkNamespace } from '../images/image-store.js';

/** The namespace a berth API request names; "" is the CRI's, as berthctl's default. */
export function requestNamespace(request: { namespace: string }): string {
  const namespace = request.namespace === '' ? CRI_NAMESPACE : request.namespace;
  checkNamespace(namespace);
  return namespace;
}
