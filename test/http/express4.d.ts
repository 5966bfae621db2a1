// The aliased Express 4 (devDependency `express4`), typed with Express 5's types: the tests use
// only what both majors share.
declare module 'express4' {
  import express from 'express';
  export default express;
}
