import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './gen/api.js';

/**
 * The one place that turns proto/cri/api.proto into grpc-js service definitions. The options here must match
 * the flags of `npm run gen:proto` (package.json), or the generated types would lie about the runtime shapes:
 * snake_case field names, int64 as decimal strings, enums as their names, defaults filled, oneof virtual fields.
 */
export const CRI_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export type CriPackage = ProtoGrpcType['runtime']['v1'];

/** Method names of a generated service or handlers interface, without grpc-js's string index signature. */
export type MethodNames<T> = keyof { [K in keyof T as string extends K ? never : K]: T[K] };

/**
 * A .proto file by its path under proto/ ("cri/api.proto"). The compiled module lives in dist/proto/ and the
 * source in proto/; the .proto files only in the source tree.
 */
export function protoFile(file: string): string {
  for (const rel of [`./${file}`, `../../proto/${file}`]) {
    const candidate = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`proto/${file} not found next to ${fileURLToPath(import.meta.url)}; the berth package is incomplete`);
}

let cached: CriPackage | undefined;

/** Loads runtime.v1 once per process (parsing the 1,100-line proto costs tens of milliseconds). */
export function loadCriPackage(): CriPackage {
  if (cached === undefined) {
    const definition = protoLoader.loadSync(protoFile('cri/api.proto'), CRI_LOADER_OPTIONS);
    const loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    cached = loaded.runtime.v1;
  }
  return cached;
}
