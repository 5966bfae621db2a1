/**
 * Compiled by `npm run typecheck` (strict), never run: what a route sees after `imageUpload()` and
 * `imageHelpers()` is typed, with no cast. Each `@ts-expect-error` proves a value is not `any`.
 */
import express from 'express';
import { Model } from 'objection';
import { Image, ImageOwner, imageAttachment, imageSet } from '../../src/index.js';
import { imageHelpers, imageUpload, type RejectedImage, type UploadedImage } from '../../src/express.js';

class Picture extends Image(Model) {
  static override tableName = 'pictures';
}
class Person extends ImageOwner(Model) {
  static override tableName = 'people';
  declare id: number;
  static override relationMappings = {
    picture: imageAttachment(() => Picture, { join: { from: 'people.id', to: 'pictures.person_id' } }),
  };
}

const app = express();
app.use(imageHelpers());

app.post('/people/:id/picture', imageUpload({ field: 'picture' }), async (req, res) => {
  const file = req.file!;
  const uploaded: UploadedImage = file;
  await imageSet(Person.fromJson({ id: Number(req.params.id) }), 'picture').fromFile(file.path, {
    probed: file.probed,
  });
  const width: number = file.width;
  // @ts-expect-error the probe is typed, not any
  const wrong: string = file.probed.width;
  res.json({ width, uploaded: uploaded.clientMimetype, wrong });
});

app.post('/people/:id/photos', imageUpload({ field: 'photos', maxCount: 5 }), (req, res) => {
  const files = Array.isArray(req.files) ? req.files : [];
  const rejected: RejectedImage[] = req.rejectedImages ?? [];
  res.json({ widths: files.map((file) => file.probed.width), refused: rejected.map((r) => r.error.code) });
});

app.get('/people/:id', (_req, res) => {
  const person = Person.fromJson({ id: 1 });
  const html: string = res.locals.imgTag(imageSet(person, 'picture'), { width: 100, alt: '' });
  // @ts-expect-error alt is required: the helper is typed, not any
  res.locals.imgTag(imageSet(person, 'picture'), { width: 100 });
  // @ts-expect-error a helper returns a string
  const notNumber: number = res.locals.srcset(imageSet(person, 'picture'));
  res.send(html + res.locals.pictureTag(imageSet(person, 'picture'), { alt: '' }) + notNumber);
});
