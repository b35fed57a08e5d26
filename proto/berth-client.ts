import * as grpc from '@grpc/grpc-js';
import type { ContainersDefinition } from './gen/berth/v1/Containers.js';
import type { ContentDefinition } from './gen/berth/v1/Content.js';
import type { DaemonDefinition } from './gen/berth/v1/Daemon.js';
import type { DoctorDefinition } from './gen/berth/v1/Doctor.js';
import type { ImagesDefinition } from './gen/berth/v1/Images.js';
import type { NamespacesDefinition } from './gen/berth/v1/Namespaces.js';
import type { SnapshotsDefinition } from './gen/berth/v1/Snapshots.js';
import type { TasksDefinition } from './gen/berth/v1/Tasks.js';
import { loadBerthPackage } from './berth-proto.js';
import { promisify, type Promisified } from './cri-client.js';

/** berth.v1 with promise-returning unary methods; Images.Pull returns the progress stream. */
export interface BerthClients {
  namespaces: Promisified<NamespacesDefinition, never>;
  images: Promisified<ImagesDefinition, 'Pull'>;
  containers: Promisified<ContainersDefinition, never>;
  tasks: Promisified<TasksDefinition, never>;
  snapshots: Promisified<SnapshotsDefinition, never>;
  content: Promisified<ContentDefinition, never>;
  daemon: Promisified<DaemonDefinition, never>;
  doctor: Promisified<DoctorDefinition, never>;
  close(): void;
}

/** berth API clients on berthd's unix socket (berthctl, tests); one channel shared by all services. */
export function connectBerth(socketPath: string, channelOptions: grpc.ChannelOptions = {}): BerthClients {
  const berth = loadBerthPackage();
  const target = `unix:${socketPath}`;
  const credentials = grpc.credentials.createInsecure();
  const first = new berth.Namespaces(target, credentials, { 'grpc.max_receive_message_length': 64 * 1024 * 1024, ...channelOptions });
  // Every other client rides the first one's channel.
  const channel = { channelOverride: first.getChannel() };
  const make = <C extends grpc.Client>(ctor: new (t: string, c: grpc.ChannelCredentials, o: grpc.ClientOptions) => C): C =>
    new ctor(target, credentials, channel);
  const images = make(berth.Images);
  return {
    namespaces: promisify(first, berth.Namespaces.service),
    images: promisify(images, berth.Images.service),
    containers: promisify(make(berth.Containers), berth.Containers.service),
    tasks: promisify(make(berth.Tasks), berth.Tasks.service),
    snapshots: promisify(make(berth.Snapshots), berth.Snapshots.service),
    content: promisify(make(berth.Content), berth.Content.service),
    daemon: promisify(make(berth.Daemon), berth.Daemon.service),
    doctor: promisify(make(berth.Doctor), berth.Doctor.service),
    close: () => first.close(),
  };
}
