// Starts Debian's nginx on 127.0.0.1 serving one directory, with a generated config, for e2e tests and the demo.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface NginxServer {
  /** e.g. http://127.0.0.1:12345 */
  baseUrl: string;
  port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function nginxConfig(root: string, port: number, workDir: string): string {
  // Root may not be readable by nginx's default unprivileged user in temp dirs, so workers keep our user.
  const userLine = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${userLine}worker_processes 1;
daemon off;
pid ${join(workDir, 'nginx.pid')};
error_log ${join(workDir, 'error.log')} warn;
events { worker_connections 64; }
http {
  access_log ${join(workDir, 'access.log')};
  client_body_temp_path ${join(workDir, 'tmp-body')};
  proxy_temp_path ${join(workDir, 'tmp-proxy')};
  fastcgi_temp_path ${join(workDir, 'tmp-fastcgi')};
  uwsgi_temp_path ${join(workDir, 'tmp-uwsgi')};
  scgi_temp_path ${join(workDir, 'tmp-scgi')};
  types { application/json json; application/gzip gz; application/octet-stream patch; }
  default_type application/octet-stream;
  sendfile on;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { autoindex off; }
  }
}
`;
}

/** Start nginx serving `root`; `workDir` holds its config, pid and logs. Fails with nginx's own error log. */
export async function startNginx(root: string, workDir: string): Promise<NginxServer> {
  await mkdir(workDir, { recursive: true });
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const conf = join(workDir, 'nginx.conf');
    await writeFile(conf, nginxConfig(root, port, workDir));
    const child: ChildProcess = spawn('nginx', ['-p', workDir, '-c', conf], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += String(d);
    });
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    child.once('error', (err) => {
      exited = true;
      stderr += String(err);
    });
    const baseUrl = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100 && !exited; i++) {
      if (await reachable(port)) {
        return {
          baseUrl,
          port,
          stop: async () => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            const done = new Promise<void>((r) => child.once('exit', () => r()));
            child.kill('SIGQUIT');
            const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
            await done;
            clearTimeout(timer);
          },
        };
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    lastError = stderr + (await readFile(join(workDir, 'error.log'), 'utf8').catch(() => ''));
  }
  throw new Error(`nginx did not start: ${lastError.trim()}`);
}

async function reachable(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
