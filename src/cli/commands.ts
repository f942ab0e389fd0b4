// Registers the commands that live in their own modules.
import { registerCommand } from './main.js';
import { MODEL_COMMANDS } from './model-commands.js';
import { benchmarkTasksCommand } from '../benchmark/command.js';
import { DEMO_COMMAND } from './demo-command.js';
import { EXPORT_COMMAND } from './export-command.js';

for (const c of MODEL_COMMANDS) registerCommand(c);
registerCommand(benchmarkTasksCommand);
registerCommand(DEMO_COMMAND);
registerCommand(EXPORT_COMMAND);
