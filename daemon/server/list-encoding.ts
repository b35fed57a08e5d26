import type { ServiceDefinition } from '@grpc/grpc-js';

type Encode = (value: Record<string, unknown>) => Buffer;

/**
 * A copy of `definition` whose list methods reuse the protobuf encoding of each item. `lists` maps a method to the
 * one repeated message field its response consists of (ListContainers: containers). Such a field encodes as the
 * concatenation of its items, each framed exactly as the response holding that item alone, so an item is encoded
 * once and kept for as long as the handler returns the same object: the views of ListContainers and
 * ListPodSandbox are shared per record version (perRecord), so only changed records are encoded again. kubelet
 * lists every second, and converting and encoding the items was half of berthd's CPU in those calls.
 */
export function cacheItemEncodings(definition: ServiceDefinition, lists: Readonly<Record<string, string>>): ServiceDefinition {
  const cached: Record<string, ServiceDefinition[string]> = { ...definition };
  for (const [method, field] of Object.entries(lists)) {
    const original = definition[method];
    if (original === undefined) throw new Error(`cacheItemEncodings: the service has no method ${method}`);
    const encode = original.responseSerialize as Encode;
    const items = new WeakMap<object, Buffer>();
    const encodeItem = (item: object): Buffer => {
      let bytes = items.get(item);
      if (bytes === undefined) {
        bytes = encode({ [field]: [item] });
        items.set(item, bytes);
      }
      return bytes;
    };
    const responseSerialize: Encode = (value) => {
      const list = value[field];
      // Anything but the bare list (another field set, a non-object item) is encoded as a whole, as before.
      if (!Array.isArray(list) || Object.keys(value).length !== 1 || !list.every((item) => typeof item === 'object' && item !== null)) {
        return encode(value);
      }
      return Buffer.concat(list.map(encodeItem));
    };
    cached[method] = { ...original, responseSerialize };
  }
  return cached;
}
