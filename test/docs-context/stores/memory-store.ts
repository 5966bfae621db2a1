// The MemoryStore block of docs/stores.md, which test/testing/memory-store.ts holds byte for byte.
export { MemoryStore } from '../../testing/memory-store.js';
