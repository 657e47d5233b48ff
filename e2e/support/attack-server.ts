// A misbehaving HTTP server for the attack suite: serves a dir like a static host, except for the paths a
// rule picks, which it answers never, stalls part-way, streams without end, or drips byte by byte.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, normalize, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type Misbehaviour =
  /** Accept the request and never answer (no status line, no bytes). */
  | { kind: 'hang' }
  /** Send the real status and Content-Length, then the first `afterBytes` bytes, then nothing more. */
  | { kind: 'stall'; afterBytes: number }
  /** 200 without Content-Length and a body that never ends. */
  | { kind: 'endless' }
  /** The real file, one byte every `intervalMs`. */
  | { kind: 'drip'; intervalMs: number };

export interface HostileServer {
  baseUrl: string;
  /** Body bytes written per URL path (what the server managed to push before the client gave up). */
  sent: Map<string, number>;
  /** URL paths requested, in order. */
  requests: string[];
  stop(): Promise<void>;
}

/** Serve `root` on 127.0.0.1; `rule(path)` picks a misbehaviour for a URL path, undefined = serve normally. */
export async function startHostileServer(
  root: string,
  rule: (urlPath: string) => Misbehaviour | undefined,
): Promise<HostileServer> {
  const sent = new Map<string, number>();
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  let stopped = false;
  const count = (path: string, n: number) => sent.set(path, (sent.get(path) ?? 0) + n);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(urlPath);
    const how = rule(urlPath);
    if (how?.kind === 'hang') return;
    if (how?.kind === 'endless') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      let wake: () => void = () => {};
      res.on('close', () => wake());
      while (!stopped && !res.destroyed) {
        const more = res.write(chunk);
        count(urlPath, chunk.length);
        if (!more) {
          await new Promise<void>((r) => {
            wake = r;
            res.once('drain', r);
          });
        }
      }
      return;
    }
    const file = normalize(join(root, urlPath));
    const st = file.startsWith(root + sep) ? await stat(file).catch(() => undefined) : undefined;
    if (!st?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
    if (how?.kind === 'stall' || how?.kind === 'drip') {
      const bytes = await readAll(file);
      const upTo = how.kind === 'stall' ? Math.min(how.afterBytes, bytes.length) : bytes.length;
      if (how.kind === 'stall') {
        res.write(bytes.subarray(0, upTo));
        count(urlPath, upTo);
        return; // and never another byte
      }
      for (let i = 0; i < upTo && !stopped && !res.destroyed; i++) {
        res.write(bytes.subarray(i, i + 1));
        count(urlPath, 1);
        await sleep(how.intervalMs);
      }
      if (!res.destroyed) res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('data', (c) => count(urlPath, c.length));
    stream.pipe(res);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => res.destroy(err as Error));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    sent,
    requests,
    stop: async () => {
      stopped = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function readAll(file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of createReadStream(file)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
