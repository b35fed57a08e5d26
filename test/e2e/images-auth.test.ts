import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxImage, pushImage, type BuiltImage, type PushedImage } from '../fixtures/images.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { startTokenServer, type TokenServer } from '../fixtures/token-server.js';
import { rejectionOf } from '../fixtures/rejection.js';
import { startBerthd, type BerthdHandle } from '../harness/berthd.js';

const grpcFailure = async (p: Promise<unknown>): Promise<ServiceError> => (await rejectionOf(p)) as ServiceError;

/** PullImage with the credentials kubelet passes from a pod's image pull secret (PullImageRequest.auth). */

const USER = { username: 'puller', password: 's3cret-pw' };

describe('PullImage with registry credentials', () => {
  let daemon: BerthdHandle;
  let image: BuiltImage;
  let tokens: TokenServer;
  let basicRegistry: TestRegistry;
  let tokenRegistry: TestRegistry;
  let basicPushed: PushedImage;
  let tokenPushed: PushedImage;

  beforeAll(async () => {
    image = await busyboxImage();
    basicRegistry = await startRegistry({ auth: { htpasswd: { [USER.username]: USER.password } } });
    basicPushed = await pushImage(basicRegistry, 'team/app', '1', image, USER);
    tokens = await startTokenServer({ users: { [USER.username]: USER.password } });
    tokenRegistry = await startRegistry({ auth: { token: tokens } });
    tokenPushed = await pushImage(tokenRegistry, 'team/app', '1', image, USER);
    daemon = await startBerthd();
  });
  afterAll(async () => {
    await daemon?.cleanup();
    await basicRegistry?.stop();
    await tokenRegistry?.stop();
    await tokens?.stop();
  });

  it('refuses Basic auth with a wrong password, saying to check the credentials, and records nothing', async () => {
    const err = await grpcFailure(daemon.image.PullImage({ image: { image: basicPushed.reference }, auth: { ...USER, password: 'wrong' } }));
    expect(err.code).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(err.details).toContain(basicPushed.reference);
    expect(err.details).toMatch(/pull secret|credentials/);
    const anonymous = await grpcFailure(daemon.image.PullImage({ image: { image: basicPushed.reference } }));
    expect(anonymous.code).toBe(GrpcStatus.UNAUTHENTICATED);
    expect((await daemon.image.ListImages({})).images).toEqual([]);
  });

  it('pulls with Basic auth from username and password', async () => {
    const { image_ref } = await daemon.image.PullImage({ image: { image: basicPushed.reference }, auth: USER });
    expect(image_ref).toBe(image.config.digest);
  });

  it('pulls with token auth from the base64 auth field, as a docker config.json carries it', async () => {
    tokens.requests.length = 0;
    const auth = Buffer.from(`${USER.username}:${USER.password}`).toString('base64');
    const { image_ref } = await daemon.image.PullImage({ image: { image: tokenPushed.reference }, auth: { auth } });
    expect(image_ref).toBe(image.config.digest);
    expect(tokens.requests.some((r) => r.user === USER.username && r.scopes.includes('repository:team/app:pull'))).toBe(true);
    const { image: status } = await daemon.image.ImageStatus({ image: { image: image.config.digest } });
    expect(status?.repo_tags.sort()).toEqual([basicPushed.reference, tokenPushed.reference].sort());
  });
});
