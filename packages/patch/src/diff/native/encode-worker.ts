// Worker thread of a diff's segment encoding (encode-parallel.ts): encodes the modelled streams of the
// segments it claims and sends them back.
import { replyOnce } from '../worker-reply.js';
import { type EncodedSegment, type EncodeJob, encodeClaimed } from './encode-parallel.js';

replyOnce('encode-worker', (job) => {
  const result: EncodedSegment[] = encodeClaimed(job as EncodeJob);
  return { result, transfer: result.flatMap((r) => r.stream.frames.map((f) => f.buffer as ArrayBuffer)) };
});
