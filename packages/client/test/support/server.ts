// A static file server on 127.0.0.1 for tests: Range support, request log, and injectable faults.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';

/** What to do to the next matching request instead of serving it normally. */
export type Fault =
  /** Send headers and the first `afterBytes` bytes of the body, then drop the connection. */
  | { kind: 'cut'; afterBytes: number }
  /** Answer with this status and no body. */
  | { kind: 'status'; status: number }
  /** Serve the file with the byte at `offset` (of the file) flipped. */
  | { kind: 'corrupt'; offset: number }
  /** Answer a Range request with the whole file and 200, as servers without Range support do. */
  | { kind: 'ignore-range' }
  /** Send nothing for `ms` (`Infinity`: until the client gives up and closes), then serve normally. */
  | { kind: 'stall'; ms: number }
  /** Answer 302 to `location`. */
  | { kind: 'redirect'; location: string }
  /** Serve the file `bytes` bytes every `intervalMs` (each pause shorter than any idle timeout). */
  | { kind: 'drip'; bytes: number; intervalMs: number };

export interface LoggedRequest {
  path: string;
  range: string | undefined;
  status: number;
  headers: http.IncomingHttpHeaders;
}

interface FaultRule {
  match: (path: string) => boolean;
  fault: Fault;
  remaining: number;
}

export class TestServer {
  readonly root: string;
  readonly requests: LoggedRequest[] = [];
  /** When false, Range requests get 200 + the whole file (no fault needed per request). */
  rangeSupport = true;
  /** Called with each request's path before it is answered (e.g. to act at a given point of a client's run). */
  onRequest: ((path: string) => void) | undefined;
  readonly #server: http.Server;
  #rules: FaultRule[] = [];
  #port = 0;

  private constructor(root: string) {
    this.root = root;
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
        else res.destroy();
      });
    });
  }

  static async start(root: string): Promise<TestServer> {
    const s = new TestServer(root);
    await new Promise<void>((resolve) => s.#server.listen(0, '127.0.0.1', resolve));
    s.#port = (s.#server.address() as AddressInfo).port;
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Apply `fault` to the next `times` requests whose path ends with `pathSuffix`. */
  failNext(pathSuffix: string, fault: Fault, times = 1): void {
    this.#rules.push({ match: (p) => p.endsWith(pathSuffix), fault, remaining: times });
  }

  clearFaults(): void {
    this.#rules = [];
  }

  /** Requests whose path ends with `suffix`. */
  requestsFor(suffix: string): LoggedRequest[] {
    return this.requests.filter((r) => r.path.endsWith(suffix));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const log: LoggedRequest = { path, range: req.headers.range, status: 0, headers: req.headers };
    this.requests.push(log);
    this.onRequest?.(path);
    const send = (status: number, headers: http.OutgoingHttpHeaders = {}) => {
      log.status = status;
      res.writeHead(status, headers);
    };
    const rule = this.#rules.find((r) => r.remaining > 0 && r.match(path));
    if (rule) rule.remaining--;
    const fault = rule?.fault;
    if (fault?.kind === 'stall') {
      await pause(fault.ms, res);
      if (res.destroyed) return;
    }
    if (fault?.kind === 'redirect') {
      send(302, { location: fault.location, 'content-length': 0 });
      res.end();
      return;
    }
    if (fault?.kind === 'status') {
      send(fault.status, { 'content-length': 0 });
      res.end();
      return;
    }
    const file = normalize(join(this.root, path));
    if (!file.startsWith(this.root + sep)) {
      send(403, { 'content-length': 0 });
      res.end();
      return;
    }
    let size: number;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      send(404, { 'content-length': 0 });
      res.end();
      return;
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && this.rangeSupport && fault?.kind !== 'ignore-range') {
      start = Number(range[1]);
      if (range[2]) end = Math.min(Number(range[2]), size - 1);
      if (start >= size || start > end) {
        send(416, { 'content-range': `bytes */${size}`, 'content-length': 0 });
        res.end();
        return;
      }
      status = 206;
    }
    const headers: http.OutgoingHttpHeaders = {
      'content-length': end - start + 1,
      'accept-ranges': this.rangeSupport ? 'bytes' : 'none',
      'content-type': 'application/octet-stream',
    };
    if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    send(status, headers);
    if (end < start) {
      res.end();
      return;
    }
    let sent = 0;
    let closed = false;
    res.once('close', () => {
      closed = true;
    });
    const stream = createReadStream(file, { start, end, highWaterMark: 64 * 1024 });
    for await (const raw of stream as AsyncIterable<Buffer>) {
      let chunk = raw;
      if (fault?.kind === 'corrupt') {
        const at = fault.offset - start - sent;
        if (at >= 0 && at < chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[at] = (chunk[at] ?? 0) ^ 0xff;
        }
      }
      if (fault?.kind === 'cut' && sent + chunk.length >= fault.afterBytes) {
        const part = chunk.subarray(0, fault.afterBytes - sent);
        await new Promise<void>((resolve) => res.write(part, () => resolve()));
        // Let the client read the bytes before the connection drops: data and close arriving together
        // can make the client discard what it had buffered.
        await new Promise((r) => setTimeout(r, 150));
        res.socket?.destroy();
        stream.destroy();
        return;
      }
      if (fault?.kind === 'drip') {
        for (let at = 0; at < chunk.length && !closed; at += fault.bytes) {
          res.write(chunk.subarray(at, at + fault.bytes));
          await pause(fault.intervalMs, res);
        }
        if (closed) {
          stream.destroy();
          return;
        }
      } else if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      sent += chunk.length;
    }
    res.end();
  }
}

/** Waits `ms` (`Infinity`: forever) or until the response closes, whichever is first; no timer is left behind. */
function pause(ms: number, res: http.ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    res.once('close', done);
  });
}
