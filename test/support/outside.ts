// A stand-in for the internet behind a firewall: an HTTP proxy (for clients' https_proxy)
// that records where each CONNECT wanted to go and lets nothing through. Clients that would
// reach hex.pm, repo.hex.pm or search.hexdocs.pm show it here instead of on the network.
import { createServer } from 'node:http';

export interface Outside {
  /** For https_proxy / HTTPS_PROXY. */
  proxyUrl: string;
  /** host:port of every CONNECT, in order. */
  wanted: string[];
  close(): Promise<void>;
}

export async function startOutside(): Promise<Outside> {
  const wanted: string[] = [];
  const server = createServer((_request, response) => response.writeHead(502).end());
  server.on('connect', (request: { url?: string }, socket: { destroy(): void }) => {
    wanted.push(request.url ?? '');
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    proxyUrl: `http://127.0.0.1:${port}`,
    wanted,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
