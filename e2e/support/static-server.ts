// A small static file server on 127.0.0.1 (with Range), used by the demo where nginx isn't installed.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';

export interface StaticServer {
  baseUrl: string;
  stop(): Promise<void>;
}

export async function startStaticServer(root: string): Promise<StaticServer> {
  const server: Server = createServer(async (req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, urlPath));
    if (!file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start > st.size) {
      res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
      return;
    }
    res.writeHead(range ? 206 : 200, {
      'content-length': st.size - start,
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${st.size - 1}/${st.size}` } : {}),
    });
    createReadStream(file, { start }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
