import { describe, expect, it } from 'vitest';
import { hostOf, withTokenInUrl } from '../../src/clients/snippets.js';

describe('client snippets: URLs as the user wrote them', () => {
  it.each([
    ['http://HOST:4000', 'HOST'],
    ['https://proxy.example.com', 'proxy.example.com'],
    ['http://[::1]:4000', '::1'],
    ['http://user:secret@proxy:4000/', 'proxy'],
  ])('hostOf(%s) is %s', (url, host) => {
    expect(hostOf(url)).toBe(host);
  });

  it.each([
    ['http://HOST:4000', 'http://hexproxy:$HEXPROXY_TOKEN@HOST:4000'],
    ['https://[::1]:4000', 'https://hexproxy:$HEXPROXY_TOKEN@[::1]:4000'],
    ['http://old:token@proxy:4000', 'http://hexproxy:$HEXPROXY_TOKEN@proxy:4000'],
  ])('withTokenInUrl(%s) is %s', (url, withToken) => {
    expect(withTokenInUrl(url)).toBe(withToken);
  });
});
