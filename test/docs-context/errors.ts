export { app } from './shared.js';
