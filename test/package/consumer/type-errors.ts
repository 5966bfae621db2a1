// What the types must refuse (each line below is a compile error, or tsc fails on the directive).
import { imageSet } from 'objection-imageattach';
import { Product } from './models.js';

const product = new Product();
// @ts-expect-error: 'title' is no image relation of Product
imageSet(product, 'title');
// @ts-expect-error: describe() exists, it returns a string
const n: number = imageSet(product, 'photo').requireOriginal().describe();
// @ts-expect-error: thumbnails are of one dimension: width, height or ratio
void imageSet(product, 'photo').generateThumbnail({ width: 10, height: 10 });
// @ts-expect-error: the worker's plumbing is not on the public class (entity/worker-api.ts has it)
void imageSet(product, 'photo').lockedImage;
export { n };
