// The reader's models, which the page's config imports as ./models.js.
export { Product, User } from '../shared.js';
