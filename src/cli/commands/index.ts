/** Commands of the automation loop and the operator actions on runs, jobs, outputs and locks. */
import type { CommandFactory } from '../define.js';
import { automationCommand } from './automation.js';
import { loopsCommand } from './loops.js';
import { failuresCommand } from './failures.js';
import {
  jobCommand,
  jobsCommand,
  lockCommand,
  locksCommand,
  outputsCommand,
  reprocessCommand,
  resetCommand,
  unlockCommand,
} from './operations.js';

export const extraCommands: CommandFactory[] = [
  automationCommand,
  reprocessCommand,
  resetCommand,
  jobsCommand,
  jobCommand,
  outputsCommand,
  lockCommand,
  unlockCommand,
  locksCommand,
  loopsCommand,
  failuresCommand,
];
