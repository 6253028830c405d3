/**
 * Decoding of `Content-Encoding: aws-chunked` bodies, the framing the SDK uses for streamed uploads
 * with a trailing checksum: `<hex size>[;ext]\r\n<data>\r\n` … `0\r\n<name>:<value>\r\n` … `\r\n`.
 */
import { AwsError } from './errors';

export interface DecodedChunkedBody {
  data: Buffer;
  /** Trailer headers, lower-case names. */
  trailers: Record<string, string>;
}

const CRLF = Buffer.from('\r\n');

function malformed(message: string): AwsError {
  return new AwsError(400, 'IncompleteBody', `The request body is not valid aws-chunked data: ${message}`);
}

function readLine(body: Buffer, start: number): { line: string; next: number } {
  const end = body.indexOf(CRLF, start);
  if (end < 0) throw malformed(`a line starting at byte ${start} has no CRLF`);
  return { line: body.toString('latin1', start, end), next: end + 2 };
}

export function decodeAwsChunked(body: Buffer): DecodedChunkedBody {
  const chunks: Buffer[] = [];
  let position = 0;
  for (;;) {
    const { line, next } = readLine(body, position);
    const sizeText = line.split(';')[0].trim();
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) throw malformed(`bad chunk size ${JSON.stringify(sizeText)}`);
    const size = parseInt(sizeText, 16);
    position = next;
    if (size === 0) break;
    if (position + size + 2 > body.length) throw malformed('a chunk is cut short');
    chunks.push(body.subarray(position, position + size));
    if (!body.subarray(position + size, position + size + 2).equals(CRLF))
      throw malformed('a chunk is not followed by CRLF');
    position += size + 2;
  }
  const trailers: Record<string, string> = {};
  for (;;) {
    if (position >= body.length) break;
    const { line, next } = readLine(body, position);
    position = next;
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed(`bad trailer line ${JSON.stringify(line)}`);
    trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (position !== body.length) throw malformed(`${body.length - position} bytes follow the final chunk`);
  return { data: Buffer.concat(chunks), trailers };
}
