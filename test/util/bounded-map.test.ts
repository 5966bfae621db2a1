import assert from 'node:assert/strict';
import { BoundedMap } from '../../src/util/bounded-map.js';

describe('BoundedMap', function () {
  it('keeps at most maxEntries, forgetting the one set longest ago', function () {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1).set('b', 2).set('c', 3);
    assert.deepEqual(
      [...map],
      [
        ['b', 2],
        ['c', 3],
      ],
    );
  });

  it('makes a key set again the newest, so it outlives those set before it', function () {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1).set('b', 2).set('a', 10).set('c', 3);
    assert.deepEqual(
      [...map],
      [
        ['a', 10],
        ['c', 3],
      ],
    );
  });
});
