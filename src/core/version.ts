/** Package version reported in every result's meta (a test checks it equals package.json). */
export const VERSION = '0.1.0';
