import assert from 'node:assert/strict';
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { thumbnailRoute } from '../../src/http/thumbnail-route.js';
import { forEachExpress } from './express-majors.js';

// The width is checked before anything is loaded: malformed queries never reach the database.
forEachExpress('thumbnailRoute() query checks', function (express) {
  let loads: number;

  function app(queryParser: 'simple' | 'extended'): ReturnType<typeof express> {
    const server = express();
    server.set('query parser', queryParser);
    server.get(
      '/pictures/:id',
      thumbnailRoute({
        widths: [100, 200],
        load: () => {
          loads++;
          return undefined;
        },
      }),
    );
    server.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
      res.status(error.statusCode ?? 500).json({ code: error.code, message: error.message });
    });
    return server;
  }

  beforeEach(() => (loads = 0));

  for (const parser of ['simple', 'extended'] as const) {
    it(`answers 400 to ?width[]=200 and ?width[0]=200 (${parser} query parser), loading nothing`, async function () {
      for (const query of ['width[]=200', 'width[0]=200', 'width=200&width=100']) {
        const res = await request(app(parser)).get(`/pictures/1?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.body.code, 'ERR_INVALID_ARGUMENT', query);
        assert.match(res.body.message, /^Expected one of 100, 200 for width but received /);
      }
      assert.equal(loads, 0);
    });
  }

  it('still takes a plain ?width=200', async function () {
    const res = await request(app('simple')).get('/pictures/1?width=200');
    assert.equal(res.status, 404);
    assert.equal(loads, 1);
  });
});
