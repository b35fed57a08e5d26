import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRI_LOADER_OPTIONS, protoFile } from '../../proto/cri-proto.js';
import { cleanupPods } from '../fixtures/pods.js';
import { startBerthd, type BerthdHandle } from '../harness/berthd.js';

/**
 * Random and malformed CRI requests for every RPC of RuntimeService and ImageService: messages whose fields take
 * arbitrary values of their proto types (built from the proto's descriptors), and raw bytes that are no valid
 * message at all. berthd must answer each with a gRPC status and keep running.
 */

const RUNS_PER_RPC = 30;
const GARBAGE_PER_RPC = 5;
const CALL_DEADLINE_MS = 5000;
const MAX_DEPTH = 4;

interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: (MessageDescriptor & { options: { mapEntry?: boolean } | null })[];
  enumType: EnumDescriptor[];
}
interface EnumDescriptor {
  name: string;
  value: { name: string; number: number }[];
}

const definition = protoLoader.loadSync(protoFile('cri/api.proto'), CRI_LOADER_OPTIONS);

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', '..', '../../etc/passwd', '/', 'k8s.io', 'a'.repeat(64), '\u0000', 'sha256:', 'busybox', 'localhost:1/x'),
  fc.string({ unit: 'binary', maxLength: 300 }),
);
const scalars: Record<string, fc.Arbitrary<unknown>> = {
  TYPE_STRING: text,
  TYPE_BOOL: fc.boolean(),
  TYPE_INT32: fc.integer(),
  TYPE_SINT32: fc.integer(),
  TYPE_UINT32: fc.nat(),
  TYPE_FIXED32: fc.nat(),
  TYPE_INT64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  TYPE_SINT64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  TYPE_UINT64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
  TYPE_FIXED64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
  TYPE_DOUBLE: fc.double(),
  TYPE_FLOAT: fc.float(),
  TYPE_BYTES: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
};

/**
 * The descriptor a field's typeName names: a type or enum nested in the message, else a type of the package
 * (looked up under the message's full name first, then at the top).
 */
function resolve(typeName: string, parent: MessageDescriptor, parentName: string): { message?: Typed; enumType?: EnumDescriptor } {
  const nested = parent.nestedType.find((n) => n.name === typeName);
  if (nested !== undefined) return { message: { name: `${parentName}.${typeName}`, type: nested } };
  const nestedEnum = parent.enumType.find((e) => e.name === typeName);
  if (nestedEnum !== undefined) return { enumType: nestedEnum };
  for (const name of [`${parentName}.${typeName}`, `runtime.v1.${typeName}`]) {
    const entry = definition[name] as { format: string; type: unknown } | undefined;
    if (entry === undefined) continue;
    return entry.format.includes('EnumDescriptorProto') ? { enumType: entry.type as EnumDescriptor } : { message: { name, type: entry.type as MessageDescriptor } };
  }
  throw new Error(`unknown proto type ${typeName} in ${parentName}`);
}

interface Typed {
  name: string;
  type: MessageDescriptor & { options?: { mapEntry?: boolean } | null };
}

function messageArb({ name, type: message }: Typed, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of message.field) {
    let value: fc.Arbitrary<unknown>;
    if (field.type === 'TYPE_MESSAGE') {
      if (depth >= MAX_DEPTH) continue;
      const inner = resolve(field.typeName, message, name).message!;
      if (inner.type.options?.mapEntry) {
        const valueField = inner.type.field.find((f) => f.name === 'value')!;
        const valueArb = valueField.type === 'TYPE_MESSAGE' ? messageArb(resolve(valueField.typeName, inner.type, inner.name).message!, depth + 1) : scalars[valueField.type]!;
        fields[field.name] = fc.dictionary(fc.string({ maxLength: 20 }), valueArb, { maxKeys: 4 });
        continue;
      }
      value = messageArb(inner, depth + 1);
    } else if (field.type === 'TYPE_ENUM') {
      const { enumType } = resolve(field.typeName, message, name);
      value = fc.oneof(fc.constantFrom(...enumType!.value.map((v) => v.name)), fc.integer({ min: 0, max: 1000 }));
    } else {
      value = scalars[field.type]!;
    }
    fields[field.name] = field.label === 'LABEL_REPEATED' ? fc.array(value, { maxLength: 4 }) : value;
  }
  return fc.record(fields, { requiredKeys: [] });
}

interface Rpc {
  path: string;
  name: string;
  streaming: boolean;
  request: Typed;
}

