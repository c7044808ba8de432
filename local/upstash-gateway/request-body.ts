import type { IncomingMessage } from 'node:http';
import { PayloadTooLargeError } from './errors.ts';

/** Default body limit: Upstash itself caps requests in the same order of magnitude. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Reads the whole request body.
 *
 * Returns the bytes once the request has ended. Throws `PayloadTooLargeError` as soon as the
 * declared or received size passes `limitBytes` (without buffering the rest).
 */
export const readBody = (request: IncomingMessage, limitBytes: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    if (declared > limitBytes) {
      reject(new PayloadTooLargeError(limitBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limitBytes) {
        request.off('data', onData);
        reject(new PayloadTooLargeError(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () =>
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)),
    );
    request.once('error', reject);
  });
