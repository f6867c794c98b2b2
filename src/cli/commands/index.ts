/** Commands added by later features (automation, jobs, locks) register here. */
import type { CommandFactory } from '../define.js';

export const extraCommands: CommandFactory[] = [];
