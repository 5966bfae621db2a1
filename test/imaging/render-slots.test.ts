import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, renderSlots } from '../../src/index.js';
import { inRenderSlot } from '../../src/imaging/render-slots.js';
import { renderThumbnails } from '../../src/imaging/thumbnail-batch.js';
import { jpeg } from '../support/images.js';

// The bound on renders in flight: what keeps memory flat when many uploads arrive at once.
describe('render slots', function () {
  let saved: number;
  before(() => (saved = renderSlots()));
  afterEach(() => renderSlots(saved));

  /** A task that runs until `release()`; `started` tells whether its slot was granted. */
  function heldSlot() {
    let release!: () => void;
    const state = { started: false, done: undefined as Promise<void> | undefined, release: () => release() };
    state.done = inRenderSlot(() => {
      state.started = true;
      return new Promise<void>((resolve) => (release = resolve));
    });
    return state;
  }
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  it('defaults to one more than the CPUs, at most libuv’s pool of 4', function () {
    assert.equal(saved, Math.min(availableParallelism() + 1, Number(process.env.UV_THREADPOOL_SIZE) || 4));
  });

  it('runs no more renders at once than there are slots; the next starts when one ends', async function () {
    renderSlots(2);
    const [a, b, c] = [heldSlot(), heldSlot(), heldSlot()];
    await tick();
    assert.deepEqual([a.started, b.started, c.started], [true, true, false]);
    a.release();
    await a.done;
    await tick();
    assert.equal(c.started, true);
    b.release();
    c.release();
    await Promise.all([b.done, c.done]);
  });

  it('makes a thumbnail render wait for a free slot', async function () {
    renderSlots(1);
    const bytes = await jpeg(320, 240);
    const holder = heldSlot();
    await tick();
    let rendered = false;
    const render = renderThumbnails(
      bytes,
      { mimetype: 'image/jpeg', width: 320, height: 240, pixels: 320 * 240 },
      [{ width: 100, height: 75, mimetype: 'image/jpeg' }],
      1e7,
    ).then((r) => {
      rendered = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(rendered, false);
    holder.release();
    const [thumbnail] = await render;
    assert.equal(thumbnail!.width, 100);
  });

  it('frees the slot of a render that fails', async function () {
    renderSlots(1);
    await assert.rejects(
      renderThumbnails(
        Buffer.from('not an image'),
        { mimetype: 'image/jpeg', width: 320, height: 240, pixels: 320 * 240 },
        [{ width: 100, height: 75, mimetype: 'image/jpeg' }],
        1e7,
      ),
    );
    const next = heldSlot();
    await tick();
    assert.equal(next.started, true);
    next.release();
    await next.done;
  });

  it('refuses a bound that is not a positive integer, naming it', function () {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(
        () => renderSlots(bad),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.code === 'ERR_INVALID_ARGUMENT' &&
          /an integer >= 1 for slots/.test(e.message),
      );
    }
    assert.equal(renderSlots(), saved);
  });
});
