// memory-store.test.ts, beside memory-store.ts: mocha runs it
import { storeContract } from 'objection-imageattach/testing';
import { MemoryStore } from './memory-store.js';

storeContract('MemoryStore', () => {
  const store = new MemoryStore();
  return { store, snapshot: () => [...store.files.keys()] };
});
