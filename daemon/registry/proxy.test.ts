import { describe, expect, it } from 'vitest';
import { proxyAuthorization, proxyFor } from './proxy.js';

const env = { HTTPS_PROXY: 'http://proxy.corp:3128', HTTP_PROXY: 'proxy.corp:8080', NO_PROXY: 'internal.corp, .svc,registry.local:5000' };
const proxied = (url: string, e: NodeJS.ProcessEnv = env, configured?: string) => proxyFor(new URL(url), configured, e)?.href;

describe('proxyFor', () => {
  it('picks the proxy by scheme, defaulting a bare proxy to http://', () => {
    expect(proxied('https://registry-1.docker.io/v2/')).toBe('http://proxy.corp:3128/');
    expect(proxied('http://registry.example/v2/')).toBe('http://proxy.corp:8080/');
    expect(proxied('https://quay.io/v2/', { https_proxy: 'http://lower:1' })).toBe('http://lower:1/');
    expect(proxied('https://quay.io/v2/', {})).toBeUndefined();
  });

  it('honours NO_PROXY hosts, domains and ports, and never proxies loopback from the environment', () => {
    expect(proxied('https://internal.corp/v2/')).toBeUndefined();
    expect(proxied('https://mirror.internal.corp/v2/')).toBeUndefined();
    expect(proxied('https://api.svc/v2/')).toBeUndefined();
    expect(proxied('http://registry.local:5000/v2/')).toBeUndefined();
    expect(proxied('http://registry.local:5001/v2/')).toBe('http://proxy.corp:8080/');
    expect(proxied('https://notinternal.corp/v2/')).toBe('http://proxy.corp:3128/');
    expect(proxied('https://anything/v2/', { ...env, NO_PROXY: '*' })).toBeUndefined();
    for (const url of ['http://localhost:5000/', 'https://127.0.0.1:5000/', 'https://[::1]:5000/']) expect(proxied(url)).toBeUndefined();
  });

  it('prefers the proxy of hosts.toml, also for loopback', () => {
    expect(proxied('http://127.0.0.1:5000/', env, 'http://hostproxy:1')).toBe('http://hostproxy:1/');
  });

  it('builds Proxy-Authorization from the URL user', () => {
    expect(proxyAuthorization(new URL('http://us%40er:p%3Ass@proxy:1'))).toBe(`Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
    expect(proxyAuthorization(new URL('http://proxy:1'))).toBeUndefined();
  });
});
