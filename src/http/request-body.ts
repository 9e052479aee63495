// Reading a request body whole. A client that goes away before sending all of it gets
// ClientClosedRequestError, whatever part of it arrived: the adapter may hand over the bytes
// that came before the connection closed as if they were the body, and a cut lock file or
// JSON document must not be judged.
import type { IncomingMessage } from 'node:http';
import { ClientClosedRequestError } from '../errors.js';

export async function requestText(read: () => Promise<string>, incoming: IncomingMessage | undefined): Promise<string> {
  const text = await read();
  if (incoming && !incoming.complete) throw new ClientClosedRequestError('the client closed the connection before sending its whole request body');
  return text;
}
