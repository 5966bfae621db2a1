import type { Store } from 'objection-imageattach';

export { Product, User, UserPicture } from './shared.js';
export declare const oldStore: Store;
export declare const newStore: Store;
