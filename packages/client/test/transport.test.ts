// HttpTransport against a real server on 127.0.0.1: retries, timeouts, headers, redirects, resume, file:// URLs.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { makeTempDir } from '@tufup/common';
import { ClientError, HttpError } from '../src/errors.js';
import { HttpTransport } from '../src/http/transport.js';
import { TestServer } from './support/server.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('HttpTransport', () => {
  let dir: string;
  let server: TestServer;
  let other: TestServer;
  let data: Buffer;
  let drip: Buffer;
  const fast = { retryDelayMs: 5, maxRetryDelayMs: 20 };

  before(async () => {
    dir = await makeTempDir('tufup-transport-');
    data = randomBytes(300 * 1024);
    await writeFile(join(dir, 'blob.bin'), data);
    await writeFile(join(dir, 'small.json'), '{"ok":true}');
    drip = randomBytes(4000);
    await writeFile(join(dir, 'drip.bin'), drip);
    server = await TestServer.start(dir);
    other = await TestServer.start(dir);
  });

  after(async () => {
    await server.close();
    await other.close();
    const { rm } = await import('node:fs/promises');
    await rm(dir, { recursive: true, force: true });
  });

  /** Download blob.bin as a target into `partial`: what it did, and the sha256 of what it left there. */
  async function downloadTarget(transport: HttpTransport, partial: string, onBytes?: (n: number) => void) {
    const report = await transport.downloadTarget(`${server.url}/blob.bin`, {
      partialPath: partial,
      maxLength: data.length,
      onBytes,
    });
    return { report, sha256: sha256(await readFile(partial)) };
  }

  it('downloads metadata bytes with our user agent and custom headers', async () => {
    const transport = new HttpTransport({
      ...fast,
      userAgent: 'my-app/1.0',
      headers: { authorization: 'Bearer t0k3n' },
    });
    const got = await transport.fetchMetadata(`${server.url}/small.json`, { maxLength: 1000 });
    assert.equal(got.toString(), '{"ok":true}');
    const req = server.requestsFor('/small.json').at(-1)!;
    assert.match(req.headers['user-agent'] ?? '', /^my-app\/1\.0 tufup-ts\/\d/);
    assert.equal(req.headers.authorization, 'Bearer t0k3n');
    transport.close();
  });

  it('reports a missing file as HttpError 404 without retrying', async () => {
    const transport = new HttpTransport(fast);
    const before = server.requests.length;
    const err = await transport
      .fetchMetadata(`${server.url}/3.root.json`, { maxLength: 1000 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'HTTP_ERROR');
    assert.equal(server.requests.length - before, 1);
    transport.close();
  });

  it('retries 5xx with backoff and succeeds', async () => {
    const transport = new HttpTransport(fast);
    server.failNext('/small.json', { kind: 'status', status: 503 }, 2);
    const before = server.requestsFor('/small.json').length;
    assert.equal(
      (await transport.fetchMetadata(`${server.url}/small.json`, { maxLength: 1000 })).toString(),
      '{"ok":true}',
    );
    assert.equal(server.requestsFor('/small.json').length - before, 3);
    transport.close();
  });

  it('gives up after its retries with the last HTTP status', async () => {
    const transport = new HttpTransport({ ...fast, retries: 2 });
    server.failNext('/small.json', { kind: 'status', status: 500 }, 3);
    const err = await transport
      .fetchMetadata(`${server.url}/small.json`, { maxLength: 1000 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 500);
    transport.close();
  });

  it('retries a connection cut mid-body for metadata', async () => {
    const transport = new HttpTransport(fast);
    server.failNext('/blob.bin', { kind: 'cut', afterBytes: 1000 });
    const got = await transport.fetchMetadata(`${server.url}/blob.bin`, { maxLength: data.length });
    assert.equal(sha256(got), sha256(data));
    transport.close();
  });

  it('times out a stalled server, retries, and fails with NETWORK_ERROR when it keeps stalling', async () => {
    // The stalls never end, so the timeout always fires on them; the retry's healthy answer has 2 s of idle time.
    const transport = new HttpTransport({ ...fast, timeoutMs: 2000, retries: 1 });
    server.failNext('/small.json', { kind: 'stall', ms: Number.POSITIVE_INFINITY }, 1);
    assert.equal(
      (await transport.fetchMetadata(`${server.url}/small.json`, { maxLength: 1000 })).toString(),
      '{"ok":true}',
    );
    server.failNext('/small.json', { kind: 'stall', ms: Number.POSITIVE_INFINITY }, 2);
    const err = await transport
      .fetchMetadata(`${server.url}/small.json`, { maxLength: 1000 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'NETWORK_ERROR');
    transport.close();
  });

  it('fails with NETWORK_ERROR when nothing listens', async () => {
    const dead = await TestServer.start(dir);
    const url = `${dead.url}/small.json`;
    await dead.close();
    const transport = new HttpTransport({ ...fast, retries: 1 });
    const err = await transport.fetchMetadata(url, { maxLength: 1000 }).catch((e: unknown) => e);
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'NETWORK_ERROR');
  });

  it('refuses a body longer than the maximum length', async () => {
    const transport = new HttpTransport(fast);
    const err = await transport
      .fetchMetadata(`${server.url}/blob.bin`, { maxLength: 1000 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'METADATA_INVALID');
    transport.close();
  });

  it('resumes a target download cut mid-way with a Range request from the cut offset', async () => {
    const transport = new HttpTransport(fast);
    const partial = join(dir, 'resume.partial');
    server.failNext('/blob.bin', { kind: 'cut', afterBytes: 100_000 });
    const seen: number[] = [];
    const before = server.requestsFor('/blob.bin').length;
    const got = await downloadTarget(transport, partial, (n) => seen.push(n));
    assert.equal(got.sha256, sha256(data));
    const reqs = server.requestsFor('/blob.bin').slice(before);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]!.range, undefined);
    const offset = Number(/^bytes=(\d+)-$/.exec(reqs[1]!.range ?? '')?.[1]);
    assert.ok(offset > 0 && offset <= 100_000, `resumed from ${offset}`);
    assert.equal(reqs[1]!.status, 206);
    assert.equal(got.report.resumedFrom, offset);
    assert.equal(got.report.attempts, 2);
    assert.equal(seen.at(-1), data.length);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]! || seen[i] === offset);
    assert.equal((await stat(partial)).size, data.length, 'the whole body is left for the caller to verify');
    transport.close();
  });

  it('resumes from a partial file left by an earlier run', async () => {
    const transport = new HttpTransport(fast);
    const partial = join(dir, 'earlier.partial');
    await writeFile(partial, data.subarray(0, 123_456));
    const before = server.requestsFor('/blob.bin').length;
    assert.equal((await downloadTarget(transport, partial)).sha256, sha256(data));
    const reqs = server.requestsFor('/blob.bin').slice(before);
    assert.deepEqual(
      reqs.map((r) => [r.range, r.status]),
      [['bytes=123456-', 206]],
    );
    transport.close();
  });

  it('restarts from byte 0 when the server ignores Range', async () => {
    const transport = new HttpTransport(fast);
    const partial = join(dir, 'norange.partial');
    await writeFile(partial, data.subarray(0, 50_000));
    server.rangeSupport = false;
    let got: Awaited<ReturnType<typeof downloadTarget>>;
    try {
      got = await downloadTarget(transport, partial);
    } finally {
      server.rangeSupport = true;
    }
    assert.equal(got.sha256, sha256(data));
    assert.equal(got.report.restarted, true);
    assert.equal(got.report.resumedFrom, 0);
    transport.close();
  });

  it('deletes the partial when the body is longer than the signed length (no prefix worth resuming)', async () => {
    const transport = new HttpTransport(fast);
    const partial = join(dir, 'long.partial');
    const err = await transport
      .downloadTarget(`${server.url}/blob.bin`, { partialPath: partial, maxLength: 1000 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ClientError, String(err));
    assert.equal(err.code, 'TARGET_MISMATCH');
    await assert.rejects(stat(partial), { code: 'ENOENT' });
    transport.close();
  });

  it('leaves a complete partial from an earlier run alone without a request', async () => {
    const transport = new HttpTransport(fast);
    const partial = join(dir, 'complete.partial');
    await writeFile(partial, data);
    const before = server.requestsFor('/blob.bin').length;
    const got = await downloadTarget(transport, partial);
    assert.equal(got.sha256, sha256(data));
    assert.equal(got.report.resumedFrom, data.length);
    assert.equal(server.requestsFor('/blob.bin').length, before);
    transport.close();
  });

  it('keeps the partial when aborted, for a later resume', async () => {
    const transport = new HttpTransport(fast);
    const partial = join(dir, 'abort.partial');
    const ac = new AbortController();
    const err = await transport
      .downloadTarget(`${server.url}/blob.bin`, {
        partialPath: partial,
        maxLength: data.length,
        signal: ac.signal,
        onBytes: (n) => {
          if (n > 0) ac.abort();
        },
      })
      .catch((e: unknown) => e);
    assert.equal((err as Error).name, 'AbortError');
    const size = (await stat(partial)).size;
    assert.ok(size > 0 && size < data.length);
    transport.close();
  });

  it('follows a redirect but does not send its headers to another origin', async () => {
    const transport = new HttpTransport({ ...fast, headers: { authorization: 'secret' } });
    server.failNext('/small.json', { kind: 'redirect', location: `${other.url}/small.json` });
    assert.equal(
      (await transport.fetchMetadata(`${server.url}/small.json`, { maxLength: 1000 })).toString(),
      '{"ok":true}',
    );
    const there = other.requestsFor('/small.json').at(-1)!;
    assert.equal(there.headers.authorization, undefined);
    transport.close();
  });

  it('reads file:// URLs, with Range resume and 404 for a missing file', async () => {
    const transport = new HttpTransport(fast);
    const base = pathToFileURL(dir).href;
    assert.equal(
      (await transport.fetchMetadata(`${base}/small.json`, { maxLength: 1000 })).toString(),
      '{"ok":true}',
    );
    const err = await transport
      .fetchMetadata(`${base}/2.root.json`, { maxLength: 1000 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 404);
    const partial = join(dir, 'file.partial');
    await writeFile(partial, data.subarray(0, 7777));
    const report = await transport.downloadTarget(`${base}/blob.bin`, {
      partialPath: partial,
      maxLength: data.length,
    });
    assert.equal(sha256(await readFile(partial)), sha256(data));
    assert.equal(report.resumedFrom, 7777);
  });

  describe('slow retrieval', () => {
    const occurrences = (text: string, part: string) => text.split(part).length - 1;

    it('fails metadata that arrives a byte at a time within the idle timeout at its deadline, without retrying past it', async () => {
      const transport = new HttpTransport({
        ...fast,
        timeoutMs: 1000,
        retries: 3,
        minBytesPerSecond: 0,
        metadataTimeoutMs: 600,
      });
      server.failNext('/drip.bin', { kind: 'drip', bytes: 1, intervalMs: 100 }, 4);
      const before = server.requestsFor('/drip.bin').length;
      const started = Date.now();
      const err = await transport
        .fetchMetadata(`${server.url}/drip.bin`, { maxLength: 10_000 })
        .catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      assert.ok(err instanceof ClientError, String(err));
      assert.equal(err.code, 'NETWORK_ERROR');
      assert.match(err.message, /within 600 ms/);
      assert.ok(elapsed >= 550, `failed after ${elapsed} ms, before the deadline`);
      assert.equal(server.requestsFor('/drip.bin').length - before, 1, 'no attempt after the deadline');
      server.clearFaults();
      transport.close();
    });

    it('counts the wait for the response headers into the metadata deadline', async () => {
      const transport = new HttpTransport({ ...fast, timeoutMs: 5000, metadataTimeoutMs: 300 });
      // The server never answers: the metadata deadline, not the 5 s idle timeout, ends the wait.
      server.failNext('/small.json', { kind: 'stall', ms: Number.POSITIVE_INFINITY });
      const err = await transport
        .fetchMetadata(`${server.url}/small.json`, { maxLength: 1000 })
        .catch((e: unknown) => e);
      assert.ok(err instanceof ClientError, String(err));
      assert.equal(err.code, 'NETWORK_ERROR');
      assert.match(err.message, /within 300 ms/);
      server.clearFaults();
      transport.close();
    });

    it('fails a target slower than minBytesPerSecond, retries it as a resume, then gives NETWORK_ERROR', async () => {
      const transport = new HttpTransport({
        ...fast,
        timeoutMs: 1000,
        retries: 1,
        minBytesPerSecond: 1000,
        rateWindowMs: 250,
      });
      server.failNext('/drip.bin', { kind: 'drip', bytes: 1, intervalMs: 50 }, 2);
      const partial = join(dir, 'drip.partial');
      const before = server.requestsFor('/drip.bin').length;
      const err = await transport
        .downloadTarget(`${server.url}/drip.bin`, { partialPath: partial, maxLength: drip.length })
        .catch((e: unknown) => e);
      assert.ok(err instanceof ClientError, String(err));
      assert.equal(err.code, 'NETWORK_ERROR');
      assert.match(err.message, /too slow: \d+ bytes in 250 ms, below the minimum of 1000 bytes\/s/);
      const reqs = server.requestsFor('/drip.bin').slice(before);
      assert.equal(reqs.length, 2);
      assert.match(reqs[1]!.range ?? '', /^bytes=\d+-$/, 'the retry resumed what had arrived');
      const kept = (await stat(partial)).size;
      assert.ok(kept > 0 && kept < drip.length, `partial of ${kept} bytes kept for a later resume`);
      server.clearFaults();
      transport.close();
    });

    it('accepts a slow transfer that stays above the floor in every window', async () => {
      const transport = new HttpTransport({ ...fast, minBytesPerSecond: 2000, rateWindowMs: 150 });
      // 500 bytes every 50 ms: about 10 000 bytes/s over 400 ms, so several windows are judged.
      server.failNext('/drip.bin', { kind: 'drip', bytes: 500, intervalMs: 50 }, 2);
      const started = Date.now();
      assert.equal(
        sha256(await transport.fetchMetadata(`${server.url}/drip.bin`, { maxLength: 10_000 })),
        sha256(drip),
      );
      assert.ok(Date.now() - started >= 300, 'the transfer did span several windows');
      const okDrip = join(dir, 'ok-drip.partial');
      await transport.downloadTarget(`${server.url}/drip.bin`, {
        partialPath: okDrip,
        maxLength: drip.length,
      });
      assert.equal(sha256(await readFile(okDrip)), sha256(drip));
      transport.close();
    });

    it('fails a body that stops mid-way at the idle timeout, saying so', async () => {
      const transport = new HttpTransport({ ...fast, timeoutMs: 300, retries: 0, minBytesPerSecond: 0 });
      // The pause after the first 1000 bytes never ends: only the idle timeout can end the download.
      server.failNext('/drip.bin', { kind: 'drip', bytes: 1000, intervalMs: Number.POSITIVE_INFINITY });
      const err = await transport
        .downloadTarget(`${server.url}/drip.bin`, {
          partialPath: join(dir, 'stopped.partial'),
          maxLength: drip.length,
        })
        .catch((e: unknown) => e);
      assert.ok(err instanceof ClientError, String(err));
      assert.equal(err.code, 'NETWORK_ERROR');
      assert.match(err.message, /drip\.bin: no data for 300 ms \(1 attempt\)$/);
      transport.close();
    });

    it('names the URL once in a network error', async () => {
      const transport = new HttpTransport({ ...fast, retries: 0 });
      const url = `${server.url}/blob.bin`;
      server.failNext('/blob.bin', { kind: 'cut', afterBytes: 1000 });
      const cut = await transport
        .downloadTarget(url, { partialPath: join(dir, 'once.partial'), maxLength: data.length })
        .catch((e: unknown) => e);
      assert.ok(cut instanceof ClientError, String(cut));
      assert.match(cut.message, /connection lost mid-download/);
      assert.equal(occurrences(cut.message, url), 1, cut.message);

      const dead = await TestServer.start(dir);
      const deadUrl = `${dead.url}/small.json`;
      await dead.close();
      const refused = await transport.fetchMetadata(deadUrl, { maxLength: 1000 }).catch((e: unknown) => e);
      assert.ok(refused instanceof ClientError, String(refused));
      assert.equal(refused.code, 'NETWORK_ERROR');
      assert.equal(occurrences(refused.message, dead.url), 1, refused.message);
      transport.close();
    });
  });
});
