/**
 * HTTP over a bare socket, for requests supertest cannot express (targets with `..`, raw
 * backslashes, absolute-form) and for proving that a response has no body bytes at all.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';

export interface RawResponse {
  status: number;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
  /** Every byte after the header block, as sent (the requests ask for `Connection: close`). */
  body: Buffer;
}

/** Sends `GET <target>` (or another method) as written, with `Connection: close`, and reads the whole answer. */
export async function rawRequest(
  port: number,
  target: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: localhost', 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  // write, not end: a half-closed socket makes Node's server drop the answer.
  socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return parseResponse(Buffer.concat(chunks));
}

function parseResponse(raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response: ${JSON.stringify(raw.toString('latin1'))}`);
  const [statusLine, ...headerLines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: raw.subarray(end + 4) };
}

/**
 * Starts a GET of a large file and destroys the socket as soon as the first body bytes arrive:
 * a client that goes away mid-body.
 */
export async function abortMidBody(port: number, target: string): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  let seen = 0;
  for await (const chunk of socket) {
    seen += (chunk as Buffer).length;
    // Past the headers and into the body: leave.
    if (seen > 4096) break;
  }
  socket.destroy();
}

/** How many file descriptors this process has open now (Linux). */
export function openDescriptorCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}
