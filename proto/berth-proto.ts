import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CRI_LOADER_OPTIONS, protoFile } from './cri-proto.js';
import type { ProtoGrpcType } from './gen/berth.js';

/** berth.v1: berth's own API (proto/berth/v1/berth.proto), loaded with the CRI's options and conventions. */
export type BerthPackage = ProtoGrpcType['berth']['v1'];

let cached: BerthPackage | undefined;

export function loadBerthPackage(): BerthPackage {
  if (cached === undefined) {
    const definition = protoLoader.loadSync(protoFile('berth/v1/berth.proto'), CRI_LOADER_OPTIONS);
    cached = (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).berth.v1;
  }
  return cached;
}

/** The services of berth.v1 by name, e.g. "Images"; each is served as `berth.v1.<name>`. */
export const BERTH_SERVICES = ['Namespaces', 'Images', 'Containers', 'Tasks', 'Snapshots', 'Content', 'Daemon', 'Doctor'] as const;
export type BerthServiceName = (typeof BERTH_SERVICES)[number];
