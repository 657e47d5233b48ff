// What both demos share: the server they use, their end (stop, clean up), and how a failure is reported.
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { startNginx } from './nginx.js';
import { startStaticServer } from './static-server.js';

/** Whether Debian's nginx is on the PATH. */
export function hasNginx(): boolean {
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface DemoServer {
  baseUrl: string;
  kind: string;
  stop(): Promise<void>;
}

/** nginx when it is installed, else the small Node server. */
export async function startDemoServer(root: string, workDir: string): Promise<DemoServer> {
  if (hasNginx()) return { ...(await startNginx(root, workDir)), kind: 'nginx' };
  return { ...(await startStaticServer(root)), kind: 'node static server' };
}

/** Stop the server and remove the demo's dir, unless TUFUP_DEMO_KEEP is set. */
export async function endDemo(work: string, server: DemoServer): Promise<void> {
  await server.stop();
  if (!process.env.TUFUP_DEMO_KEEP) await rm(work, { recursive: true, force: true });
  else console.log(`(kept ${work})`);
}

/** Run a demo; a failure prints its stack and exits 1. */
export function runDemo(main: () => Promise<void>): void {
  main().catch((err) => {
    console.error(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  });
}
