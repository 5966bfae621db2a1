// memory-store.node-test.ts, beside memory-store.ts: node --import tsx --test memory-store.node-test.ts
import { afterEach, beforeEach, describe, it } from 'node:test';
import { storeContract } from 'objection-imageattach/testing';
import { MemoryStore } from './memory-store.js';

storeContract(
  'MemoryStore',
  () => {
    const store = new MemoryStore();
    return { store, snapshot: () => [...store.files.keys()] };
  },
  { describe, it, beforeEach, afterEach },
);
