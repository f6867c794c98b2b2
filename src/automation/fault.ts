/** The crash-test fault points of a pass (see util/fault.ts). */
export { fault } from '../util/fault.js';
