import assert from 'node:assert/strict';
import { thumbnailDimensions } from '../../src/imaging/thumbnail.js';

describe('thumbnailDimensions: the sizes SQLAlchemy-ImageAttach computes', function () {
  it('by width: int(h0 * (width / w0)), in that order (300×200 at width 87 is 87×57, not 87×58)', function () {
    assert.deepEqual(thumbnailDimensions(300, 200, { width: 87 }), { width: 87, height: 57 });
  });
  it('by height: int(w0 * (height / h0)) (300×200 at height 82 is 122×82, not 123×82)', function () {
    assert.deepEqual(thumbnailDimensions(300, 200, { height: 82 }), { width: 122, height: 82 });
  });
  it('by ratio: int(w0 * ratio) × int(h0 * ratio)', function () {
    assert.deepEqual(thumbnailDimensions(405, 640, { ratio: 0.5 }), { width: 202, height: 320 });
    // 200 * 0.29 is 57.99999999999999 in floating point: 57, as in Python.
    assert.deepEqual(thumbnailDimensions(300, 200, { ratio: 0.29 }), { width: 87, height: 57 });
  });
  it("SQLAlchemy-ImageAttach's own test_generate_thumbnail sizes on a 405×640 original", function () {
    assert.deepEqual(thumbnailDimensions(405, 640, { height: 320 }), { width: 202, height: 320 });
    assert.deepEqual(thumbnailDimensions(405, 640, { width: 202 }), { width: 202, height: 319 });
  });
  it('never below 1 pixel (SQLAlchemy-ImageAttach would fail to resize to 0)', function () {
    assert.deepEqual(thumbnailDimensions(1000, 1, { width: 10 }), { width: 10, height: 1 });
  });
});
