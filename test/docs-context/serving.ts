export { app, User } from './shared.js';
