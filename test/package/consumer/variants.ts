// The consumer's second program: named variants, a placeholder and signed URLs, as a user of the
// installed package declares and reads them (root entry only: no Express here).
import assert from 'node:assert/strict';
import path from 'node:path';
import { Model } from 'objection';
import {
  FileSystemStore,
  Image,
  imageAttachment,
  ImageOwner,
  imageSet,
  imageColumns,
  InvalidArgumentError,
  variantTables,
  type VariantOutput,
} from 'objection-imageattach';
import { directUpload } from 'objection-imageattach/browser';
import { JPEG_64x48, openWorkspace } from './database.js';

class MemberPicture extends Image(Model) {
  static override tableName = 'member_picture';
  static override idColumn = ['member_id', 'width', 'height'];
  declare member_id: number;
}

class Member extends ImageOwner(Model) {
  static override tableName = 'member';
  declare id: number;
  declare picture?: MemberPicture[];
  static override relationMappings = () => ({
    picture: imageAttachment(() => MemberPicture, {
      join: { from: 'member.id', to: 'member_picture.member_id' },
      variants: {
        avatar: {
          width: 32,
          height: 32,
          fit: 'cover',
          position: 'focal',
          densities: [1, 2],
          formats: ['webp', 'auto'],
        },
      },
      placeholder: 'thumbhash',
    }),
  });
}

const { dir, knex, close } = await openWorkspace('variants');
try {
  await knex.schema.createTable('member', (t) => t.increments('id'));
  await knex.schema.createTable('member_picture', (t) => {
    t.integer('member_id').notNullable().references('member.id').onDelete('CASCADE');
    imageColumns(t);
    t.primary(['member_id', 'width', 'height']);
  });
  await variantTables(knex, 'member_picture', (t) => {
    t.integer('member_id').notNullable().references('member.id').onDelete('CASCADE');
  });
  const store = new FileSystemStore({
    path: path.join(dir, 'images'),
    baseUrl: 'https://static.example.com/images/',
    signedUrls: { secrets: ['a-secret-of-32-characters-or-more!!'] },
  });

  const member = await Member.query().insertAndFetch({});
  await imageSet(member, 'picture').fromBlob(JPEG_64x48, { store });
  await imageSet(member, 'picture').setFocalPoint({ x: 0.25, y: 0.5 }, { store });

  const [loaded] = await Member.query().withGraphFetched('picture');
  const set = imageSet(loaded!, 'picture');
  assert.deepEqual(set.focalPoint, { x: 0.25, y: 0.5 });
  assert.match(set.placeholder?.dataUri ?? '', /^data:image\/webp;base64,/);
  const avatar = set.variant('avatar');
  assert.deepEqual(avatar.missing, []);
  const outputs: VariantOutput[] = avatar.outputs;
  assert.deepEqual(outputs.map((o) => `${o.descriptor} ${o.mimetype} ${o.width}x${o.height}`).sort(), [
    '1x image/jpeg 32x32',
    '1x image/webp 32x32',
    '2x image/jpeg 48x48',
    '2x image/webp 48x48',
  ]);
  assert.match(
    outputs[0]!.locate({ store }),
    /^https:\/\/static\.example\.com\/images\/[\w-]+\.avatar\.[0-9a-f]{12}\//,
  );
  assert.match(outputs[0]!.locate({ store }), /\?exp=\d+&sig=[\w-]{43}&_ts=\d{20}$/);
  assert.throws(() => set.variant('avtar'), InvalidArgumentError);
  assert.equal(typeof directUpload, 'function');
  console.log('consumer: variants, focal point, placeholder and signed URLs work from the installed package');
} finally {
  await close();
}
