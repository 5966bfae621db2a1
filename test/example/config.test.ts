import assert from 'node:assert/strict';
import path from 'node:path';
import { settingsFromEnv } from '../../example/config.js';

describe('the example settings', function () {
  it('default to port 3000, SQLite and a folder under example/data', function () {
    assert.deepEqual(settingsFromEnv({}), {
      port: 3000,
      dataDir: path.resolve('example/data'),
      databaseUrl: undefined,
      s3: undefined,
      redisUrl: undefined,
      queueName: undefined,
    });
  });

  it('read PORT, DATA_DIR, DATABASE_URL, the S3 variables (S3_UPLOAD_METHOD too), REDIS_URL and THUMBNAIL_QUEUE', function () {
    const settings = settingsFromEnv({
      PORT: '8080',
      DATA_DIR: '/srv/gallery',
      DATABASE_URL: 'postgres://app@db/gallery',
      S3_BUCKET: 'pictures',
      S3_REGION: 'eu-west-1',
      S3_ENDPOINT: 'http://minio:9000',
      S3_PREFIX: 'example',
      S3_PUBLIC_URL: 'https://cdn.example.com/',
      S3_UPLOAD_METHOD: 'PUT',
      REDIS_URL: 'redis://redis:6379/1',
      THUMBNAIL_QUEUE: 'gallery-thumbnails',
    });
    assert.deepEqual(settings, {
      port: 8080,
      dataDir: '/srv/gallery',
      databaseUrl: 'postgres://app@db/gallery',
      s3: {
        bucket: 'pictures',
        region: 'eu-west-1',
        endpoint: 'http://minio:9000',
        prefix: 'example',
        publicBaseUrl: 'https://cdn.example.com/',
        uploadMethod: 'PUT',
      },
      redisUrl: 'redis://redis:6379/1',
      queueName: 'gallery-thumbnails',
    });
  });

  it('refuse a PORT that is no port number', function () {
    assert.throws(() => settingsFromEnv({ PORT: 'http' }), { message: 'PORT must be a port number (got http)' });
  });
});
