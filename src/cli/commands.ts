// Registers the commands that live in their own modules.
import { registerCommand } from './main.js';
import { MODEL_COMMANDS } from './model-commands.js';
import { benchmarkTasksCommand } from '../benchmark/command.js';
import { DEMO_COMMAND } from './demo-command.js';
import { CONVERT_COMMAND } from './convert-command.js';

for (const c of MODEL_COMMANDS) registerCommand(c);
registerCommand(benchmarkTasksCommand);
registerCommand(DEMO_COMMAND);
registerCommand(CONVERT_COMMAND);
