// Worker thread of a diff: builds the short-string tables of old and their answers for every position of
// new (short-strings.ts), and sends back the answers, while the calling thread builds the suffix array.
import { replyOnce } from '../worker-reply.js';
import { buildShortStrings, type ShortStringJob, shortAnswers } from './short-strings.js';

replyOnce('short-worker', (job) => {
  const { old, neu } = job as ShortStringJob;
  // The answers lie in shared memory: nothing to move.
  return { result: shortAnswers(buildShortStrings(old), neu, true) };
});
