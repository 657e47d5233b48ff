// Worker thread of a diff: builds the later part of the hash-chain index (hash-search.ts) while the calling
// thread builds the earlier part; the calling thread then joins the two.
import { replyOnce } from '../worker-reply.js';
import { type ChainsPart, insertChains } from './hash-search.js';

replyOnce('chains-worker', (part) => {
  insertChains(part as ChainsPart);
  return { result: true };
});