function rpcsOf(service: string): Rpc[] {
  const methods = definition[service] as Record<string, protoLoader.MethodDefinition<object, object>>;
  return Object.entries(methods).map(([name, m]) => ({
    path: m.path,
    name,
    streaming: m.responseStream,
    request: { name: `runtime.v1.${(m.requestType as unknown as { type: MessageDescriptor }).type.name}`, type: (m.requestType as unknown as { type: MessageDescriptor }).type },
  }));
}

const RPCS = [...rpcsOf('runtime.v1.RuntimeService'), ...rpcsOf('runtime.v1.ImageService')];

/** One call; resolves with the status code it ended with (0 for OK). */
function call(client: grpc.Client, rpc: Rpc, body: unknown, serialize: (value: unknown) => Buffer): Promise<number> {
  const deadline = Date.now() + CALL_DEADLINE_MS;
  return new Promise((resolve) => {
    if (!rpc.streaming) {
      client.makeUnaryRequest(rpc.path, serialize, (b: Buffer) => b, body, { deadline }, (err) => resolve(err?.code ?? 0));
      return;
    }
    const stream = client.makeServerStreamRequest(rpc.path, serialize, (b: Buffer) => b, body, { deadline });
    stream.on('data', () => undefined);
    // A stream that is still open when it has shown it works (events, stats) is ended from this side.
    const timer = setTimeout(() => stream.cancel(), 300);
    stream.on('status', (status: grpc.StatusObject) => {
      clearTimeout(timer);
      resolve(status.code);
    });
    stream.on('error', () => undefined);
  });
}

describe('fuzzed CRI requests', () => {
  let daemon: BerthdHandle;
  let client: grpc.Client;
  let pid: number;

  beforeAll(async () => {
    // No registry answers at this address, so a fuzzed pull fails at once instead of going out.
    daemon = await startBerthd({ config: { cri: { image_pull_progress_timeout: '2s' } } });
    pid = daemon.pid;
    client = new grpc.Client(`unix:${daemon.socket}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await cleanupPods(daemon);
    await daemon?.cleanup();
  });

  it('covers every RPC of both services', () => {
    expect(RPCS.length).toBeGreaterThan(35);
    expect(RPCS.map((r) => r.name)).toEqual(expect.arrayContaining(['RunPodSandbox', 'CreateContainer', 'ExecSync', 'PullImage', 'GetContainerEvents']));
  });

  it('answers random messages for every RPC with a gRPC status and keeps running', async () => {
    const codes = new Map<string, Set<number>>();
    await Promise.all(
      RPCS.map(async (rpc) => {
        const type = new grpc.Client(`unix:${daemon.socket}`, grpc.credentials.createInsecure());
        const serializer = (definition[rpc.path.split('/')[1]!] as Record<string, protoLoader.MethodDefinition<object, object>>)[rpc.name]!.requestSerialize;
        const seen = new Set<number>();
        try {
          for (const body of fc.sample(messageArb(rpc.request, 0), { numRuns: RUNS_PER_RPC, seed: 42 })) {
            seen.add(await call(type, rpc, body, serializer as (value: unknown) => Buffer));
          }
        } finally {
          type.close();
        }
        codes.set(rpc.name, seen);
      }),
    );
    expect(codes.size).toBe(RPCS.length);
    expect((await daemon.runtime.Version({})).runtime_name).toBe('berth');
    expect(daemon.pid).toBe(pid);
    expect(daemon.logs()).not.toContain('berthd crashed');
  }, 60_000);

  it('answers raw bytes that are no message with a gRPC status and keeps running', async () => {
    const garbage = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 512 }), { numRuns: GARBAGE_PER_RPC, seed: 7 }).map((a) => Buffer.from(a));
    // A truncated varint, a field with a length beyond the message, and a deeply nested group.
    garbage.push(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0x0a, 0x10, 0x01]), Buffer.alloc(2000, 0x0b));
    for (const rpc of RPCS) {
      for (const bytes of garbage) {
        const code = await call(client, rpc, bytes, (b) => b as Buffer);
        expect(code, `${rpc.name} with ${bytes.subarray(0, 8).toString('hex')}`).not.toBe(grpc.status.UNAVAILABLE);
      }
    }
    expect((await daemon.runtime.Version({})).runtime_name).toBe('berth');
    expect(daemon.pid).toBe(pid);
    expect(daemon.logs()).not.toContain('berthd crashed');
  }, 60_000);
});
